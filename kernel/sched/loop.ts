// The scheduler and its event loop.
//
// One loop on one stack: fire the timers that are due, run the tasks that are
// ready, and when nothing is ready sleep in hal.wait() until the earliest
// deadline or an interrupt. It never spins while idle: the only way it waits
// is hal.wait(), and it returns when no work can ever arrive (nothing ready,
// no timer armed, no interrupt handler registered).
//
// Ready tasks run in batches: the tasks ready when a batch starts each run
// once, then timers and interrupts get a look-in before the next batch. So a
// task that keeps yielding cannot delay a due timer by more than one batch,
// and one that re-spawns itself goes behind every other ready task.
//
// Between task runs the loop is also where garbage is collected, when its
// `gc.intervalNs` is set (kernel/mem/gc.ts: level 1 sets it): no task is on
// the stack then, and the loop pins its scheduler for the run, so every
// object a task, timer or interrupt handler can reach is marked from it.

import { clock_ns, wait, irq_unmask, stop_line, NO_DEADLINE } from "../hal";
import { LongTaskReport } from "./long-tasks";
import { traceEvent, TRACE_TIMER } from "../trace";
import { Task, TaskState, WakeReason, TaskScheduler } from "./task";
import { SchedPolicy, FifoPolicy } from "./policy";
import { TimerQueue, TimerId, NO_TIMER } from "./timers";
import { IrqTable } from "./irq";
import { Event } from "./event";
import { SchedStats } from "./stats";
import { MS } from "./time";
import { StopHandler, ExitOnStop } from "./stop";
import { Collector } from "../mem/gc";

/** Runs the scheduler's StopHandler (kernel/sched/stop.ts) once per stop request. */
class StopTask extends Task {
  handler: StopHandler = new ExitOnStop();
  requests: u32 = 0;
  constructor() {
    super("stop-request");
  }
  run(): void {
    this.requests++;
    this.handler.onStopRequest(this.requests);
  }
}

export class Scheduler extends TaskScheduler {
  readonly policy: SchedPolicy;
  readonly timers: TimerQueue;
  readonly irqs: IrqTable = new IrqTable();
  readonly stats: SchedStats = new SchedStats();
  /** When garbage is collected between task runs (`gc.intervalNs`, 0 by default: never). */
  readonly gc: Collector = new Collector();
  /** A run longer than this is reported on the console and counted. */
  longTaskNs: u64 = 10 * MS;
  /** Whether long runs are printed (they are counted either way). */
  reportLongTasks: bool = true;
  /** How long runs are printed: the first at once, then at most a line a second (long-tasks.ts). */
  readonly longTaskReport: LongTaskReport = new LongTaskReport();
  /** The task whose `run` is on the stack, if any. */
  current: Task | null = null;
  private stopping: bool = false;
  private running: bool = false;
  private readonly stopTask: StopTask = new StopTask();
  /** The platform's stop-request line (hal.stop_line), -2 until the first `run` asks. */
  private stopLine: i32 = -2;

  /**
   * `policy` orders ready tasks (FIFO by default); `timerCapacity` pre-sizes
   * the timer queue so that arming timers never allocates below that count.
   */
  constructor(policy: SchedPolicy | null = null, timerCapacity: i32 = 64) {
    super();
    this.policy = policy ? policy : new FifoPolicy();
    this.timers = new TimerQueue(timerCapacity);
  }

  // ---- tasks ----

  /** Adopts `task` and makes it ready. A finished task may be spawned again. */
  spawn(task: Task): void {
    task._sched = this;
    this.wake(task, WakeReason.Spawn);
  }

  /**
   * Makes `task` ready, ending any sleep or wait it is in (its own timer is
   * cancelled). Ready already: nothing changes. Running: it runs again later,
   * behind the tasks ready now (that is `yield`).
   */
  wake(task: Task, reason: WakeReason = WakeReason.Spawn): void {
    if (task.state == TaskState.Ready) return;
    task._sched = this;
    this.detach(task);
    task.reason = reason;
    task.state = TaskState.Ready;
    this.stats.wakeups++;
    this.policy.enqueue(task);
  }

  /** Stops `task` from running again: out of every queue, its timer cancelled. */
  cancel(task: Task): void {
    this.detach(task);
    task.state = TaskState.Idle;
  }

