// Failure hunting for TCP: `uniwasm hunt bench/experiments/tcp-invariants.ts`.
// Two kernels (tests/kernels/tcp-peer) move data both ways at once (one
// upload, one download) with small buffers (4 KiB: less than three segments;
// 32 KiB), so the windows close and reopen all the time, through a link that loses, duplicates, reorders and delays
// frames; a partition cuts the link for a moment in some runs. Beyond the
// built-in invariants (no trap, nothing stuck at `until`, memory bounded),
// every byte must reach the application once and in order: the clients check
// each byte of the download against the pattern, the server counts and
// CRCs the upload and the client compares.
import type { Scenario } from "../../host/sim/index.ts";

const BYTES = 60_000;

const scenario: Scenario = {
  name: "tcp-invariants",
  kernels: { peer: "../../tests/kernels/tcp-peer" },
  params: { buf: [4096, 32768], partition: [0, 1] },
  until: 120,
  // each kernel ends with 2.6 MiB of linear memory; a leak that grows it past
  // 8 MiB is caught long before the machine's 32 MiB run out
  maxMemory: 8 << 20,
  build({ world, kernels, point, seed }) {
    const common = `buf=${point.buf} deadline_s=100 tw_ms=200`;
    const client = world.node("client", { kernel: kernels.peer, memory: "32M", cmdline: `ip=10.0.0.1/24 role=client peer=10.0.0.2 bytes=${BYTES} modes=up,down linger_ms=500 ${common}` });
    const server = world.node("server", { kernel: kernels.peer, memory: "32M", cmdline: `ip=10.0.0.2/24 role=server expect=2 ${common}` });
    // the seed also varies the path a little, so thousands of seeds cover many timings
    const delayMs = 1 + (seed % 7);
    const link = world.link(client, server, { delayMs, jitterMs: 0.5, bandwidth: 20e6, queue: 30, loss: 0.03, duplicate: 0.01, reorder: 0.02, reorderDelayMs: 2 });
    if (point.partition) link.partition(0.2, 1.2);
  },
  measure(_ctx, r) {
    const c = r.nodes.client.counters;
    return { seconds: r.seconds, retransmits: (c["tcp.retransSegments"] ?? 0) + (r.nodes.server.counters["tcp.retransSegments"] ?? 0) };
  },
  invariants(_ctx, r) {
    const c = r.nodes.client.counters;
    const s = r.nodes.server.counters;
    const v: string[] = [];
    if (c.cli_bad_bytes !== 0) v.push(`the client read ${c.cli_bad_bytes} bytes that were not the ones sent (duplicated, out of order or corrupt)`);
    if (c.cli_ok !== 2) v.push(`${c.cli_ok ?? 0} of 2 transfers completed intact (failed: ${c.cli_failed ?? "?"})`);
    if (c.cli_bytes_checked !== 2 * BYTES) v.push(`the client checked ${c.cli_bytes_checked ?? 0} bytes, not ${2 * BYTES}`);
    if (s.srv_errors !== 0) v.push(`the server saw ${s.srv_errors ?? "?"} connection errors`);
    return v;
  },
};
export default scenario;
