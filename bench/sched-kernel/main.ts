// The scheduler benchmark kernel: measures its own per-operation costs with
// clock_ns and prints one line per operation, "bench <op> <ns/op>", the
// median of ROUNDS rounds. The same wasm runs in Node (bench/sched.ts gives it
// the real clock) and as the AOT-compiled image on QEMU.

import { Task, Scheduler, TimerQueue, TimerId } from "../../kernel/sched/index";
import { print, println, printFixed } from "../../kernel/console";
import { clock_ns } from "../../kernel/hal";

const N: i32 = 100_000; // timers pending at once
const TASKS: i32 = 1000; // tasks spawned per batch
const BATCHES: i32 = 100; // spawn+run batches per round
const ROUNDS: i32 = 7;

class Empty extends Task {
  run(): void {}
}

const tasks = new StaticArray<Task>(N);
const ids = new StaticArray<TimerId>(N);
const deadlines = new StaticArray<u64>(N);
const samples = new StaticArray<u64>(ROUNDS);
let rng: u64 = 0x9e3779b97f4a7c15;

function next(): u64 {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

function report(op: string, opsPerRound: i32): void {
  samples.sort();
  print("bench ");
  print(op);
  print(" ");
  printFixed(samples[ROUNDS / 2] * 1000 / <u64>opsPerRound, 1000, 1);
  println("");
}

export function main(): i32 {
  for (let i = 0; i < N; i++) {
    tasks[i] = new Empty("empty");
    deadlines[i] = 1_000_000_000_000 + next() % 1_000_000_000; // far future, random order
  }
  const sched = new Scheduler(null, N);
  sched.reportLongTasks = false;

  // spawn + run of an empty task (TASKS ready at a time)
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = clock_ns();
    for (let b = 0; b < BATCHES; b++) {
      for (let i = 0; i < TASKS; i++) sched.spawn(unchecked(tasks[i]));
      sched.run();
    }
    samples[r] = clock_ns() - t0;
  }
  report("spawn+run", TASKS * BATCHES);

  // timer insert into a queue growing to N pending, then cancel them all
  // (in insertion order, i.e. from random heap positions)
  const cancels = new StaticArray<u64>(ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = clock_ns();
    for (let i = 0; i < N; i++) unchecked((ids[i] = sched.at(unchecked(tasks[i]), unchecked(deadlines[i]))));
    const t1 = clock_ns();
    for (let i = 0; i < N; i++) sched.cancelTimer(unchecked(ids[i]));
    const t2 = clock_ns();
    samples[r] = t1 - t0;
    cancels[r] = t2 - t1;
  }
  report("timer-insert", N);
  for (let r = 0; r < ROUNDS; r++) samples[r] = cancels[r];
  report("timer-cancel", N);

  // expire: the queue alone, N due timers popped in deadline order
  const q = new TimerQueue(N);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < N; i++) q.add(unchecked(tasks[i]), unchecked(deadlines[i]) - 1_000_000_000_000);
    const t0 = clock_ns();
    let fired = 0;
    while (q.popDue(1_000_000_000)) fired++;
    samples[r] = clock_ns() - t0;
    if (fired != N) return 1;
  }
  report("timer-expire", N);

  // expire through the loop: N due timers, each waking and running its task
  for (let r = 0; r < ROUNDS; r++) {
    const base = clock_ns();
    for (let i = 0; i < N; i++) sched.at(unchecked(tasks[i]), unchecked(deadlines[i]) % base);
    const t0 = clock_ns();
    sched.run();
    samples[r] = clock_ns() - t0;
  }
  report("timer-expire+run", N);
  println("bench done");
  return 0;
}
