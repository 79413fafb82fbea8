// Interrupt dispatch. The platform's interrupt handler never enters wasm: it
// records the line as pending and masks it, and hal.wait() hands the loop the
// pending set. The loop wakes the task registered for each line; after that
// task's `run` returns, the loop unmasks the line, so a level-triggered device
// cannot interrupt again before its driver has serviced it.

import { Task } from "./task";

export const IRQ_LINES: i32 = 64;

@final
export class IrqTable {
  private handlers: StaticArray<Task | null> = new StaticArray<Task | null>(IRQ_LINES);
  /** Lines with a handler. */
  count: i32 = 0;

  set(line: i32, task: Task | null): void {
    assert(line >= 0 && line < IRQ_LINES, "interrupt line out of range 0..63");
    const old = unchecked(this.handlers[line]);
    if (old == null && task != null) this.count++;
    else if (old != null && task == null) this.count--;
    unchecked((this.handlers[line] = task));
  }

  @inline get(line: i32): Task | null {
    return unchecked(this.handlers[line]);
  }
}
