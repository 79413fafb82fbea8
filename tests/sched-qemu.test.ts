// The scheduler on QEMU (x86_64 and aarch64 images, TCG): an app that sleeps in a loop and
// reports its wake-up lateness, and a long run driven by the timer interrupt.
// Skipped, with a message, when QEMU or clang is not installed.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { boot } from "../tools/qemu.ts";
import { type Arch } from "../tools/arch.ts";
import { TEST_ARCHES } from "./helpers/arches.ts";
import { buildAppWasm, runWasm } from "./helpers/kernel.ts";

const quiet = { stage: () => {}, info: () => {} };

async function bootApp(arch: Arch, name: string) {
  const app = loadApp(join(ROOT, "tests/kernels", name));
  const img = await buildImage(app, { arch, outDir: join(ROOT, "build", "test-qemu", arch, name) }, quiet);
  const r = await boot({ arch, image: img.image, timeout: 120, onOutput: () => {} });
  // tools/qemu.ts turns \r\n into \n per chunk, so a pair split across two chunks survives
  return { ...r, output: r.output.replace(/\r/g, "") };
}

describe.each(TEST_ARCHES)("scheduler on QEMU $arch", (a) => {
  if (!a.available) {
    it.skip(`needs qemu for ${a.arch} and clang`, () => {});
    return;
  }
  it("tests/kernels/sleep-lateness: 200 sleeps, never early, lateness reported", async () => {
    const r = await bootApp(a.arch, "sleep-lateness");
    expect(r.reason, r.output).toBeUndefined();
    expect(r.exitCode, r.output).toBe(0);
    expect(r.output).toContain("sleep-lateness: 200 sleeps of 1-5 ms");
    const m = /median (\d+\.\d) us, p90 (\d+\.\d) us, max (\d+\.\d) us/.exec(r.output);
    expect(m).not.toBeNull();
    const [median, , max] = m!.slice(1).map(Number);
    expect(median).toBeLessThanOrEqual(max);
    expect(r.output).toContain("sched: timers fired: 200\n");
    expect(r.output).toContain("sleep-lateness: ok\n");
  }, 180_000);

  it("tests/kernels/tick-long: 3 s of 10 ms ticks, every tick on the grid and accounted for", async () => {
    const r = await bootApp(a.arch, "tick-long");
    expect(r.reason, r.output).toBeUndefined();
    expect(r.exitCode, r.output).toBe(0);
    // a tick may be skipped only when the host stalls QEMU for more than a period, and
    // then it is counted as an overrun: ran + skipped is every tick, all on the grid
    const m = /tick-long: (\d+) of 300 ticks ran, skipped (\d+) \(overruns (\d+)\), off grid 0, lateness mean [\d.]+ us max [\d.]+ us\n/.exec(r.output);
    expect(m, r.output).not.toBeNull();
    expect(Number(m![1]) + Number(m![2])).toBe(300);
    expect(m![2]).toBe(m![3]);
    expect(r.output).toContain("tick-long: ok\n");
  }, 180_000);
});

describe("scheduler apps on the Node platform", () => {
  it("tests/kernels/sleep-lateness runs with zero lateness on the virtual clock", async () => {
    const r = await runWasm(await buildAppWasm(join(ROOT, "tests/kernels/sleep-lateness")));
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain("sleep-lateness: 200 sleeps of 1-5 ms in 600.0 ms\n");
    expect(r.output).toContain("sleep-lateness: median 0.0 us, p90 0.0 us, max 0.0 us, min 0.0 us\n");
  });

  it("tests/kernels/tick-long runs 300 ticks on the virtual clock", async () => {
    const r = await runWasm(await buildAppWasm(join(ROOT, "tests/kernels/tick-long")));
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain("tick-long: 300 of 300 ticks ran, skipped 0 (overruns 0), off grid 0, lateness mean 0.0 us max 0.0 us\n");
  });

  it("tests/kernels/sched-stats prints every counter", async () => {
    const r = await runWasm(await buildAppWasm(join(ROOT, "tests/kernels/sched-stats")));
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain("sched-stats: policy fifo\n");
    for (const c of ["tasks run", "timers fired", "time idle", "time busy", "longest task", "long tasks"]) expect(r.output).toContain(`sched: ${c}: `);
  });
});
