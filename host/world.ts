// Several kernels on one virtual clock: the simulated world of a network test.
//
// Each machine runs its kernel's simulation build as a coroutine (see
// Machine.startCoroutine): it runs until it waits, and the World decides who
// runs next. Everything happens in a fixed order — machines by the order they
// were added, events by time and then by scheduling order — so a run with the
// same seeds is the same run, every time.

import { VirtualClock } from "./clock.ts";
import { EventQueue } from "./events.ts";
import { Machine, type MachineOptions, type RunResult } from "./machine.ts";

const NEVER = 0xffff_ffff_ffff_ffffn;

export interface WorldRunOptions {
  /** Stop when the clock would pass this time (ns); kernels still running are left as they are. */
  until?: bigint;
  /**
   * Asked between steps: true stops the run where it is, to be continued by
   * another run() (a caller that must keep Node's event loop turning: signals,
   * sockets). Virtual time is unaffected.
   */
  pause?: () => boolean;
}

export class World {
  readonly clock: VirtualClock;
  readonly events = new EventQueue();
  private readonly machines: Machine[] = [];

  constructor(clock: VirtualClock = new VirtualClock()) {
    this.clock = clock;
  }

  /** A machine on this world's clock and event queue. */
  machine(opts: Omit<MachineOptions, "clock" | "events"> = {}): Machine {
    const m = new Machine({ ...opts, clock: this.clock, events: this.events });
    this.machines.push(m);
    return m;
  }

  /** Boots `wasm` (a simulation build) on `m`, running it up to its first wait. */
  async boot(m: Machine, wasm: Uint8Array): Promise<void> {
    if (!this.machines.includes(m)) throw new Error("that machine belongs to another world");
    await m.startCoroutine(wasm);
  }

  /** True while some kernel has not ended. */
  get running(): boolean {
    return this.machines.some((m) => m.wakeAt !== undefined);
  }

  /** When something next happens: the earliest kernel wake-up or event (ns), if any. */
  get nextAt(): bigint | undefined {
    let t = this.events.peek();
    for (const m of this.machines) {
      const w = m.wakeAt;
      if (w !== undefined && (t === undefined || w < t)) t = w;
    }
    return t;
  }

  /**
   * Runs the world until every kernel has ended (or `until`). Returns each
   * machine's result, in the order the machines were added; a kernel still
   * running at `until` has none.
   */
  run(opts: WorldRunOptions = {}): (RunResult | undefined)[] {
    for (;;) {
      if (opts.pause?.()) break;
      const now = this.clock.peek();
      // one pass: resume whoever is due; otherwise learn the earliest wake-up
      // (no allocation here: this runs once per event of the whole world)
      let ran = false;
      let waiting = false;
      let nextWake = NEVER;
      for (const m of this.machines) {
        const at = m.wakeAt;
        if (at === undefined) continue;
        if (at <= now) {
          m.resume();
          ran = true;
        } else {
          waiting = true;
          if (at < nextWake) nextWake = at;
        }
      }
      if (ran) continue;
      if (!waiting) break;
      const nextEvent = this.events.peek();
      const next = nextEvent !== undefined && nextEvent <= nextWake ? nextEvent : nextWake;
      if (opts.until !== undefined && next > opts.until) {
        this.clock.sleepUntil(opts.until);
        break;
      }
      if (nextEvent !== undefined && nextEvent <= nextWake) {
        const e = this.events.pop()!;
        this.clock.sleepUntil(e.at);
        e.run();
        continue;
      }
      if (nextWake === NEVER) {
        // nothing scheduled and nobody has a deadline: no one can ever wake
        for (const m of this.machines) if (m.wakeAt !== undefined) m.abandon("wait() without a deadline, and nothing in the simulated world can raise an interrupt: the kernel would sleep forever");
        break;
      }
      this.clock.sleepUntil(nextWake);
    }
    return this.machines.map((m) => m.result);
  }
}
