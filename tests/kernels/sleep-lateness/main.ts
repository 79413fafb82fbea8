// Sleeps in a loop and reports how late each wake-up was: the time from a
// timer's deadline to the moment its task runs. On the virtual clock in Node
// that is 0; on QEMU it is the cost of the timer interrupt, the exit from
// hlt, and the loop's own work, which is what this app is for measuring.

import { Task, Scheduler, MS, printStats } from "../../../kernel/sched/index";
import { print, println, printU64, printFixed } from "../../../kernel/console";
import { clock_ns } from "../../../kernel/hal";

const ROUNDS: i32 = 200;

class Sleeper extends Task {
  lateness: StaticArray<u64> = new StaticArray<u64>(ROUNDS);
  n: i32 = 0;
  early: i32 = 0;

  run(): void {
    if (this.runs > 0) {
      const now = clock_ns();
      if (now < this.firedAt) this.early++; // must never happen
      unchecked((this.lateness[this.n++] = now - this.firedAt));
    }
    // 1..5 ms, a fixed pattern so every run is the same experiment
    if (this.n < ROUNDS) this.sleep(<u64>(1 + (this.n % 5)) * MS);
  }
}

export function main(): i32 {
  const sched = new Scheduler();
  const s = new Sleeper("sleeper");
  sched.spawn(s);
  const t0 = clock_ns();
  sched.run();
  const elapsed = clock_ns() - t0;

  const l = s.lateness;
  l.sort();
  print("sleep-lateness: ");
  printU64(<u64>s.n);
  print(" sleeps of 1-5 ms in ");
  printFixed(elapsed, 1_000_000, 1);
  println(" ms");
  print("sleep-lateness: median ");
  printFixed(l[ROUNDS / 2], 1000, 1);
  print(" us, p90 ");
  printFixed(l[ROUNDS * 9 / 10], 1000, 1);
  print(" us, max ");
  printFixed(l[ROUNDS - 1], 1000, 1);
  print(" us, min ");
  printFixed(l[0], 1000, 1);
  println(" us");
  printStats(sched.stats);
  if (s.n != ROUNDS || s.early != 0) {
    println("sleep-lateness: FAILED (a wake-up was missing or early)");
    return 1;
  }
  println("sleep-lateness: ok");
  return 0;
}
