// Tasks: the unit the scheduler runs. AssemblyScript has no capturing
// closures, so a task is an object whose `run` method is the work; its fields
// are the state the work needs between runs. A task runs to completion on the
// one kernel stack and is re-armed (spawned, slept, woken) rather than
// suspended, which leaves the loop a point with no task on the stack to
// collect garbage at (kernel/mem/gc.ts) and means a task object is
// allocated once by the app and reused for its whole life.
//
// Every link the scheduler needs (ready queue, wait queue, timer) lives inside
// the task, so making a task ready or putting it to sleep allocates nothing.

import { TimerId, NO_TIMER } from "./time";

export enum TaskState {
  /** Not known to any queue: never spawned, finished, or cancelled. */
  Idle,
  /** In the policy's ready queue. */
  Ready,
  /** Its `run` is on the stack right now. */
  Running,
  /** Waiting for its own timer (`sleep`). */
  Sleeping,
  /** Waiting on an `Event` (maybe with a timeout). */
  Waiting,
}

/** Why a task was last made ready; read it in `run`. */
export enum WakeReason {
  Spawn,
  Yield,
  Timer,
  Event,
  Timeout,
  Irq,
}

export abstract class Task {
  state: TaskState = TaskState.Idle;
  reason: WakeReason = WakeReason.Spawn;
  /** The deadline of the timer that last woke the task (lateness = now - firedAt). */
  firedAt: u64 = 0;
  /** Interrupt lines this run is servicing (bit n = line n); unmasked after `run`. */
  irqLines: u64 = 0;
  /** For PriorityPolicy: 0 is the most urgent, PRIORITY_LEVELS - 1 the least. */
  priority: i32 = 0;
  /** For EdfPolicy: the absolute time by which this run should happen. */
  deadline: u64 = 0;
  /** How many times `run` was called. */
  runs: u64 = 0;

  // Intrusive links: a task is in at most one queue (ready or an event's).
  _next: Task | null = null;
  _prev: Task | null = null;
  _sched: TaskScheduler | null = null;
  /** The task's own sleep/timeout timer (NO_TIMER when none). */
  _timer: TimerId = NO_TIMER;
  _event: Event | null = null;
  /** Position in a heap-based policy's array (EdfPolicy), -1 when not in one. */
  _pos: i32 = -1;
  /** Ready-queue insertion sequence, for deterministic tie-breaks. */
  _seq: u64 = 0;

  constructor(public name: string) {}

  /** The work. Returns when done; re-arm with `sleep`, `yield`, `waitOn` first. */
  abstract run(): void;

  /** The scheduler this task was spawned on (aborts if none). */
  get sched(): TaskScheduler {
    const s = this._sched;
    assert(s != null, "task used before it was spawned on a scheduler");
    return s!;
  }

  /** Runs again after `ns` nanoseconds. */
  sleep(ns: u64): void {
    this.sched.sleepFor(this, ns);
  }

  /** Runs again once the clock reaches `t`. */
  sleepUntil(t: u64): void {
    this.sched.sleepUntil(this, t);
  }

  /** Runs again after every task now ready has had its turn. */
  yield(): void {
    this.sched.wake(this, WakeReason.Yield);
  }

  /** Runs again when `ev` is signalled, or after `timeoutNs` (0: no timeout). */
  waitOn(ev: Event, timeoutNs: u64 = 0): void {
    this.sched.waitOn(this, ev, timeoutNs);
  }
}

/** A doubly linked list threaded through tasks' own links: O(1) everything. */
@final
export class TaskList {
  head: Task | null = null;
  tail: Task | null = null;
  length: i32 = 0;

  @inline push(t: Task): void {
    t._next = null;
    const tail = this.tail;
    t._prev = tail;
    if (tail) tail._next = t;
    else this.head = t;
    this.tail = t;
    this.length++;
  }

  @inline shift(): Task | null {
    const h = this.head;
    if (h) {
      const n = h._next;
      this.head = n;
      if (n) n._prev = null;
      else this.tail = null;
      h._next = null;
      this.length--;
    }
    return h;
  }

  remove(t: Task): void {
    const p = t._prev;
    const n = t._next;
    if (p) p._next = n;
    else this.head = n;
    if (n) n._prev = p;
    else this.tail = p;
    t._next = null;
    t._prev = null;
    this.length--;
  }
}

/**
 * The scheduler's API (after Unikraft's uksched / ukschedcoop split): what
 * tasks, events and apps call. The event loop (kernel/sched/loop.ts,
 * `Scheduler`) implements it; with this class here, tasks and events know
 * nothing of the loop, and the three do not import each other. Each call's
 * contract is on the implementation.
 */
export abstract class TaskScheduler {
  abstract spawn(task: Task): void;
  abstract wake(task: Task, reason: WakeReason = WakeReason.Spawn): void;
  abstract cancel(task: Task): void;
  abstract sleepFor(task: Task, ns: u64): void;
  abstract sleepUntil(task: Task, t: u64): void;
  abstract waitOn(task: Task, ev: Event, timeoutNs: u64 = 0): void;
  abstract after(task: Task, ns: u64): TimerId;
  abstract at(task: Task, t: u64): TimerId;
  abstract every(task: Task, period: u64, first: u64 = 0): TimerId;
  abstract cancelTimer(id: TimerId): bool;
  abstract onIrq(line: i32, task: Task): void;
  abstract offIrq(line: i32): void;
  abstract stop(): void;
  abstract run(): void;
}

// Events: a queue of tasks waiting for something another task, a timer or an
// interrupt handler will announce. Like a condition variable, an event has no
// memory: `signal` with nobody waiting does nothing. That is safe here because
// tasks run to completion on one stack: a task checks its condition and, if it
// must wait, calls `waitOn` before anyone else can run.
export class Event {
  /** Tasks waiting, in the order they started waiting. */
  readonly waiters: TaskList = new TaskList();

  constructor(readonly sched: TaskScheduler) {}

  /** Wakes the longest waiter. Returns whether there was one. */
  signal(): bool {
    const t = this.waiters.head;
    if (!t) return false;
    this.sched.wake(t, WakeReason.Event);
    return true;
  }

  /** Wakes every waiter, in waiting order. Returns how many. */
  broadcast(): i32 {
    let n = 0;
    while (this.signal()) n++;
    return n;
  }
}
