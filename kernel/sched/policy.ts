// Scheduling policies: which ready task runs next.
//
// As in Unikraft's uksched/ukschedcoop split, the loop (loop.ts) owns the
// mechanism: task states, timers, interrupts, sleeping, accounting. A policy
// only orders the ready set, through four calls. So an experiment swaps the
// policy object given to `new Scheduler(policy)` and changes nothing else.
//
// Contract for a policy:
// - `enqueue(t)`: t became ready. Called once per readiness; t is in no other
//   queue. Must not allocate on the GC heap (use the task's own fields).
// - `dequeue()`: removes and returns the task to run next, null when empty.
// - `remove(t)`: t (currently enqueued here) was cancelled or put to sleep.
// - `count`: tasks enqueued, kept exact by the implementation.
// Determinism: equal candidates must come out in a fixed order (FIFO by
// enqueue, say), never by address or hash.

import { Task, TaskList } from "./task";

export abstract class SchedPolicy {
  /** Tasks enqueued now. */
  count: i32 = 0;
  abstract name(): string;
  abstract enqueue(t: Task): void;
  abstract dequeue(): Task | null;
  abstract remove(t: Task): void;
}

/**
 * Round-robin FIFO, the default: tasks run in the order they became ready.
 * Starvation-free: a task that yields or is re-spawned goes behind every task
 * already waiting, so each ready task runs within one round of the queue.
 */
export class FifoPolicy extends SchedPolicy {
  private q: TaskList = new TaskList();

  name(): string {
    return "fifo";
  }
  enqueue(t: Task): void {
    this.q.push(t);
    this.count++;
  }
  dequeue(): Task | null {
    const t = this.q.shift();
    if (t) this.count--;
    return t;
  }
  remove(t: Task): void {
    this.q.remove(t);
    this.count--;
  }
}

export const PRIORITY_LEVELS: i32 = 32;

/**
 * Fixed priorities: the most urgent non-empty level (task.priority 0) runs
 * first, FIFO within a level. O(1): a bitmap of non-empty levels and a
 * count-trailing-zeros. Not starvation-free by design: a level that always
 * has ready work starves the levels below it, which is what an experiment on
 * priorities wants to see. Priorities outside 0..31 are clamped.
 */
export class PriorityPolicy extends SchedPolicy {
  private levels: StaticArray<TaskList> = new StaticArray<TaskList>(PRIORITY_LEVELS);
  private nonEmpty: u32 = 0;

  constructor() {
    super();
    for (let i = 0; i < PRIORITY_LEVELS; i++) unchecked((this.levels[i] = new TaskList()));
  }

  name(): string {
    return "priority";
  }

  @inline private static levelOf(t: Task): i32 {
    return min(max(t.priority, 0), PRIORITY_LEVELS - 1);
  }

  enqueue(t: Task): void {
    const l = PriorityPolicy.levelOf(t);
    t._pos = l; // remember the level: priority may change while enqueued
    unchecked(this.levels[l]).push(t);
    this.nonEmpty |= 1 << l;
    this.count++;
  }

  dequeue(): Task | null {
    if (this.nonEmpty == 0) return null;
    const l = <i32>ctz(this.nonEmpty);
    const q = unchecked(this.levels[l]);
    const t = q.shift()!;
    if (q.length == 0) this.nonEmpty &= ~(1 << l);
    t._pos = -1;
    this.count--;
    return t;
  }

  remove(t: Task): void {
    const l = t._pos;
    const q = unchecked(this.levels[l]);
    q.remove(t);
    if (q.length == 0) this.nonEmpty &= ~(1 << l);
    t._pos = -1;
    this.count--;
  }
}

/**
 * Earliest deadline first: the ready task with the smallest `task.deadline`
 * runs first; equal deadlines run in enqueue order. A binary heap of task
 * references, grown by doubling (never in steady state).
 */
export class EdfPolicy extends SchedPolicy {
  private heap: StaticArray<Task | null>;
  private seq: u64 = 0;

  constructor(capacity: i32 = 64) {
    super();
    this.heap = new StaticArray<Task | null>(max(capacity, 4));
  }

  name(): string {
    return "edf";
  }

  @inline private static before(a: Task, b: Task): bool {
    return a.deadline < b.deadline || (a.deadline == b.deadline && a._seq < b._seq);
  }

  enqueue(t: Task): void {
    if (this.count == this.heap.length) {
      const bigger = new StaticArray<Task | null>(this.count << 1);
      for (let i = 0; i < this.count; i++) unchecked((bigger[i] = this.heap[i]));
      this.heap = bigger;
    }
    t._seq = this.seq++;
    this.up(this.count++, t);
  }

  dequeue(): Task | null {
    if (this.count == 0) return null;
    const h = this.heap;
    const top = unchecked(h[0])!;
    const last = unchecked(h[--this.count])!;
    unchecked((h[this.count] = null));
    if (this.count > 0) this.down(0, last);
    top._pos = -1;
    return top;
  }

  remove(t: Task): void {
    const h = this.heap;
    const i = t._pos;
    const last = unchecked(h[--this.count])!;
    unchecked((h[this.count] = null));
    t._pos = -1;
    if (last === t) return;
    if (i > 0 && EdfPolicy.before(last, unchecked(h[(i - 1) >> 1])!)) this.up(i, last);
    else this.down(i, last);
  }

  private up(i: i32, t: Task): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = unchecked(h[p])!;
      if (!EdfPolicy.before(t, pt)) break;
      unchecked((h[i] = pt));
      pt._pos = i;
      i = p;
    }
    unchecked((h[i] = t));
    t._pos = i;
  }

  private down(i: i32, t: Task): void {
    const h = this.heap;
    const n = this.count;
    for (;;) {
      let c = (i << 1) + 1;
      if (c >= n) break;
      let ct = unchecked(h[c])!;
      if (c + 1 < n) {
        const rt = unchecked(h[c + 1])!;
        if (EdfPolicy.before(rt, ct)) {
          c++;
          ct = rt;
        }
      }
      if (!EdfPolicy.before(ct, t)) break;
      unchecked((h[i] = ct));
      ct._pos = i;
      i = c;
    }
    unchecked((h[i] = t));
    t._pos = i;
  }
}
