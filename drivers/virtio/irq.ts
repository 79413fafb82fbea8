// Interrupt routing from the scheduler to drivers.
//
// The scheduler wakes one task per interrupt line and unmasks the line after
// that task's run. Lines are shared (QEMU pc puts every PCI INTx on GSI 10 or
// 11), so the task for a line calls every handler registered on it; each
// driver acknowledges its own device (reading the virtio ISR deasserts INTx)
// before the line is unmasked. AssemblyScript has no closures, so a handler
// is a small object whose `handle` calls into its driver.

import { Task } from "../../kernel/sched/task";
import { Scheduler } from "../../kernel/sched/loop";
import { NetDevice } from "../../kernel/net/device";

export abstract class IrqHandler {
  abstract handle(): void;
}

/** Calls `handleInterrupt` of a NetDevice. */
export class NetIrqHandler extends IrqHandler {
  constructor(readonly dev: NetDevice) {
    super();
  }
  handle(): void {
    this.dev.handleInterrupt();
  }
}

class LineTask extends Task {
  readonly handlers: Array<IrqHandler> = new Array<IrqHandler>();
  constructor(readonly line: i32) {
    super("irq" + line.toString());
  }
  run(): void {
    const hs = this.handlers;
    for (let i = 0; i < hs.length; i++) unchecked(hs[i]).handle();
  }
}

const tasks = new Map<Scheduler, StaticArray<LineTask | null>>();

/** Runs `h` on every interrupt of `line` (0..63); several handlers may share a line. */
export function routeIrq(sched: Scheduler, line: i32, h: IrqHandler): void {
  if (line < 0 || line >= 64) return;
  let perLine: StaticArray<LineTask | null>;
  if (tasks.has(sched)) perLine = tasks.get(sched);
  else {
    perLine = new StaticArray<LineTask | null>(64);
    tasks.set(sched, perLine);
  }
  let t = perLine[line];
  if (!t) {
    t = new LineTask(line);
    perLine[line] = t;
    sched.onIrq(line, t);
  }
  t.handlers.push(h);
  // The device may have raised its line before the line was routed, while
  // the interrupt controller still held the line masked (and, on x86, as an
  // edge it then ignored): acknowledge and service the device once now, so
  // that its next interrupt is a fresh one.
  h.handle();
}

/** Routes a NIC's interrupt (nothing if it has no line: it is then only polled). */
export function routeNetIrq(sched: Scheduler, dev: NetDevice): void {
  routeIrq(sched, dev.line, new NetIrqHandler(dev));
}
