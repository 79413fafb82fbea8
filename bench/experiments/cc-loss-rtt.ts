// NewReno vs CUBIC goodput over loss and RTT:
// `uniwasm experiment bench/experiments/cc-loss-rtt.ts` (results in docs/simulation.md).
// Two kernels (tests/kernels/tcp-peer): the client uploads 10 MB to the
// server's discard service over a 20 Mbit/s link whose queue holds one
// bandwidth-delay product, with random loss both ways.
import type { Scenario } from "../../host/sim/index.ts";

const BYTES = 10_000_000;
const RATE = 20e6;

const scenario: Scenario = {
  name: "cc-loss-rtt",
  kernels: { peer: "../../tests/kernels/tcp-peer" },
  params: { cc: ["newreno", "cubic"], rttMs: [10, 40, 100], lossPct: [0, 0.1, 0.5, 1, 2, 5] },
  seeds: 3,
  until: 600,
  build({ world, kernels, point }) {
    const rtt = Number(point.rttMs);
    // one bandwidth-delay product of full-sized frames
    const queue = Math.max(8, Math.round((RATE * rtt) / 1000 / 8 / 1514));
    const common = `cc=${point.cc} buf=1048576 deadline_s=550`;
    const client = world.node("client", { kernel: kernels.peer, memory: "64M", cmdline: `ip=10.0.0.1/24 role=client peer=10.0.0.2 bytes=${BYTES} modes=up linger_ms=10 ${common}` });
    const server = world.node("server", { kernel: kernels.peer, memory: "64M", cmdline: `ip=10.0.0.2/24 role=server expect=1 ${common}` });
    world.link(client, server, { delayMs: rtt / 2, bandwidth: RATE, queue, loss: Number(point.lossPct) / 100 });
  },
  measure(_ctx, r) {
    const c = r.nodes.client.counters;
    return {
      goodput_mbps: (c.cli_bytes_sent * 8) / c.cli_elapsed_us,
      retransmits: c["tcp.retransSegments"] ?? 0,
      rtos: c["tcp.rtoExpirations"] ?? 0,
    };
  },
  invariants(_ctx, r) {
    const c = r.nodes.client.counters;
    return c.cli_ok === 1 && c.cli_bad_bytes === 0 ? [] : [`the upload did not complete intact (ok ${c.cli_ok}, bad bytes ${c.cli_bad_bytes})`];
  },
  charts: [{ x: "lossPct", y: "goodput_mbps", series: "cc", facet: "rttMs", title: "goodput (Mbit/s) by loss (%)" }],
};
export default scenario;
