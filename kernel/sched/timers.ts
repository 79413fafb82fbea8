// The timer queue: a 4-ary min-heap in manually managed memory.
//
// Why a heap and not a timing wheel: the loop is tickless. When idle it asks
// "when is the earliest deadline?" and sleeps in hal.wait() until exactly
// then, at the clock's full nanosecond resolution. A heap answers that in O(1)
// and keeps exact deadlines; a wheel answers it by scanning slots, and either
// rounds deadlines to its tick or pays for cascading between levels. The
// heap's O(log n) insert and cancel stay flat in practice: at 100,000 pending
// timers a 4-ary heap is 9 levels deep.
//
// Why 4-ary: half the depth of a binary heap, and the four children of a node
// are 4 x 16-byte entries that we align to one 64-byte cache line, so a
// sift-down step costs one line however many children it compares.
//
// Why entries carry the deadline: comparisons never leave the heap array.
// Ties are broken by an insertion sequence number, so timers due at the same
// instant fire in the order they were armed, on every run.
//
// Nothing here allocates per timer: slots are recycled through a free list
// and the arrays grow by doubling only when every slot is in use (pre-size
// them through the Scheduler's constructor to avoid even that).

import { Task } from "./task";
import { TimerId, NO_TIMER } from "./time";
import { NO_DEADLINE } from "../hal";

/**
 * A handle to an armed timer: generation << 32 | (slot + 1). The generation
 * changes when the slot is freed, so a stale handle cancels nothing.
 */
export { TimerId, NO_TIMER } from "./time";

// Heap entry: deadline u64 @0, seq u32 @8, slot u32 @12.
const ENTRY: usize = 16;
// Slot record: period u64 @0, heap position i32 @8 (-1: free), generation u32 @12, next free i32 @16.
const SLOT: usize = 24;
const LINE: usize = 64;

@final
export class TimerQueue {
  private raw: usize = 0; // the heap block as allocated
  private heap: usize = 0; // entry 0; entry 1 starts a cache line
  private slots: usize = 0;
  private tasks: StaticArray<Task | null>;
  private cap: i32 = 0;
  private n: i32 = 0; // entries in the heap
  private used: i32 = 0; // slots ever handed out
  private freeHead: i32 = -1;
  private seq: u32 = 0;

  /** The deadline of the timer `popDue` returned last (its scheduled time). */
  lastDeadline: u64 = 0;
  /** The handle of the timer `popDue` returned last. */
  lastId: TimerId = NO_TIMER;
  /** Periods a periodic timer skipped because the loop was later than a whole period. */
  overruns: u64 = 0;

  constructor(capacity: i32 = 64) {
    this.tasks = new StaticArray<Task | null>(0);
    this.grow(max(capacity, 4));
  }

  /** Timers armed and not yet fired or cancelled. */
  get size(): i32 {
    return this.n;
  }

  get capacity(): i32 {
    return this.cap;
  }

  /** The earliest deadline, or NO_DEADLINE when no timer is armed. */
  get next(): u64 {
    return this.n > 0 ? load<u64>(this.heap) : NO_DEADLINE;
  }

  /** Arms a timer that yields `task` at `deadline`, then every `period` ns if `period` > 0. */
  add(task: Task, deadline: u64, period: u64 = 0): TimerId {
    let slot = this.freeHead;
    if (slot >= 0) {
      this.freeHead = load<i32>(this.slotAt(slot), 16);
    } else {
      if (this.used == this.cap) this.grow(this.cap << 1);
      slot = this.used++;
      store<u32>(this.slotAt(slot), 1, 12); // generation starts at 1: no handle is 0
    }
    const s = this.slotAt(slot);
    store<u64>(s, period);
    unchecked((this.tasks[slot] = task));
    const i = this.n++;
    this.siftUp(i, deadline, this.seq++, <u32>slot);
    return (<u64>load<u32>(s, 12) << 32) | <u64>(slot + 1);
  }

  /** Disarms `id`. False if it already fired (one-shot), was cancelled, or never existed. */
  cancel(id: TimerId): bool {
    const slot = this.slotOf(id);
    if (slot < 0) return false;
    this.removeAt(load<i32>(this.slotAt(slot), 8));
    this.free(slot);
    return true;
  }

  /** Whether `id` is still armed. */
  isArmed(id: TimerId): bool {
    return this.slotOf(id) >= 0;
  }

  /** The next deadline of `id`, or NO_DEADLINE if it is not armed. */
  deadlineOf(id: TimerId): u64 {
    const slot = this.slotOf(id);
    return slot < 0 ? NO_DEADLINE : load<u64>(this.entryAt(load<i32>(this.slotAt(slot), 8)));
  }