  /** Makes `task` ready again after `ns` nanoseconds from now. */
  sleepFor(task: Task, ns: u64): void {
    this.sleepUntil(task, clock_ns() + ns);
  }

  /** Makes `task` ready again when the clock reaches `t` (at once if past). */
  sleepUntil(task: Task, t: u64): void {
    task._sched = this;
    this.detach(task);
    task._timer = this.arm(task, t, 0);
    task.state = TaskState.Sleeping;
  }

  /** Makes `task` ready when `ev` is signalled, or after `timeoutNs` (0: never). */
  waitOn(task: Task, ev: Event, timeoutNs: u64 = 0): void {
    task._sched = this;
    this.detach(task);
    ev.waiters.push(task);
    task._event = ev;
    task.state = TaskState.Waiting;
    if (timeoutNs > 0) task._timer = this.arm(task, clock_ns() + timeoutNs, 0);
  }

  /** Takes `task` out of wherever it is queued. */
  private detach(task: Task): void {
    const st = task.state;
    if (st == TaskState.Ready) this.policy.remove(task);
    else if (st == TaskState.Waiting) {
      task._event!.waiters.remove(task);
      task._event = null;
    }
    if (task._timer != NO_TIMER) {
      if (this.timers.cancel(task._timer)) this.stats.timersCancelled++;
      task._timer = NO_TIMER;
    }
  }

  // ---- timers not owned by a task's sleep ----

  /** A one-shot timer: wakes `task` (reason Timer) `ns` from now. Cancel with `cancelTimer`. */
  after(task: Task, ns: u64): TimerId {
    return this.at(task, clock_ns() + ns);
  }

  /** A one-shot timer that wakes `task` when the clock reaches `t`. */
  at(task: Task, t: u64): TimerId {
    task._sched = this;
    return this.arm(task, t, 0);
  }

  /**
   * A periodic timer: wakes `task` at `first` (default: one period from now)
   * and then every `period` ns, each deadline a whole period after the last,
   * so the schedule does not drift however late a run is.
   */
  every(task: Task, period: u64, first: u64 = 0): TimerId {
    assert(period > 0, "a periodic timer needs a period > 0");
    task._sched = this;
    return this.arm(task, first ? first : clock_ns() + period, period);
  }

  /** Disarms a timer. False if it already fired (one-shot) or was cancelled. */
  cancelTimer(id: TimerId): bool {
    if (!this.timers.cancel(id)) return false;
    this.stats.timersCancelled++;
    return true;
  }

  @inline private arm(task: Task, t: u64, period: u64): TimerId {
    this.stats.timersArmed++;
    return this.timers.add(task, t, period);
  }

  // ---- interrupts ----

  /** Runs `task` whenever interrupt `line` fires; the line is unmasked after each run. */
  onIrq(line: i32, task: Task): void {
    task._sched = this;
    this.irqs.set(line, task);
    irq_unmask(<u32>line);
  }

  /** Removes the handler of `line`; later interrupts on it stay masked and are counted. */
  offIrq(line: i32): void {
    this.irqs.set(line, null);
  }

  /**
   * What a stop request does (kernel/sched/stop.ts): by default a clean exit
   * with code 0. Requests are heard from the first `run` on.
   */
  onStopRequest(handler: StopHandler): void {
    this.stopTask.handler = handler;
  }

  /** Stop requests heard so far. */
  get stopRequests(): u32 {
    return this.stopTask.requests;
  }

  private dispatch(lines: u64): void {
    while (lines) {
      const line = <i32>ctz(lines);
      lines &= lines - 1;
      if (line == this.stopLine) {
        // Not in the IrqTable: a stop line alone is no work that keeps `run` going.
        const t = this.stopTask;
        t._sched = this;
        t.irqLines |= (<u64>1) << line;
        this.wake(t, WakeReason.Irq);
        continue;
      }
      const h = this.irqs.get(line);
      if (h) {
        this.stats.irqs++;
        h.irqLines |= (<u64>1) << line;
        this.wake(h, WakeReason.Irq);
      } else this.stats.irqsUnhandled++;
    }
  }

  // ---- the loop ----

  /** Makes `run` return after the current task. */
  stop(): void {
    this.stopping = true;
  }

