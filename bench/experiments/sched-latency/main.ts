// The kernel of the scheduler-latency experiment (bench/experiments/
// sched-latency.ts): one latency-sensitive task that sleeps a random 1-3 ms
// and measures how late it runs after its timer fired, competing with
// `load` CPU-bound tasks that each compute for `work_us` and yield, forever.
// The work is real computation whose cost in virtual time comes from the
// world's per-clock-read cost (the experiment sets it), so a load task holds
// the CPU for about work_us. `policy=fifo|priority|edf` picks the scheduling
// policy (kernel/sched/policy.ts); under priority the sensitive task is level 0
// and the load level 1; under EDF every run's deadline is its wake time plus
// `slack_us` for the sensitive task and plus 10 ms for the load.
// Prints samples, lat_p50_ns, lat_p99_ns, lat_max_ns and load_runs (key=value lines).
import { Task, Scheduler, SchedPolicy, FifoPolicy, PriorityPolicy, EdfPolicy, US, MS } from "../../../kernel/sched/index";
import { print, println, printU64 } from "../../../kernel/console";
import { clock_ns, entropy } from "../../../kernel/hal";
import { cmdlineArg } from "../../../kernel/cmdline";

const SAMPLES: i32 = <i32>I32.parseInt(cmdlineArg("samples", "500"));
const LOAD: i32 = <i32>I32.parseInt(cmdlineArg("load", "4"));
const WORK_NS: u64 = <u64>I32.parseInt(cmdlineArg("work_us", "200")) * US;
const SLACK_NS: u64 = <u64>I32.parseInt(cmdlineArg("slack_us", "100")) * US;
const POLICY = cmdlineArg("policy", "fifo");

const seedBuf = memory.data(8);
let rng: u64 = 0;
function next(): u64 {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

let sched!: Scheduler;
let loadRuns: u64 = 0;
let sink: u64 = 0;

class Sensitive extends Task {
  lateness: StaticArray<u64> = new StaticArray<u64>(SAMPLES);
  n: i32 = 0;
  run(): void {
    if (this.runs > 0) unchecked((this.lateness[this.n++] = clock_ns() - this.firedAt));
    if (this.n >= SAMPLES) {
      sched.stop();
      return;
    }
    const wait = MS + next() % (2 * MS);
    this.deadline = clock_ns() + wait + SLACK_NS;
    this.sleep(wait);
  }
}

class Load extends Task {
  run(): void {
    // compute until work_us of (virtual) CPU time has gone by
    const start = clock_ns();
    let x = sink;
    while (clock_ns() - start < WORK_NS) x = x * 6364136223846793005 + 1442695040888963407;
    sink = x;
    loadRuns++;
    this.deadline = clock_ns() + 10 * MS;
    this.yield();
  }
}

function kv(k: string, v: u64): void {
  print(k);
  print("=");
  printU64(v);
  println("");
}

export function main(): i32 {
  entropy(seedBuf, 8);
  rng = load<u64>(seedBuf) | 1;
  let policy: SchedPolicy;
  if (POLICY == "priority") policy = new PriorityPolicy();
  else if (POLICY == "edf") policy = new EdfPolicy();
  else if (POLICY == "fifo") policy = new FifoPolicy();
  else {
    println("sched-latency: error: policy must be fifo, priority or edf");
    return 2;
  }
  sched = new Scheduler(policy);
  sched.reportLongTasks = false;
  const s = new Sensitive("sensitive");
  s.priority = 0;
  sched.spawn(s);
  for (let i = 0; i < LOAD; i++) {
    const l = new Load("load");
    l.priority = 1;
    l.deadline = 10 * MS;
    sched.spawn(l);
  }
  sched.run();
  const lat = s.lateness;
  lat.sort();
  const n = s.n;
  kv("samples", <u64>n);
  kv("lat_p50_ns", n > 0 ? lat[n / 2] : 0);
  kv("lat_p99_ns", n > 0 ? lat[min(n - 1, (n * 99) / 100)] : 0);
  kv("lat_max_ns", n > 0 ? lat[n - 1] : 0);
  kv("load_runs", loadRuns);
  return 0;
}
