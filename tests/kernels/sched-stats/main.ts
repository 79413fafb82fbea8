// The scheduler's debug view: runs a small mixed workload (yielding tasks, a
// periodic timer, sleepers, an event with waiters, one deliberately slow
// task) for 100 ms and prints every counter. Copy `printStats(sched.stats)`
// into an app to get the same report.

import { Task, Scheduler, Event, MS, US, printStats } from "../../../kernel/sched/index";
import { print, println } from "../../../kernel/console";
import { clock_ns } from "../../../kernel/hal";

class Yielder extends Task {
  run(): void {
    if (this.runs < 1000) this.yield();
  }
}

class Producer extends Task {
  run(): void {
    ev.signal();
    if (clock_ns() > 100 * MS) {
      ev.broadcast();
      this.sched.cancelTimer(periodic);
    }
  }
}

class Consumer extends Task {
  run(): void {
    if (clock_ns() < 100 * MS) this.waitOn(ev, 20 * MS);
  }
}

// Bounded work, not a spin on the clock: the virtual clock in Node only moves
// when the kernel waits, so a clock spin would never end there.
class Slow extends Task {
  sum: u64 = 0;
  run(): void {
    for (let i: u64 = 0; i < 20_000_000; i++) this.sum += i ^ (this.sum >> 3);
  }
}

let ev!: Event;
let periodic: u64 = 0;

export function main(): i32 {
  const sched = new Scheduler();
  ev = new Event(sched);
  for (let i = 0; i < 4; i++) sched.spawn(new Yielder("yielder"));
  for (let i = 0; i < 3; i++) sched.spawn(new Consumer("consumer"));
  periodic = sched.every(new Producer("producer"), 500 * US);
  sched.at(new Slow("slow"), 50 * MS);
  sched.run();
  print("sched-stats: policy ");
  println(sched.policy.name());
  printStats(sched.stats);
  return 0;
}