  /**
   * Fires the earliest timer if it is due at `now`: returns its task (and sets
   * lastDeadline/lastId), or null when nothing is due. A one-shot timer is
   * freed; a periodic one is re-armed one period after its previous deadline,
   * never after `now`, so lateness in firing does not accumulate as drift.
   */
  popDue(now: u64): Task | null {
    if (this.n == 0) return null;
    const top = this.heap;
    const deadline = load<u64>(top);
    if (deadline > now) return null;
    const slot = <i32>load<u32>(top, 12);
    const s = this.slotAt(slot);
    const task = unchecked(this.tasks[slot]);
    this.lastDeadline = deadline;
    this.lastId = (<u64>load<u32>(s, 12) << 32) | <u64>(slot + 1);
    const period = load<u64>(s);
    if (period == 0) {
      this.removeAt(0);
      this.free(slot);
    } else {
      let next = deadline + period;
      if (next <= now) {
        // The loop missed whole periods: skip them rather than fire a burst.
        const missed = (now - next) / period + 1;
        this.overruns += missed;
        next += missed * period;
      }
      this.siftDown(0, next, this.seq++, <u32>slot);
    }
    return task;
  }

  // ---- internals ----

  @inline private entryAt(i: i32): usize {
    return this.heap + (<usize>i << 4);
  }

  @inline private slotAt(slot: i32): usize {
    return this.slots + <usize>slot * SLOT;
  }

  private slotOf(id: TimerId): i32 {
    const slot = <i32>(<u32>id) - 1;
    if (slot < 0 || slot >= this.used) return -1;
    const s = this.slotAt(slot);
    if (load<u32>(s, 12) != <u32>(id >> 32) || load<i32>(s, 8) < 0) return -1;
    return slot;
  }

  private free(slot: i32): void {
    const s = this.slotAt(slot);
    store<i32>(s, -1, 8);
    store<u32>(s, load<u32>(s, 12) + 1 || 1, 12);
    store<i32>(s, this.freeHead, 16);
    this.freeHead = slot;
    unchecked((this.tasks[slot] = null)); // do not keep a finished task alive
  }

  @inline private put(i: i32, deadline: u64, seq: u32, slot: u32): void {
    const e = this.entryAt(i);
    store<u64>(e, deadline);
    store<u32>(e, seq, 8);
    store<u32>(e, slot, 12);
    store<i32>(this.slotAt(<i32>slot), i, 8);
  }

  // Sequence numbers compare modulo 2^32, so wrap-around is harmless as long
  // as timers due at the same instant were armed fewer than 2^31 apart.
  @inline private static before(d1: u64, s1: u32, d2: u64, s2: u32): bool {
    return d1 < d2 || (d1 == d2 && <i32>(s1 - s2) < 0);
  }

  /** Places (deadline, seq, slot) at hole `i` or above it. */
  private siftUp(i: i32, deadline: u64, seq: u32, slot: u32): void {
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pe = this.entryAt(p);
      const pd = load<u64>(pe);
      if (!TimerQueue.before(deadline, seq, pd, load<u32>(pe, 8))) break;
      this.put(i, pd, load<u32>(pe, 8), load<u32>(pe, 12));
      i = p;
    }
    this.put(i, deadline, seq, slot);
  }

  /** Places (deadline, seq, slot) at hole `i` or below it. */
  private siftDown(i: i32, deadline: u64, seq: u32, slot: u32): void {
    const n = this.n;
    for (;;) {
      const c0 = (i << 2) + 1;
      if (c0 >= n) break;
      const cend = min(c0 + 4, n);
      let m = c0;
      let me = this.entryAt(c0);
      let md = load<u64>(me);
      let ms = load<u32>(me, 8);
      for (let c = c0 + 1; c < cend; c++) {
        const ce = this.entryAt(c);
        const cd = load<u64>(ce);
        const cs = load<u32>(ce, 8);
        if (TimerQueue.before(cd, cs, md, ms)) {
          m = c;
          me = ce;
          md = cd;
          ms = cs;
        }
      }
      if (!TimerQueue.before(md, ms, deadline, seq)) break;
      this.put(i, md, ms, load<u32>(me, 12));
      i = m;
    }
    this.put(i, deadline, seq, slot);
  }

  /** Removes the entry at heap index `i`, filling the hole with the last entry. */
  private removeAt(i: i32): void {
    const last = --this.n;
    if (i == last) return;
    const le = this.entryAt(last);
    const d = load<u64>(le);
    const s = load<u32>(le, 8);
    const slot = load<u32>(le, 12);
    const ie = this.entryAt(i);
    if (i > 0 && TimerQueue.before(d, s, load<u64>(ie), load<u32>(ie, 8))) this.siftUp(i, d, s, slot);
    else this.siftDown(i, d, s, slot);
  }

  /** Doubles (or sets) the capacity; the only allocation, and never per timer. */
  private grow(cap: i32): void {
    const raw = heap.alloc(<usize>cap * ENTRY + LINE + ENTRY);
    const h = ((raw + ENTRY + LINE - 1) & ~(LINE - 1)) - ENTRY;
    const slots = heap.alloc(<usize>cap * SLOT);
    const tasks = new StaticArray<Task | null>(cap);
    if (this.raw) {
      memory.copy(h, this.heap, <usize>this.n * ENTRY);
      memory.copy(slots, this.slots, <usize>this.used * SLOT);
      for (let i = 0; i < this.used; i++) unchecked((tasks[i] = this.tasks[i]));
      heap.free(this.raw);
      heap.free(this.slots);
    }
    this.raw = raw;
    this.heap = h;
    this.slots = slots;
    this.tasks = tasks;
    this.cap = cap;
  }
}
