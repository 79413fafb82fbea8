// HTTP under sustained load, in simulation, for hangs:
//   ./uniwasm experiment bench/experiments/http-liveness.ts
// apps/httpd serves bench/http-load, which keeps 50 connections busy until
// 50,000 (close) or 200,000 (keep-alive) GETs of 612 bytes were answered
// (each checked: status, length, CRC-32), one connection per request
// (`Connection: close`) or all on kept-alive connections, while both
// virtio-net device models drop a share of their interrupts and raise the
// rest late (0.5-3 ms, varied by seed), as in irq-liveness.ts. A hang
// anywhere (a lost wake-up, a stuck connection, a driver that stops
// servicing its queue) leaves requests unanswered at `until`, which the
// invariants report with the seed to replay. The 20 runs are 2.5 million
// requests over 40 boots (docs/tcp.md has the figures).
import type { Scenario } from "../../host/sim/index.ts";

/** Requests per run: a connection each costs a handshake and a close, so fewer of those. */
const requests = (close: unknown) => (Number(close) ? 50_000 : 200_000);

const scenario: Scenario = {
  name: "http-liveness",
  kernels: { httpd: "../../apps/httpd", load: "../http-load" },
  params: { close: [1, 0], drop: [0, 0.05] },
  seeds: 5,
  until: 600,
  // the server ends with 5-10 MiB of linear memory, the client 4.6 MiB; a
  // leak past 24 MiB is caught before the machines' 32 MiB run out
  maxMemory: 24 << 20,
  build({ world, kernels, point, seed }) {
    const server = world.node("server", { kernel: kernels.httpd, memory: "32M", cmdline: "ip=10.0.0.2/24" });
    const client = world.node("client", { kernel: kernels.load, memory: "32M", cmdline: `ip=10.0.0.1/24 peer=10.0.0.2 requests=${requests(point.close)} par=50 close=${point.close}` });
    world.link(client, server, { delayMs: 1, bandwidth: 1e9, queue: 1000 });
    const delay = BigInt(500_000 + (seed % 6) * 500_000);
    for (const n of [...client.nics, ...server.nics]) n.inject = { ...n.inject, dropInterruptRate: Number(point.drop), delayInterruptsNs: Number(point.drop) > 0 ? delay : undefined };
    return { daemons: [server] };
  },
  measure(_ctx, r) {
    const c = r.nodes.client.counters;
    return { requests: c.req_ok ?? 0, load_s: (c.elapsed_ms ?? NaN) / 1000, requests_per_virtual_s: (c.req_ok ?? 0) / ((c.elapsed_ms ?? NaN) / 1000) };
  },
  invariants({ point }, r) {
    const REQUESTS = requests(point.close);
    const c = r.nodes.client.counters;
    const v: string[] = [];
    if (r.nodes.client.exitCode !== 0) v.push(`the load client ended with ${r.nodes.client.exitCode ?? "no exit (still waiting at until)"}`);
    if (c.req_ok !== REQUESTS) v.push(`${c.req_ok ?? 0} of ${REQUESTS} requests answered correctly (bad: ${c.req_bad ?? "?"}, connection errors: ${c.conn_errors ?? "?"})`);
    return v;
  },
};
export default scenario;
