// The scheduler's policies under load: `uniwasm experiment bench/experiments/sched-latency.ts`.
// One latency-sensitive task (a timer every 1-3 ms) competes with `load`
// CPU-bound tasks that each compute 200 us and yield (kernel:
// bench/experiments/sched-latency/main.ts). The metric is how late the
// sensitive task runs after its timer fired (p50, p99, max) under each
// policy of kernel/sched/policy.ts. Computation takes virtual time through
// a per-clock-read cost, so the run stays deterministic.
import type { Scenario } from "../../host/sim/index.ts";

const scenario: Scenario = {
  name: "sched-latency",
  kernels: { lat: "sched-latency" }, // the folder next to this file
  params: { policy: ["fifo", "priority", "edf"], load: [0, 1, 2, 4, 8, 16] },
  seeds: 3,
  until: 30,
  clockReadNs: 50,
  build({ world, kernels, point }) {
    world.node("cpu", { kernel: kernels.lat, memory: "8M", cmdline: `policy=${point.policy} load=${point.load} work_us=200 samples=500` });
  },
  measure(_ctx, r) {
    const c = r.nodes.cpu.counters;
    return { p50_us: c.lat_p50_ns / 1000, p99_us: c.lat_p99_ns / 1000, max_us: c.lat_max_ns / 1000, load_runs: c.load_runs };
  },
  invariants(_ctx, r) {
    return r.nodes.cpu.counters.samples === 500 ? [] : ["the sensitive task did not take its 500 samples"];
  },
  charts: [
    { x: "load", y: "p99_us", series: "policy", title: "wake-up latency p99 (us) by CPU-bound tasks" },
    { x: "load", y: "p50_us", series: "policy", title: "wake-up latency median (us) by CPU-bound tasks" },
  ],
};
export default scenario;
