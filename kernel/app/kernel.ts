// Kernel: the one scheduler of a level-1 app and the app's ways to end.
// `main` hands control over with `return Kernel.run()`; everything after
// that happens in callbacks and tasks. AssemblyScript has no closures, so
// delayed work is a Task object (`run` is the work).

import { println } from "../console";
import { cmdlineValue, parseWhole } from "../cmdline";
import { clock_ns, mem_limit } from "../hal";
import { Scheduler } from "../sched/loop";
import { Task } from "../sched/task";
import { GC_INTERVAL_NS } from "../mem/gc";

let theSched: Scheduler | null = null;
let exitCode: i32 = 0;
let exited: bool = false;
let running: bool = false;

export class Kernel {
  /**
   * The scheduler every level-1 part runs on (created on first use). It
   * collects garbage between task runs (kernel/mem/gc.ts): what an app keeps
   * is reachable from a global, its app object or a service, handler or task
   * it handed over, not from a local of `main` alone.
   */
  static get sched(): Scheduler {
    let s = theSched;
    if (s == null) {
      s = new Scheduler(null, 1024);
      s.gc.intervalNs = GC_INTERVAL_NS;
      theSched = s;
      longTaskThreshold(s);
    }
    return s;
  }

  /**
   * Runs the app until `exit`/`fail` (or until nothing can ever happen
   * again); returns the exit code for `main` to return. If `exit` or `fail`
   * came first (a bad argument, say), returns at once.
   */
  static run(): i32 {
    if (!exited) {
      running = true;
      Kernel.sched.run();
      running = false;
    }
    return exitCode;
  }

  /** Ends the app with `code` after the current callback returns. */
  static exit(code: i32 = 0): void {
    if (exited) return;
    exited = true;
    exitCode = code;
    if (running) Kernel.sched.stop();
  }

  /** Prints "error: <message>" and ends the app with `code` (non-zero). */
  static fail(message: string, code: i32 = 1): void {
    println("error: " + message);
    Kernel.exit(code != 0 ? code : 1);
  }

  /** Whether `exit` or `fail` was called. */
  static get exiting(): bool {
    return exited;
  }

  /** The exit code `run` will return. */
  static get code(): i32 {
    return exitCode;
  }

  /** Runs `task` once after `delayNs` nanoseconds (again: call `after` again, e.g. from its `run`). */
  static after(delayNs: u64, task: Task): void {
    Kernel.sched.sleepFor(task, delayNs);
  }

  /** Runs `task` as soon as the tasks ready now have had their turn. */
  static spawn(task: Task): void {
    Kernel.sched.spawn(task);
  }

  /** Bytes of RAM the platform gives linear memory (the machine's `--mem`, less the shim's share). */
  static get memoryLimit(): u64 {
    return mem_limit();
  }

  /** Nanoseconds on the monotonic clock since the machine started. */
  static now(): u64 {
    return clock_ns();
  }
}

/**
 * `long_task_us=<n>` on the command line: the scheduler reports task runs
 * longer than n microseconds (`sched: long task ...`; default 10 ms), so a
 * load test can look for shorter stalls. `long_task_report_ms=<n>`: at most
 * one such line per n ms (default 1000; 0: a line for every long run, which
 * is what a load test counting them wants).
 */
function longTaskThreshold(s: Scheduler): void {
  const v = cmdlineValue("long_task_us");
  if (v != null) {
    const n = parseWhole(v);
    if (n > 0 && n < 1_000_000_000) s.longTaskNs = n * 1000;
    else Kernel.fail("argument long_task_us=" + v + ": expected a whole number of microseconds 1..999999999", 2);
  }
  const r = cmdlineValue("long_task_report_ms");
  if (r != null) {
    const n = parseWhole(r);
    if (n < 1_000_000_000) s.longTaskReport.intervalNs = n * 1_000_000;
    else Kernel.fail("argument long_task_report_ms=" + r + ": expected a whole number of milliseconds 0..999999999", 2);
  }
}
