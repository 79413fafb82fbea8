// When the kernel's garbage is collected.
//
// Kernels are built with AssemblyScript's "minimal" runtime (tools/asc.ts):
// a two-colour mark-and-sweep collector that runs only when asked. It needs
// no shadow stack, which the incremental collector did: every function that
// held a GC reference spilled it to memory before each call, over 40% of a
// network kernel's code and a store on every such call. The price is where a
// collection may run: the collector marks from globals and pinned objects
// only, so it must run where no GC object is known to a wasm local alone.
// The scheduler's loop between task runs is such a point, once the loop has
// pinned its own scheduler (everything a task, a timer or an interrupt can
// reach hangs off it); that is where this runs (kernel/sched/loop.ts).
//
// What that asks of code: an object kept across task runs is reachable
// from a global or from the scheduler (a task's field, a service's table,
// ...). A local of `main` is not a root once the loop runs: an object main
// keeps only in a local and reads after `run` returns may be gone. Level 1
// (Kernel.run, kernel/app/kernel.ts) keeps the app object reachable and
// collects by default; a scheduler composed by hand (level 2) collects only
// when its `gc.intervalNs` is set, its kernel having checked its own roots.
//
// A collection walks every live object, so it runs at most every
// `intervalNs`, and sooner when linear memory has grown since the last one
// (garbage should be reused before the heap takes more of the machine).

import { clock_ns } from "../hal";

/** The interval level 1 collects at (Kernel.sched). */
export const GC_INTERVAL_NS: u64 = 100_000_000; // 100 ms

export class Collector {
  /** The most time between two collections; 0 (a new scheduler's default): never (explicit __collect() only). */
  intervalNs: u64 = 0;
  /** Collections run, and the time they took. */
  runs: u64 = 0;
  ns: u64 = 0;
  private last: u64 = 0;
  private pages: i32 = memory.size();

  /** Whether a collection is due at `now` (cheap: called once per loop turn). */
  @inline due(now: u64): bool {
    return this.intervalNs != 0 && (now - this.last >= this.intervalNs || memory.size() != this.pages);
  }

  /**
   * Collects now. Only where no GC object is referenced from a wasm local
   * alone (between task runs, with the scheduler pinned). `now` is the
   * clock at the call; returns the clock after it.
   */
  collect(now: u64): u64 {
    __collect();
    const end = clock_ns();
    this.runs++;
    this.ns += end - now;
    this.last = end;
    this.pages = memory.size();
    return end;
  }
}
