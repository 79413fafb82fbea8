// Interrupt routing from the scheduler to drivers, and the watchdog that
// keeps a line alive when an interrupt is lost.
//
// The scheduler wakes one task per interrupt line and unmasks the line after
// that task's run. Lines are shared (QEMU pc puts every PCI INTx on GSI 10 or
// 11), so the task for a line calls every handler registered on it; each
// driver acknowledges its own device (reading the virtio ISR deasserts INTx)
// before the line is unmasked. AssemblyScript has no closures, so a handler
// is a small object whose `handle` calls into its driver.
//
// Liveness: an interrupt can be lost (an edge/level mismatch, a platform or
// hypervisor bug) or come late, and a driver that only waits for interrupts
// then stalls for good: the device has completed work, and nobody looks. So
// each routed line has a watchdog: every `period` it asks the line's handlers
// whether their device has completed work the driver has not taken (a look
// at the used rings in memory, no register access, so it costs nothing on the
// device). Work that was already waiting at the previous check, with the line
// not serviced in between, has waited a whole period without an interrupt:
// the watchdog then services the line as the interrupt would have (its task
// runs, and the line is unmasked after it), counts it, and says so on the
// console (the 1st, 10th, 100th... time). The same look finds the opposite
// loss, a notification the device never got (virtqueue.ts): a queue whose
// device sat the whole period on chains we published, waiting to be told of
// them, is notified again, counted here and reported by its driver. The period is
// `irq_watchdog=<ms>` on the command line (default IRQ_WATCHDOG_MS; 0 turns
// the watchdog off).

import { Task, TaskState, WakeReason } from "../../kernel/sched/task";
import { Scheduler } from "../../kernel/sched/loop";
import { MS } from "../../kernel/sched/time";
import { print, println, printU64, reportable } from "../../kernel/console";
import { cmdlineValue } from "../../kernel/cmdline";
import { NetDevice } from "../../kernel/net/device";
import { VirtioNet } from "./net";

/** Default watchdog period, in milliseconds. */
export const IRQ_WATCHDOG_MS: u32 = 20;

export abstract class IrqHandler {
  /**
   * Services the device's interrupt, doing a bounded amount of work. Returns
   * true when work remains: the line's task then calls it again on its next
   * turn (after the other ready tasks), until it returns false.
   */
  abstract handle(): bool;
  /**
   * Whether the device has completed work its driver has not taken yet, from
   * memory only (used rings), never a device register. The watchdog calls it
   * once a period; a handler that cannot tell answers false (the default).
   */
  workWaiting(): bool {
    return false;
  }
  /**
   * Notifies the device again where it has sat a whole period on work it was
   * given and never took (a notification lost on the way). The watchdog
   * calls it once a period; returns how many notifications it sent (a
   * handler that cannot tell sends none, the default).
   */
  renotify(): u32 {
    return 0;
  }
}

/** Calls `handleInterrupt` of a NetDevice. */
export class NetIrqHandler extends IrqHandler {
  constructor(readonly dev: NetDevice) {
    super();
  }
  handle(): bool {
    return this.dev.handleInterrupt();
  }
  workWaiting(): bool {
    const d = this.dev;
    return d instanceof VirtioNet ? (<VirtioNet>d).completionsWaiting() : false;
  }
  renotify(): u32 {
    const d = this.dev;
    return d instanceof VirtioNet ? (<VirtioNet>d).renotifyStalled() : 0;
  }
}

/**
 * The task of one line. An interrupt runs every handler on the line; a
 * handler that left work (a burst larger than its budget) runs again on the
 * task's next turn, which it takes by yielding, so a burst is worked off in
 * slices between the other tasks instead of in one long run.
 */
class LineTask extends Task {
  readonly handlers: Array<IrqHandler> = new Array<IrqHandler>();
  /** Bit i: handler i left work for the next turn. */
  private unfinished: u64 = 0;
  constructor(readonly line: i32) {
    super("irq" + line.toString());
  }
  run(): void {
    const hs = this.handlers;
    const interrupted = (this.irqLines & ((<u64>1) << this.line)) != 0;
    let left: u64 = 0;
    for (let i = 0; i < hs.length; i++) {
      const bit = (<u64>1) << (<u64>i & 63);
      const h = unchecked(hs[i]);
      if ((interrupted || (this.unfinished & bit) != 0) && h.handle()) left |= bit;
    }
    this.unfinished = left;
    if (left != 0) this.yield();
  }
  workWaiting(): bool {
    const hs = this.handlers;
    for (let i = 0; i < hs.length; i++) if (unchecked(hs[i]).workWaiting()) return true;
    return false;
  }
  renotify(): u32 {
    const hs = this.handlers;
    let n: u32 = 0;
    for (let i = 0; i < hs.length; i++) n += unchecked(hs[i]).renotify();
    return n;
  }
}

