// A long run driven by the timer interrupt: a periodic task ticks every
// PERIOD for DURATION, while a background task keeps some work in the ready
// queue. It checks that every tick's deadline sits exactly on the grid (no
// drift) and that every tick either ran or was skipped as an overrun the
// scheduler counted (none silently lost), then prints the counters.
//
// An overrun means the whole machine stalled for more than a period (under
// TCG, the host descheduling QEMU does that, as often as the host is busy):
// how many there were is shown, not judged, since it measures the host.
// Exit 0 on success, 1 on any off-grid or unaccounted tick.

import { Task, Scheduler, MS, SEC, printStats } from "../../../kernel/sched/index";
import { print, println, printU64, printFixed } from "../../../kernel/console";
import { clock_ns } from "../../../kernel/hal";

const PERIOD: u64 = 10 * MS;
const DURATION: u64 = 3 * SEC;
const TICKS: u64 = DURATION / PERIOD;

class Tick extends Task {
  first: u64 = 0;
  expected: u64 = 0; // the grid index of the next tick
  offGrid: u64 = 0;
  missed: u64 = 0;
  worstLate: u64 = 0;
  totalLate: u64 = 0;

  run(): void {
    const now = clock_ns();
    const since = this.firedAt - this.first;
    if (since % PERIOD != 0) this.offGrid++;
    const k = since / PERIOD; // this is tick k of the grid
    if (k > this.expected) this.missed += k - this.expected;
    this.expected = k + 1;
    const late = now - this.firedAt;
    this.totalLate += late;
    if (late > this.worstLate) this.worstLate = late;
    if (k % 100 == 99) {
      print("tick-long: tick ");
      printU64(k + 1);
      print(" at ");
      printFixed(now, 1_000_000, 1);
      println(" ms");
    }
    if (k + 1 >= TICKS) this.sched.stop();
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
  sched.spawn(new Background("background"));
  sched.run();

  const st = sched.stats;
  print("tick-long: ");
  printU64(tick.runs);
  print(" of ");
  printU64(TICKS);
  print(" ticks ran, skipped ");
  printU64(tick.missed);
  print(" (overruns ");
  printU64(st.timerOverruns);
  print("), off grid ");
  printU64(tick.offGrid);
  print(", lateness mean ");
  printFixed(tick.runs ? tick.totalLate / tick.runs : 0, 1000, 1);
  print(" us max ");
  printFixed(tick.worstLate, 1000, 1);
  println(" us");
  printStats(st);
  const accounted = tick.runs + tick.missed == TICKS && tick.missed == st.timerOverruns;
  if (!accounted || tick.offGrid != 0) {
    println("tick-long: FAILED");
    return 1;
  }
  println("tick-long: ok");
  return 0;
}
