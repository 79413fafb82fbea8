// Time on the Node platform. The virtual clock only moves when the kernel
// waits (or a test moves it), which makes every run reproducible; the real
// clock follows the host's monotonic time, for running apps interactively.

export interface Clock {
  /** Nanoseconds since the machine was created (a kernel's read). */
  now(): bigint;
  /** The same time, read by the platform itself: never counted as a kernel read. */
  peek(): bigint;
  /** Blocks (real) or jumps (virtual) until `t`; never moves backwards. */
  sleepUntil(t: bigint): void;
}

export class VirtualClock implements Clock {
  private t = 0n;
  /** Added to the clock on every read, to model the cost of running code. */
  constructor(private readonly readCostNs = 0n) {}
  now(): bigint {
    this.t += this.readCostNs;
    return this.t;
  }
  peek(): bigint {
    return this.t;
  }
  sleepUntil(t: bigint): void {
    if (t > this.t) this.t = t;
  }
  /** Moves time forward by `ns` (tests drive the clock with this). */
  advance(ns: bigint): void {
    this.t += ns;
  }
}

export class RealClock implements Clock {
  private readonly origin = process.hrtime.bigint();
  private readonly cell = new Int32Array(new SharedArrayBuffer(4));
  now(): bigint {
    return process.hrtime.bigint() - this.origin;
  }
  peek(): bigint {
    return this.now();
  }
  sleepUntil(t: bigint): void {
    for (;;) {
      const left = t - this.now();
      if (left <= 0n) return;
      Atomics.wait(this.cell, 0, 0, Math.max(1, Number(left / 1_000_000n)));
    }
  }
}
