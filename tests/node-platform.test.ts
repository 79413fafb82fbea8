import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Machine } from "../host/machine.ts";
import { ROOT } from "../tools/paths.ts";
import { halImportNames } from "../tools/hal-contract.ts";
import { buildAppWasm, buildSourceWasm, runWasm } from "./helpers/kernel.ts";

describe("the Node platform", () => {
  it("runs apps/hello: banner, memory, boot time, exit 0", async () => {
    const wasm = await buildAppWasm(join(ROOT, "apps/hello"));
    const r = await runWasm(wasm, { memory: 16 << 20 });
    expect(r.exitCode).toBe(0);
    expect(r.output).toMatch(/^uniwasm hello: a WebAssembly kernel, up and running\n/);
    expect(r.output).toContain("memory: 16384 KiB for linear memory, 64 KiB in use\n");
    expect(r.output).toContain("boot to main: 0.000 ms\n");
    expect(r.output.endsWith("goodbye\n")).toBe(true);
  });

  it("implements exactly the imports kernel/hal.ts declares", () => {
    const m = new Machine({ console: () => {} });
    const provided = Object.keys(m.halImports()).sort();
    expect(provided).toEqual(halImportNames().sort());
  });

  it("reports a trap with the function that trapped and exit code 71", async () => {
    const wasm = await buildSourceWasm("oob", `
      export function main(): i32 { return checksum(0x7fff_fff0, 3); }
      // tree-recursive, so it stays a function of its own through optimisation
      function checksum(p: usize, n: i32): i32 {
        return n == 0 ? load<i32>(p) : checksum(p, n - 1) ^ checksum(p + 4, n - 2);
      }
    `);
    const r = await runWasm(wasm);
    expect(r.exitCode).toBe(71);
    expect(r.output).toContain("uniwasm: wasm trap: out of bounds memory access");
    expect(r.output).toMatch(/in .*checksum/);
  });

  it("reports an abort with message and location, exit code 70", async () => {
    const wasm = await buildSourceWasm("abort", `
      export function main(): i32 { assert(false, "the invariant broke"); return 0; }
    `);
    const r = await runWasm(wasm);
    expect(r.exitCode).toBe(70);
    expect(r.output).toMatch(/uniwasm: abort: the invariant broke at .*main\.ts:2:\d+/);
  });

  it("refuses a kernel whose initial memory exceeds the machine", async () => {
    const wasm = await buildAppWasm(join(ROOT, "apps/hello"));
    const r = await runWasm(wasm, { memory: 0 });
    expect(r.exitCode).toBe(73);
    expect(r.output).toMatch(/needs 64 KiB of linear memory at start but the machine has 0 KiB/);
  });

  it("stops a kernel that would sleep forever instead of hanging", async () => {
    const wasm = await buildSourceWasm("sleep-forever", `
      import { wait, NO_DEADLINE } from "../../../kernel/hal";
      export function main(): i32 { wait(NO_DEADLINE); return 0; }
    `);
    const r = await runWasm(wasm);
    expect(r.exitCode).toBe(73);
    expect(r.output).toContain("would sleep forever");
  });

  it("advances the virtual clock only through wait, to the deadline", async () => {
    const wasm = await buildSourceWasm("clock", `
      import { wait, clock_ns } from "../../../kernel/hal";
      export function main(): i32 {
        const t0 = clock_ns();
        const pending = wait(t0 + 5_000_000);
        return i32(clock_ns() - t0 == 5_000_000 && pending == 0);
      }
    `);
    expect((await runWasm(wasm)).exitCode).toBe(1);
  });

  it("delivers an interrupt raised by a timed event, masked until unmasked", async () => {
    const wasm = await buildSourceWasm("irq", `
      import { wait, clock_ns, irq_unmask } from "../../../kernel/hal";
      export function main(): i32 {
        const a = wait(1_000_000_000);     // event at 2 ms raises line 5
        if (a != (1 << 5) || clock_ns() != 2_000_000) return 10;
        const b = wait(clock_ns() + 10_000_000); // raised again at 3 ms, but masked
        if (b != 0) return 11;
        irq_unmask(5);                      // the latched one arrives now
        const c = wait(clock_ns());
        return c == (1 << 5) ? 1 : 12;
      }
    `);
    const m = new Machine({ console: () => {} });
    m.events.schedule(2_000_000n, () => m.raise(5));
    m.events.schedule(3_000_000n, () => m.raise(5));
    const r = await m.run(wasm);
    expect(r.exitCode).toBe(1);
  });
});
