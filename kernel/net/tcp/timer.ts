// The deadlines of one connection and the one scheduler timer that serves
// them (the shape of smoltcp's Timer, with every deadline kept at once).
//
// Each deadline is an absolute time, NEVER when off. One scheduler timer
// (the kernel's TimerTask adaptor) is armed at the earliest; moving a
// deadline later does not touch the timer queue: the timer fires early,
// finds nothing due and re-arms. So an ACK that restarts the RTO costs a
// store, not a heap operation. What happens when a deadline is due is
// timeouts.ts's business, reached through the owner (the socket).

import { Scheduler } from "../../sched/loop";
import { Task } from "../../sched/task";
import { TimerTask } from "../../sched/timer-task";

export const NEVER: u64 = u64.MAX_VALUE;

/** Hears the connection's timer (TcpSocket, which hands it to timeouts.ts). */
export abstract class TcpTimerOwner {
  abstract onTimer(task: Task): void;
}

export class TcpTimers {
  /** Retransmission (SYN, SYN-ACK, data, FIN). */
  rtoAt: u64 = NEVER;
  /** Delayed ACK. */
  delackAt: u64 = NEVER;
  /** Zero-window probe. */
  persistAt: u64 = NEVER;
  /** Keep-alive probe. */
  keepAt: u64 = NEVER;
  /** TIME-WAIT's end, FIN-WAIT-2's limit. */
  lingerAt: u64 = NEVER;
  private readonly task: TimerTask<TcpTimerOwner>;

  constructor(sched: Scheduler, owner: TcpTimerOwner) {
    this.task = new TimerTask<TcpTimerOwner>(sched, "tcp", owner);
  }

  /** The earliest deadline. */
  next(): u64 {
    let t = this.rtoAt;
    if (this.delackAt < t) t = this.delackAt;
    if (this.persistAt < t) t = this.persistAt;
    if (this.keepAt < t) t = this.keepAt;
    if (this.lingerAt < t) t = this.lingerAt;
    return t;
  }

  /** Arms the scheduler timer at the earliest deadline, if that moved earlier. */
  arm(): void {
    const t = this.next();
    if (t != NEVER) this.task.armBy(t);
  }

  /** Every deadline off, the scheduler timer cancelled. */
  disarm(): void {
    this.task.cancel();
    this.rtoAt = NEVER;
    this.delackAt = NEVER;
    this.persistAt = NEVER;
    this.keepAt = NEVER;
    this.lingerAt = NEVER;
  }
}
