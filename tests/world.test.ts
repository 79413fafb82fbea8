// Several kernels on one virtual clock: each runs its simulation build as a
// coroutine that yields in wait(), and the World interleaves them by time.
import { describe, expect, it } from "vitest";
import { World } from "../host/world.ts";
import { buildSourceSimWasm, buildSourceWasm, runWasm } from "./helpers/kernel.ts";

// Sleeps `period` ms `count` times, printing the virtual time at each wake-up;
// its name and timing come from the command line ("name period count").
const SLEEPER = `
  import { clock_ns, wait, cmdline, console_write } from "../../../kernel/hal";
  import { print, println, printU64 } from "../../../kernel/console";
  const buf = memory.data(64);
  function arg(i: i32): u64 {             // the i-th number on the command line
    const n = cmdline(buf, 64);
    let field = 0, v: u64 = 0;
    for (let k: u32 = 0; k < n; k++) {
      const c = load<u8>(buf + k);
      if (c == 32) { if (field == i) return v; field++; v = 0; }
      else if (c >= 48 && c <= 57) v = v * 10 + (c - 48);
    }
    return v;
  }
  export function main(): i32 {
    const period = arg(1) * 1_000_000, count = <i32>arg(2);
    let next = clock_ns();
    for (let i = 0; i < count; i++) {
      next += period;
      while (clock_ns() < next) wait(next);
      console_write(buf, 1);              // the name: the command line's first byte
      print(" ");
      printU64(clock_ns() / 1_000_000);
      println("");
    }
    return <i32>arg(3);
  }
`;

describe("a World of kernels", () => {
  it("interleaves two kernels by virtual time, deterministically", async () => {
    const wasm = await buildSourceSimWasm("world-sleeper", SLEEPER);
    const runOnce = async () => {
      const world = new World();
      let log = "";
      const a = world.machine({ cmdline: "A 3 3 5 ", console: (t) => (log += t) });
      const b = world.machine({ cmdline: "B 2 4 6 ", console: (t) => (log += t) });
      await world.boot(a, wasm);
      await world.boot(b, wasm);
      const results = world.run();
      return { log, codes: results.map((r) => r?.exitCode) };
    };
    const first = await runOnce();
    // A wakes at 3, 6, 9 ms; B at 2, 4, 6, 8 ms; at 6 ms A runs first (added first)
    expect(first.log).toBe("B 2\nA 3\nB 4\nA 6\nB 6\nB 8\nA 9\n");
    expect(first.codes).toEqual([5, 6]);
    expect(await runOnce()).toEqual(first);
  });

  it("wakes a kernel waiting without a deadline when an event raises its line", async () => {
    const wasm = await buildSourceSimWasm("world-irq", `
      import { wait, clock_ns, NO_DEADLINE } from "../../../kernel/hal";
      export function main(): i32 {
        const lines = wait(NO_DEADLINE);
        return lines == (1 << 3) && clock_ns() == 7_000_000 ? 0 : 1;
      }
    `);
    const world = new World();
    const m = world.machine({ console: () => {} });
    world.events.schedule(7_000_000n, () => m.raise(3));
    await world.boot(m, wasm);
    expect(world.run()[0]?.exitCode).toBe(0);
  });

  it("ends a kernel that nothing can ever wake, with a report", async () => {
    const wasm = await buildSourceSimWasm("world-forever", `
      import { wait, NO_DEADLINE } from "../../../kernel/hal";
      export function main(): i32 { wait(NO_DEADLINE); return 0; }
    `);
    const world = new World();
    const m = world.machine({ console: () => {} });
    await world.boot(m, wasm);
    const [r] = world.run();
    expect(r?.exitCode).toBe(73);
    expect(r?.output).toContain("would sleep forever");
  });

  it("stops at a time limit and reports traps from a resumed kernel", async () => {
    const wasm = await buildSourceSimWasm("world-trap", `
      import { wait, clock_ns } from "../../../kernel/hal";
      export function main(): i32 {
        wait(clock_ns() + 1_000_000);
        return load<i32>(0x7fff_fff0);
      }
    `);
    const world = new World();
    const m = world.machine({ console: () => {} });
    await world.boot(m, wasm);
    expect(world.run({ until: 500_000n })[0]).toBeUndefined();
    expect(world.clock.peek()).toBe(500_000n);
    const [r] = world.run();
    expect(r?.exitCode).toBe(71);
    expect(r?.output).toContain("wasm trap: out of bounds memory access");
  });

  it("says so when a kernel's call chain into wait() outgrows the saved-stack area", async () => {
    const wasm = await buildSourceSimWasm("world-deep", `
      import { wait, clock_ns } from "../../../kernel/hal";
      // every frame keeps live values across the call, so each one is saved
      function deep(n: i32, a: i64, b: i64, c: i64): i64 {
        if (n == 0) { wait(clock_ns() + 1000); return a; }
        return deep(n - 1, a + b, b ^ c, c + <i64>n) + a * b - c;
      }
      export function main(): i32 { return <i32>deep(1000, 1, 2, 3); }
    `);
    const world = new World();
    const m = world.machine({ console: () => {} });
    await world.boot(m, wasm);
    const [r] = world.run();
    expect(r?.exitCode).toBe(73);
    expect(r?.output).toContain("does not fit the simulation build's saved-stack area");
  });

  it("runs the scheduler's kernels unchanged: the same output as alone", async () => {
    const src = `
      import { Scheduler, Task } from "../../../kernel/sched";
      import { println, printU64, print } from "../../../kernel/console";
      import { clock_ns } from "../../../kernel/hal";
      class Tick extends Task {
        n: i32 = 0;
        run(): void {
          print("tick "); printU64(clock_ns() / 1000); println(" us");
          if (++this.n < 5) this.sleep(250_000);
        }
      }
      export function main(): i32 {
        const s = new Scheduler();
        s.spawn(new Tick("tick"));
        s.run();
        return 0;
      }
    `;
    const alone = await runWasm(await buildSourceWasm("world-sched", src));
    const world = new World();
    let out = "";
    const m = world.machine({ console: (t) => (out += t) });
    await world.boot(m, await buildSourceSimWasm("world-sched", src));
    expect(world.run()[0]?.exitCode).toBe(0);
    expect(out).toBe(alone.output);
    expect(out).toContain("tick 1000 us\n");
  });
});
