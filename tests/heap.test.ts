// kernel/mem/heap.ts: the allocator walk behind leak tests and memory reports
// follows allocations and frees, and its figures add up to linear memory.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../tools/paths.ts";
import { buildAppWasm, runWasm } from "./helpers/kernel.ts";

describe("heap usage", () => {
  it("follows heap.alloc, heap.free and GC objects, and stays within linear memory", async () => {
    const r = await runWasm(await buildAppWasm(join(ROOT, "tests/kernels/heap")));
    expect(r.exitCode).toBe(0);
    const step: Record<string, Record<string, number>> = {};
    for (const m of r.output.matchAll(/^(\w+) (.*)$/gm)) {
      const kv = Object.fromEntries([...m[2].matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1], Number(x[2])]));
      if ("valid" in kv) step[m[1]] = kv;
    }
    for (const s of ["start", "alloc100000", "free", "gc100x1000"]) {
      expect(step[s]?.valid, s).toBe(1);
      expect(step[s].used + step[s].free, s).toBeLessThan(step[s].linear);
    }
    // Each report's own strings are garbage the collector has not taken yet:
    // up to a few KiB between two steps.
    const slack = 8192;
    expect(step.alloc100000.used - step.start.used).toBeGreaterThanOrEqual(100000);
    expect(step.alloc100000.used - step.free.used).toBeGreaterThanOrEqual(100000 - slack);
    expect(step.gc100x1000.used - step.free.used).toBeGreaterThanOrEqual(100 * 1000);
    expect(step.gc100x1000.usedBlocks).toBeGreaterThanOrEqual(100);
  });
});
