// The simulated gateway's port forwarding (host/netsim/tcp-forward.ts) on its
// own, in virtual time: connections relayed to apps/httpd through a link that
// loses, duplicates and reorders frames both ways, so the gateway's TCP must
// retransmit, and every byte must still arrive once and in order.
import { crc32 } from "node:zlib";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { buildSimKernel, type SimKernel } from "../host/sim/index.ts";
import { UserNetwork, GUEST_IP } from "../host/sim/user-net.ts";
import { World as KernelWorld } from "../host/world.ts";
import { ROOT } from "../tools/paths.ts";

let httpd: SimKernel;
beforeAll(async () => {
  httpd = await buildSimKernel(join(ROOT, "apps/httpd"), { outDir: join(ROOT, "build", "test", "sim-httpd") });
}, 300_000);

const ip = (s: string) => Uint8Array.from(s.split(".").map(Number));

/** A host stream that collects what the guest sends. */
function collector() {
  const chunks: Uint8Array[] = [];
  const s = { ended: false, failed: "", chunks, write: (d: Uint8Array) => void chunks.push(d), end: () => void (s.ended = true), destroy: (why: string) => void (s.failed = why) };
  return s;
}

async function gateway(link: Parameters<UserNetwork["link"]["set"]>[0], seed = 3n) {
  const world = new KernelWorld();
  const machine = world.machine({ memory: 64 << 20, cmdline: "", seed: 1n, console: () => {} });
  const net = new UserNetwork(world, machine, { seed });
  net.link.set(link);
  await world.boot(machine, httpd.wasm);
  world.run({ until: 3_000_000_000n }); // DHCP lease, servers listening
  return { world, net };
}

describe("port forwarding into the simulation", () => {
  for (const seed of [3n, 4n, 5n, 6n, 7n, 8n]) it(`relays HTTP requests byte-exact through loss, duplication and reordering, retransmitting as needed (seed ${seed})`, async () => {
    const { world, net } = await gateway({ loss: 0.05, duplicate: 0.02, reorder: 0.05, reorderDelayNs: 2_000_000, latencyNs: 2_000_000 }, seed);
    const streams = [200_000, 50_000, 1].map((n) => {
      const s = collector();
      const h = net.forwarder.open(ip(GUEST_IP), 80, s);
      net.forwarder.hostData(h, new TextEncoder().encode(`GET /${n} HTTP/1.1\r\nHost: x\r\n\r\n`));
      net.forwarder.hostEnd(h);
      return { n, s };
    });
    // and 100 KB up and back through the echo service: the gateway's own sending, through loss
    const up = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7 + (i >> 9)) & 255);
    const echo = collector();
    const e = net.forwarder.open(ip(GUEST_IP), 7, echo);
    for (let i = 0; i < up.length; i += 10_000) net.forwarder.hostData(e, up.subarray(i, i + 10_000));
    net.forwarder.hostEnd(e);
    world.run({ until: 120_000_000_000n });
    expect(echo.failed).toBe("");
    expect(Buffer.compare(Buffer.concat(echo.chunks), Buffer.from(up))).toBe(0);
    expect(echo.ended).toBe(true);
    for (const { n, s } of streams) {
      expect(s.failed).toBe("");
      expect(s.ended).toBe(true);
      const all = Buffer.concat(s.chunks);
      const split = all.indexOf("\r\n\r\n");
      const head = all.subarray(0, split).toString();
      const body = all.subarray(split + 4);
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      expect(body.length).toBe(n);
      expect(crc32(body)).toBe(Number(/X-Crc32: (\d+)/.exec(head)![1]));
    }
    expect(net.forwarder.stats.retransmits).toBeGreaterThan(0);
    expect(net.link.aToB.stats.lost + net.link.bToA.stats.lost).toBeGreaterThan(10);
    expect(net.forwarder.size).toBe(0); // every connection closed
  }, 300_000);

  it("holds the guest's sender to what a slow host reader takes: the relay buffers at most a window, and every byte arrives", async () => {
    const { world, net } = await gateway({ latencyNs: 1_000_000 });
    const s = collector();
    let taken = 0;
    let most = 0;
    const received = () => s.chunks.reduce((n, c) => n + c.length, 0);
    const stream = { ...s, write: (d: Uint8Array) => { s.write(d); most = Math.max(most, received() - taken); }, buffered: () => received() - taken };
    const h = net.forwarder.open(ip(GUEST_IP), 80, stream);
    net.forwarder.hostData(h, new TextEncoder().encode("GET /1000000 HTTP/1.1\r\nHost: x\r\n\r\n"));
    // the reader takes 20 KB every 100 ms (200 KB/s), and says when it has caught up
    for (let t = 0; t < 600 && !(s.ended && taken === received()); t++) {
      world.run({ until: world.clock.peek() + 100_000_000n });
      const before = taken;
      taken = Math.min(received(), taken + 20_000);
      if (taken === received() && taken > before) net.forwarder.hostDrained(h);
    }
    net.forwarder.hostEnd(h);
    world.run({ until: world.clock.peek() + 5_000_000_000n });
    const all = Buffer.concat(s.chunks);
    const split = all.indexOf("\r\n\r\n");
    const head = all.subarray(0, split).toString();
    const body = all.subarray(split + 4);
    expect(s.failed).toBe("");
    expect(body.length).toBe(1_000_000);
    expect(crc32(body)).toBe(Number(/X-Crc32: (\d+)/.exec(head)![1]));
    expect(most).toBeLessThanOrEqual(65535 + 1460); // a window, and the one segment a zero-window probe may carry
    expect(world.clock.peek()).toBeGreaterThan(4_000_000_000n); // the reader's pace, not the link's, set the time
    expect(net.forwarder.size).toBe(0);
  }, 120_000);

  it("says so when the guest refuses the port", async () => {
    const { world, net } = await gateway({});
    const s = collector();
    net.forwarder.open(ip(GUEST_IP), 81, s);
    world.run({ until: world.clock.peek() + 1_000_000_000n });
    expect(s.failed).toBe("the guest refused the connection");
    expect(net.forwarder.size).toBe(0);
  }, 120_000);
});
