// Interrupt liveness under load: `uniwasm hunt bench/experiments/irq-liveness.ts`.
// Two kernels (tests/kernels/tcp-peer): the client opens `conns` echo,
// upload and download connections at once to the server, each moving 40 KB
// checked byte by byte, while both virtio-net device models drop interrupts
// (at the point's rate, from the seeded generator) and raise the rest late
// (0.5-3 ms, varied by seed). Only the drivers' interrupt watchdog
// (drivers/virtio/irq.ts) can then keep the exchange going: the built-in
// invariant "nothing stuck at `until`" catches a stall, and every transfer
// must complete intact. With `--set drop=0` it is the same load without
// faults (the watchdog then must never have to step in). That the faults do
// stall a driver without the watchdog is shown by tests/virtio-node.test.ts
// ("liveness"), which runs the same faults with irq_watchdog=0.
//
// Found with it (seeds 17 and 50 at drop=0.3): not a driver stall but a TCP ACK war.
// After both ends' RTOs rewind SND.NXT (go-back-N), each end's pure ACKs carry
// the rewound SND.NXT, below the other's RCV.NXT; each end drops them as old
// without taking their ACK field (RFC 793's strict rule) and answers with
// another such ACK, so neither SND.UNA moves again, the ACKs multiply with
// every retransmission, and the connection never completes (see the replay's
// pcap). Fixed in kernel/net/tcp (output.ts ackSeq: pure ACKs carry SND.MAX,
// as Linux's never-rewound snd_nxt); the replay of seed 17 now passes.
import type { Scenario } from "../../host/sim/index.ts";

const BYTES = 40_000;
const CONNS = 8;

const scenario: Scenario = {
  name: "irq-liveness",
  kernels: { peer: "../../tests/kernels/tcp-peer" },
  params: { drop: [0, 0.05, 0.3] },
  until: 60,
  // each kernel ends with 5.1 MiB of linear memory; a leak past 12 MiB is
  // caught before the machine's 32 MiB run out
  maxMemory: 12 << 20,
  build({ world, kernels, point, seed }) {
    const common = "deadline_s=50 tw_ms=200";
    const client = world.node("client", { kernel: kernels.peer, memory: "32M", cmdline: `ip=10.0.0.1/24 role=client peer=10.0.0.2 bytes=${BYTES} conns=${CONNS} modes=echo,up,down linger_ms=500 ${common}` });
    const server = world.node("server", { kernel: kernels.peer, memory: "32M", cmdline: `ip=10.0.0.2/24 role=server expect=${3 * CONNS} ${common}` });
    world.link(client, server, { delayMs: 1, bandwidth: 100e6, queue: 100 });
    const delay = BigInt(500_000 + (seed % 6) * 500_000);
    for (const n of [...client.nics, ...server.nics]) n.inject = { ...n.inject, dropInterruptRate: Number(point.drop), delayInterruptsNs: Number(point.drop) > 0 ? delay : undefined };
  },
  measure(_ctx, r) {
    return { seconds: r.seconds };
  },
  invariants({ point }, r) {
    const c = r.nodes.client.counters;
    const s = r.nodes.server.counters;
    const v: string[] = [];
    if (c.cli_ok !== 3 * CONNS) v.push(`${c.cli_ok ?? 0} of ${3 * CONNS} transfers completed intact (failed: ${c.cli_failed ?? "?"})`);
    if (c.cli_bad_bytes !== 0) v.push(`the client read ${c.cli_bad_bytes} bytes that were not the ones sent`);
    if (s.srv_errors !== 0) v.push(`the server saw ${s.srv_errors ?? "?"} connection errors`);
    const recovered = /serviced by polling/.test(r.nodes.client.output + r.nodes.server.output);
    if (Number(point.drop) === 0 && recovered) v.push("with no interrupt dropped, the watchdog still had to service a line");
    return v;
  },
};
export default scenario;
