// A long run driven by the timer interrupt: a periodic task ticks every
// PERIOD for DURATION, while a background task keeps some work in the ready
// queue. It checks that every tick arrived (none skipped) and that each tick's
// deadline sits exactly on the grid (no drift), then prints the counters.
// Exit 0 on success, 1 on any missing or off-grid tick.

import { Task, Scheduler, MS, SEC, printStats } from "../../kernel/sched/index";
import { print, println, printU64, printFixed } from "../../kernel/console";
import { clock_ns } from "../../kernel/hal";

const PERIOD: u64 = 5 * MS;
const DURATION: u64 = 3 * SEC;
const TICKS: u64 = DURATION / PERIOD;

class Tick extends Task {
  first: u64 = 0;
  offGrid: u64 = 0;
  worstLate: u64 = 0;
  totalLate: u64 = 0;

  run(): void {
    const now = clock_ns();
    const k = this.runs; // this is tick k (0-based)
    if (this.firedAt != this.first + k * PERIOD) this.offGrid++;
    const late = now - this.firedAt;
    this.totalLate += late;
    if (late > this.worstLate) this.worstLate = late;
    if (k % 200 == 199) {
      print("tick-long: ");
      printU64(k + 1);
      print(" ticks, ");
      printFixed(now, 1_000_000, 1);
      println(" ms");
    }
    if (k + 1 == TICKS) {
      this.sched.stop();
    }
  }
}

// Short bursts of work between ticks, so the loop is not only ever idle.
class Background extends Task {
  work: u64 = 0;
  run(): void {
    for (let i = 0; i < 1000; i++) this.work += <u64>i * 2654435761;
    this.sleep(3 * MS);
  }
}

export function main(): i32 {
  const sched = new Scheduler();
  const tick = new Tick("tick");
  tick.first = clock_ns() + PERIOD;
  sched.every(tick, PERIOD, tick.first);
  const bg = new Background("background");
  sched.spawn(bg);
  sched.run();

  const st = sched.stats;
  print("tick-long: ");
  printU64(tick.runs);
  print(" of ");
  printU64(TICKS);
  print(" ticks, off grid ");
  printU64(tick.offGrid);
  print(", overruns ");
  printU64(st.timerOverruns);
  print(", lateness mean ");
  printFixed(tick.runs ? tick.totalLate / tick.runs : 0, 1000, 1);
  print(" us max ");
  printFixed(tick.worstLate, 1000, 1);
  println(" us");
  printStats(st);
  if (tick.runs != TICKS || tick.offGrid != 0 || st.timerOverruns != 0) {
    println("tick-long: FAILED");
    return 1;
  }
  println("tick-long: ok");
  return 0;
}
