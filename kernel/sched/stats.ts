// Counters an operator or a researcher reads: how much ran, how much time
// went to sleeping versus working, and the worst latency offender. Plain
// fields, updated in place by the loop; an app reads `sched.stats` directly.

import { print, println, printU64, printFixed } from "../console";

@final
export class SchedStats {
  /** Task runs (calls to `run`). */
  tasksRun: u64 = 0;
  /** `spawn`/`wake` calls that made a task ready. */
  wakeups: u64 = 0;
  timersArmed: u64 = 0;
  timersFired: u64 = 0;
  timersCancelled: u64 = 0;
  /** Periods periodic timers skipped because the loop was late by whole periods. */
  timerOverruns: u64 = 0;
  /** Interrupt lines dispatched to a handler task. */
  irqs: u64 = 0;
  /** Lines that fired with no handler (left masked). */
  irqsUnhandled: u64 = 0;
  /** Calls to hal.wait() that slept (not the non-blocking interrupt polls). */
  waits: u64 = 0;
  /** Time inside hal.wait(). */
  idleNs: u64 = 0;
  /** Time inside tasks' `run`. */
  taskNs: u64 = 0;
  /** Time inside `Scheduler.run` in total: idle + tasks + the loop's own work. */
  loopNs: u64 = 0;
  /** The longest single run, and whose. */
  longestNs: u64 = 0;
  longestName: string = "";
  /** Runs longer than the scheduler's `longTaskNs`. */
  longTasks: u64 = 0;

  /** Time not spent idle. */
  get busyNs(): u64 {
    return this.loopNs - this.idleNs;
  }
}

/** Prints every counter, one per line, prefixed by "sched: ". */
export function printStats(s: SchedStats): void {
  line("tasks run", s.tasksRun);
  line("wakeups", s.wakeups);
  line("timers armed", s.timersArmed);
  line("timers fired", s.timersFired);
  line("timers cancelled", s.timersCancelled);
  line("timer overruns", s.timerOverruns);
  line("irqs", s.irqs);
  line("irqs unhandled", s.irqsUnhandled);
  line("waits", s.waits);
  us("time idle", s.idleNs);
  us("time busy", s.busyNs);
  us("time in tasks", s.taskNs);
  print("sched: longest task: ");
  print(s.longestName.length ? s.longestName : "-");
  print(" ");
  printFixed(s.longestNs, 1000, 3);
  println(" us");
  line("long tasks", s.longTasks);
}

function line(label: string, v: u64): void {
  print("sched: ");
  print(label);
  print(": ");
  printU64(v);
  println("");
}

function us(label: string, ns: u64): void {
  print("sched: ");
  print(label);
  print(": ");
  printFixed(ns, 1000, 3);
  println(" us");
}