/** The periodic check of one line (see the top of this file). */
export class IrqWatchdog extends Task {
  /** Times the watchdog serviced the line because no interrupt came. */
  recoveries: u64 = 0;
  /** Notifications the watchdog had sent again because a device sat on work it was given. */
  renotified: u64 = 0;
  private waiting: bool = false;
  private runsAtCheck: u64 = 0;
  constructor(private readonly lineTask: LineTask, readonly periodNs: u64) {
    super("irq" + lineTask.line.toString() + "-watchdog");
  }
  run(): void {
    const t = this.lineTask;
    // First the device's side (the driver reports it): servicing the line
    // does not wake a device that waits for a notification.
    this.renotified += t.renotify();
    // The interrupt came and its task is about to run: nothing was lost.
    if (t.state == TaskState.Ready) {
      this.waiting = false;
      return;
    }
    const w = t.workWaiting();
    if (w && this.waiting && t.runs == this.runsAtCheck) this.recover();
    this.waiting = w;
    this.runsAtCheck = t.runs;
  }
  private recover(): void {
    const t = this.lineTask;
    this.recoveries++;
    const n = this.recoveries;
    if (reportable(n)) {
      print("irq");
      printU64(<u64>t.line);
      print(": completed device work waited ");
      printU64(this.periodNs / MS);
      print(" ms with no interrupt; serviced by polling (");
      printU64(n);
      println(n == 1 ? " time)" : " times)");
    }
    // As an interrupt would: the line's task runs, then the line is unmasked.
    t.irqLines |= (<u64>1) << t.line;
    t._sched!.wake(t, WakeReason.Irq);
    this.waiting = false;
  }
}

class IrqTables {
  readonly tasks: Map<Scheduler, StaticArray<LineTask | null>> = new Map<Scheduler, StaticArray<LineTask | null>>();
  readonly watchdogs: Map<Scheduler, StaticArray<IrqWatchdog | null>> = new Map<Scheduler, StaticArray<IrqWatchdog | null>>();
}
// Made on first use: a kernel that never routes an interrupt (one that only
// imports the package root) carries neither the tables nor an allocator.
let tables: IrqTables | null = null;

/** The watchdog period from `irq_watchdog=<ms>` (0: off). */
function watchdogPeriodNs(): u64 {
  const v = cmdlineValue("irq_watchdog");
  let ms = <u64>IRQ_WATCHDOG_MS;
  if (v != null) {
    const n = I64.parseInt(v);
    if (n >= 0 && n <= 60_000 && n.toString() == v) ms = <u64>n;
    else println("irq_watchdog=" + v + ": expected milliseconds 0..60000; using " + IRQ_WATCHDOG_MS.toString());
  }
  return ms * MS;
}

/** Runs `h` on every interrupt of `line` (0..63); several handlers may share a line. */
export function routeIrq(sched: Scheduler, line: i32, h: IrqHandler): void {
  if (line < 0 || line >= 64) return;
  let tb = tables;
  if (tb == null) tables = tb = new IrqTables();
  const tasks = tb.tasks;
  const watchdogs = tb.watchdogs;
  let perLine: StaticArray<LineTask | null>;
  if (tasks.has(sched)) perLine = tasks.get(sched);
  else {
    perLine = new StaticArray<LineTask | null>(64);
    tasks.set(sched, perLine);
    watchdogs.set(sched, new StaticArray<IrqWatchdog | null>(64));
  }
  let t = perLine[line];
  if (!t) {
    t = new LineTask(line);
    perLine[line] = t;
    sched.onIrq(line, t);
    const period = watchdogPeriodNs();
    if (period > 0) {
      const w = new IrqWatchdog(t, period);
      watchdogs.get(sched)[line] = w;
      sched.every(w, period);
    }
  }
  t.handlers.push(h);
  // The device may have raised its line before the line was routed, while
  // the interrupt controller still held the line masked (and, on x86, as an
  // edge it then ignored): acknowledge and service the device once now, so
  // that its next interrupt is a fresh one. Through the line's task, as an
  // interrupt would be, so that what the first service leaves is resumed.
  t.irqLines |= (<u64>1) << line;
  sched.wake(t, WakeReason.Irq);
}

/** The watchdog of `line` under `sched`, or null (not routed, or the watchdog is off). */
export function irqWatchdog(sched: Scheduler, line: i32): IrqWatchdog | null {
  const tb = tables;
  if (tb == null || line < 0 || line >= 64 || !tb.watchdogs.has(sched)) return null;
  return tb.watchdogs.get(sched)[line];
}

/** Routes a NIC's interrupt (nothing if it has no line: it is then only polled). */
export function routeNetIrq(sched: Scheduler, dev: NetDevice): void {
  routeIrq(sched, dev.line, new NetIrqHandler(dev));
}
