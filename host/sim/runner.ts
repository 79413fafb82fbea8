// Driving a world of kernels from a program that must stay responsive
// (signals, host sockets): the run goes in slices, and Node's event loop
// turns between them.
//
// - virtual time: slices of at most ~50 ms of wall time; the clock jumps over
//   idle waits as in World.run, so the run is the same run as without slices.
// - real time: virtual time follows the wall clock (host connections forwarded
//   into the simulation need it): the world runs up to "now", then sleeps until
//   its next deadline or until host activity wakes it (poke()).

import type { World as KernelWorld } from "../world.ts";

export type StopReason = "ended" | "until" | "stopped";

const SLICE_MS = 50;
const MAX_SLEEP_MS = 1000;

export class WorldRunner {
  private stopped = false;
  private wake?: () => void;

  constructor(
    readonly world: KernelWorld,
    readonly clock: "virtual" | "real",
  ) {}

  /** Ends the run at the next slice (a signal, say). */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** Something outside scheduled work now (a host connection): a sleeping real-time run looks again. */
  poke(): void {
    this.wake?.();
  }

  /** Runs until every kernel ended, virtual time `untilNs`, or stop(). */
  async run(untilNs?: bigint): Promise<StopReason> {
    return this.clock === "virtual" ? this.runVirtual(untilNs) : this.runReal(untilNs);
  }

  private async runVirtual(untilNs?: bigint): Promise<StopReason> {
    for (;;) {
      if (this.stopped) return "stopped";
      const sliceEnd = performance.now() + SLICE_MS;
      let n = 0;
      this.world.run({ until: untilNs, pause: () => (++n & 255) === 0 && performance.now() > sliceEnd });
      if (!this.world.running) return "ended";
      if (untilNs !== undefined && this.world.clock.peek() >= untilNs) return "until";
      await new Promise((r) => setImmediate(r));
    }
  }

  private async runReal(untilNs?: bigint): Promise<StopReason> {
    const origin = process.hrtime.bigint() - this.world.clock.peek();
    for (;;) {
      if (this.stopped) return "stopped";
      let now = process.hrtime.bigint() - origin;
      if (untilNs !== undefined && now > untilNs) now = untilNs;
      this.world.run({ until: now });
      if (!this.world.running) return "ended";
      if (untilNs !== undefined && now >= untilNs) return "until";
      const next = this.world.nextAt;
      const aheadNs = next === undefined ? BigInt(MAX_SLEEP_MS) * 1_000_000n : next - (process.hrtime.bigint() - origin);
      const ms = Math.max(0, Math.min(MAX_SLEEP_MS, Number(aheadNs) / 1e6));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}