  /** Tasks ready now. */
  get ready(): i32 {
    return this.policy.count;
  }

  /**
   * Runs until `stop()` or until no work can ever arrive: no task ready, no
   * timer armed and no interrupt handler registered. Tasks still waiting on an
   * event then are stuck; `run` returns anyway rather than sleep forever.
   */
  run(): void {
    assert(!this.running, "Scheduler.run called from inside a task");
    this.running = true;
    this.stopping = false;
    // the collector's root for the run: it marks from globals and pinned objects only
    __pin(changetype<usize>(this));
    if (this.stopLine == -2) {
      this.stopLine = stop_line();
      if (this.stopLine >= 0) irq_unmask(<u32>this.stopLine);
    }
    const st = this.stats;
    const policy = this.policy;
    const timers = this.timers;
    let now = clock_ns();
    const start = now;
    let justWaited = false; // wait() just handed over the pending lines: no need to poll
    const gc = this.gc;
    while (!this.stopping) {
      for (;;) {
        const t = timers.popDue(now);
        if (!t) break;
        st.timersFired++;
        const late = now - timers.lastDeadline;
        traceEvent(TRACE_TIMER, late > <u64>u32.MAX_VALUE ? u32.MAX_VALUE : <u32>late, <u32>timers.size, 0, 0);
        this.fire(t);
      }
      if (policy.count > 0) {
        // Busy: pick up interrupts without sleeping, so a stream of ready
        // work cannot shut out the devices.
        if (this.irqs.count > 0 && !justWaited) {
          const lines = wait(now);
          if (lines) this.dispatch(lines);
        }
        justWaited = false;
        now = this.runBatch(now);
        if (gc.due(now)) now = gc.collect(now);
        continue;
      }
      // idle: collect before sleeping rather than between a wake-up and its task
      if (gc.due(now)) now = gc.collect(now);
      const deadline = timers.next;
      if (deadline == NO_DEADLINE && this.irqs.count == 0) break;
      st.waits++;
      const lines = wait(deadline);
      const woke = clock_ns();
      st.idleNs += woke - now;
      now = woke;
      justWaited = true;
      if (lines) this.dispatch(lines);
    }
    st.timerOverruns = timers.overruns;
    st.loopNs += now - start;
    this.longTaskReport.flush();
    __unpin(changetype<usize>(this));
    this.running = false;
  }

  /** What a due timer does to its task. */
  private fire(t: Task): void {
    const timers = this.timers;
    const id = timers.lastId;
    t.firedAt = timers.lastDeadline;
    if (id == t._timer) {
      t._timer = NO_TIMER; // already freed by the queue: nothing to cancel
      this.wake(t, t.state == TaskState.Waiting ? WakeReason.Timeout : WakeReason.Timer);
    } else this.wake(t, WakeReason.Timer);
  }

  /**
   * Runs the tasks ready now, once each; returns the clock after the last.
   * Each run is timed from its own start: the timers, interrupt poll and
   * dispatch before the batch, and a long-task report after a run, are the
   * loop's work, not the next task's.
   */
  private runBatch(now: u64): u64 {
    now = clock_ns();
    const st = this.stats;
    const policy = this.policy;
    let n = policy.count;
    while (n-- > 0 && !this.stopping) {
      const t = policy.dequeue();
      if (!t) break;
      t.state = TaskState.Running;
      this.current = t;
      t.run();
      this.current = null;
      t.runs++;
      st.tasksRun++;
      if (t.state == TaskState.Running) t.state = TaskState.Idle;
      let lines = t.irqLines;
      if (lines) {
        t.irqLines = 0;
        while (lines) {
          irq_unmask(<u32>ctz(lines));
          lines &= lines - 1;
        }
      }
      const end = clock_ns();
      const took = end - now;
      now = end;
      st.taskNs += took;
      if (took > st.longestNs || st.tasksRun == 1) {
        st.longestNs = took;
        st.longestName = t.name;
      }
      if (took > this.longTaskNs) {
        this.longTask(t, took, end);
        now = clock_ns();
      }
    }
    return now;
  }

  private longTask(t: Task, took: u64, end: u64): void {
    this.stats.longTasks++;
    if (this.reportLongTasks) this.longTaskReport.note(t.name, took, end);
  }
}
