// Reports task runs longer than the scheduler's threshold on the console,
// without letting them fill it. Under load on an emulator (QEMU's TCG, where
// a run's wall time also holds the waits for QEMU's I/O thread and for a
// host core) many runs cross 10 ms, and a line for each drowned the app's
// own output. The first long run is printed at once; after it, at most one
// line per `intervalNs` of the kernel's clock, which also says how many long
// runs were not printed since the line before and names the longest of them;
// when the loop ends, a last line covers the runs held since then. Every run
// is counted in SchedStats.longTasks either way.

import { print, println, printFixed, printU64 } from "../console";
import { SEC } from "./time";

@final
export class LongTaskReport {
  /** The least time between two lines; 0: a line for every long run. */
  intervalNs: u64 = SEC;
  private printedAt: u64 = 0;
  private printedAny: bool = false;
  /** Long runs since the last line that it did not show. */
  private held: u64 = 0;
  private heldLongestNs: u64 = 0;
  private heldLongestName: string = "";

  /** A run of the task `name` took `took` ns and ended at `now`. Allocates nothing. */
  note(name: string, took: u64, now: u64): void {
    if (this.printedAny && now - this.printedAt < this.intervalNs) {
      this.held++;
      if (took > this.heldLongestNs) {
        this.heldLongestNs = took;
        this.heldLongestName = name;
      }
      return;
    }
    print("sched: long task '");
    print(name);
    print("' ran ");
    printFixed(took, 1000, 3);
    print(" us");
    if (this.held > 0) {
      print(" (");
      this.printHeld(" more");
      print(")");
    }
    println("");
    this.printedAny = true;
    this.printedAt = now;
  }

  /** The loop ended: one line for the long runs held since the last line, if any (none is left unsaid). */
  flush(): void {
    if (this.held == 0) return;
    print("sched: ");
    this.printHeld(this.held == 1 ? " more long task run" : " more long task runs");
    println("");
  }

  /** "<held><what> since the last report, the longest '<name>' ran <t> us", and forgets them. */
  private printHeld(what: string): void {
    printU64(this.held);
    print(what);
    print(" since the last report, the longest '");
    print(this.heldLongestName);
    print("' ran ");
    printFixed(this.heldLongestNs, 1000, 3);
    print(" us");
    this.held = 0;
    this.heldLongestNs = 0;
  }
}
