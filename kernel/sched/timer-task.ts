// The one adaptor between the scheduler and an object with deadlines (ARP
// retries, reassembly expiry, DHCP and DNS retransmissions): AssemblyScript
// has no closures, so a timer is a Task whose run() calls its owner. The
// owner type is a generic parameter, so any class with an
// `onTimer(task: Task): void` method can own one without extending anything
// (most owners already extend the handler class of the layer below).

import { Task } from "./task";
import { Scheduler } from "./loop";

export class TimerTask<T> extends Task {
  /** When the task is armed to run next (u64.MAX_VALUE: not armed by `armBy`). */
  private armedAt: u64 = u64.MAX_VALUE;

  constructor(sched: Scheduler, name: string, readonly owner: T) {
    super(name);
    this._sched = sched;
  }

  run(): void {
    this.armedAt = u64.MAX_VALUE;
    this.owner.onTimer(this);
  }

  /**
   * Makes sure the task runs by `t` (never later than an earlier arming):
   * for owners that keep several deadlines and sleep until the earliest.
   * Must not be called from the task's own run (use `sleepUntil` there).
   */
  armBy(t: u64): void {
    if (t >= this.armedAt) return;
    this.armedAt = t;
    this.sleepUntil(t);
  }

  /** Not armed any more: the task does not run until armed again (an owner that is done with it). */
  cancel(): void {
    this.armedAt = u64.MAX_VALUE;
    this.sched.cancel(this);
  }

  /** From the owner's onTimer: runs again at `t` (u64.MAX_VALUE: not until armed again). */
  rearm(t: u64): void {
    if (t == u64.MAX_VALUE) return;
    this.armedAt = t;
    this.sleepUntil(t);
  }
}
