// Events: a queue of tasks waiting for something another task, a timer or an
// interrupt handler will announce. Like a condition variable, an event has no
// memory: `signal` with nobody waiting does nothing. That is safe here because
// tasks run to completion on one stack: a task checks its condition and, if it
// must wait, calls `waitOn` before anyone else can run.

import { Task, TaskList, WakeReason } from "./task";
import { Scheduler } from "./loop";

export class Event {
  /** Tasks waiting, in the order they started waiting. */
  readonly waiters: TaskList = new TaskList();

  constructor(readonly sched: Scheduler) {}

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
