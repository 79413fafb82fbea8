// A small machine under a stream of garbage (tests/kernels/gc-budget, Node
// platform, 2 MiB of linear memory): heapCanAlloc's yes is one the allocator
// keeps, and the collector runs when half the room has been allocated, so
// 125 MiB of garbage made with no time passing end without running out.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../tools/paths.ts";
import { buildAppWasm, runWasm } from "./helpers/kernel.ts";

describe("collection by allocation on a small machine", () => {
  it("fills memory only as far as heapCanAlloc says, and collects 125 MiB of garbage in 2 MiB", async () => {
    const limit = 2 << 20;
    const r = await runWasm(await buildAppWasm(join(ROOT, "tests/kernels/gc-budget")), { memory: limit });
    expect(r.exitCode, r.output).toBe(0);
    const kv = Object.fromEntries([...r.output.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
    expect(kv.limit).toBe(limit);
    expect(kv.whole).toBe(0);
    expect(kv.small).toBe(1);
    // 64 KiB blocks to within a few blocks of the limit (the kernel's own data and the allocator's headers)
    expect(kv.filled).toBeGreaterThan(limit - 8 * 65536);
    expect(kv.budget_collections).toBeGreaterThan(10);
    expect(kv.linear).toBeLessThanOrEqual(limit);
  });
});
