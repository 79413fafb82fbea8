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
// (garbage should be reused before the heap takes more of the machine) or
// when the allocator has handed out half of the room left after the last
// one. That last rule is what a small machine lives on: the collector
// cannot run inside an allocation (no shadow stack), so garbage made
// between two collections must fit in what is free; a server accepting
// thousands of connections a second makes megabytes of it (a TCB, a socket
// and a timer per connection) in 100 ms, more than a 4 MiB machine has.
// The allocator counts its requests into `gcAllocated`: the image
// pipeline's Binaryen stage adds each request's size to it
// (tools/wasm-build.ts); a wasm built otherwise leaves it at 0 and
// collects by time and growth only.

import { clock_ns, mem_limit } from "../hal";
import { HeapUsage, heapUsage } from "./heap";

/** Bytes the allocator was asked for since the last collection (see above; the name is the pipeline's contract). */
export let gcAllocated: usize = 0;

/** Bytes free (in the heap, and for linear memory to grow into) when the last collection ended; no bound before the first (a kernel that never collects is not bounded by this). */
let roomAfterCollection: u64 = u64.MAX_VALUE;

/**
 * A cheap upper bound on what the heap can still give: the room the last
 * collection left, less everything allocated since (some of which may be
 * garbage already, so the truth may be more). Code that may refuse work
 * (a listener, a new connection) keeps this above a reserve, so that the
 * allocations nobody can refuse (a table's growth, a timer, the reply
 * being built) find memory until the next collection.
 */
export function heapRoom(): u64 {
  const a = <u64>gcAllocated;
  return roomAfterCollection > a ? roomAfterCollection - a : 0;
}

/** Least allocation between two collections, however little room is left: a collection per loop turn at worst. */
const MIN_BUDGET: u64 = 16 * 1024;
/** With this much room to grow linear memory, the heap is not walked for its free bytes. */
const WALK_BELOW: u64 = 32 << 20;

/** The interval level 1 collects at (Kernel.sched). */
export const GC_INTERVAL_NS: u64 = 100_000_000; // 100 ms

export class Collector {
  /** The most time between two collections; 0 (a new scheduler's default): never (explicit __collect() only). */
  intervalNs: u64 = 0;
  /** Collections run, and the time they took. */
  runs: u64 = 0;
  ns: u64 = 0;
  /** Collections run because the allocation budget was spent (a subset of `runs`). */
  budgetRuns: u64 = 0;
  /** Bytes of allocation that make the next collection due: half of what was free (and could still be grown into) after the last. */
  budget: u64 = growRoom() / 2;
  private last: u64 = 0;
  private pages: i32 = memory.size();
  private readonly usage: HeapUsage = new HeapUsage();

  /** Whether a collection is due at `now` (cheap: called once per loop turn). */
  @inline due(now: u64): bool {
    return this.intervalNs != 0 && (now - this.last >= this.intervalNs || memory.size() != this.pages || <u64>gcAllocated >= this.budget);
  }

  /**
   * Collects now. Only where no GC object is referenced from a wasm local
   * alone (between task runs, with the scheduler pinned). `now` is the
   * clock at the call; returns the clock after it.
   */
  collect(now: u64): u64 {
    const counted = gcAllocated;
    if (<u64>counted >= this.budget) this.budgetRuns++;
    __collect();
    gcAllocated -= counted; // what was allocated before this collection: all of it, the collector allocates nothing
    this.budget = this.budgetNow();
    const end = clock_ns();
    this.runs++;
    this.ns += end - now;
    this.last = end;
    this.pages = memory.size();
    return end;
  }

  /** Half of the room for allocation now: linear memory not yet grown into, and the heap's free blocks when that is small. */
  private budgetNow(): u64 {
    let room = growRoom();
    if (room < WALK_BELOW) {
      const u = heapUsage(this.usage);
      if (u.valid) room += u.freeBytes;
    }
    roomAfterCollection = room;
    return max<u64>(MIN_BUDGET, room / 2);
  }
}

/** Bytes linear memory may still grow by. */
function growRoom(): u64 {
  const size = <u64>memory.size() << 16;
  const lim = mem_limit();
  return lim > size ? lim - size : 0;
}
