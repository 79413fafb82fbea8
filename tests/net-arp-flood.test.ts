// The ARP cache under a SYN flood from spoofed local-subnet addresses: each
// spoofed SYN draws a SYN-ACK, so the victim must resolve a new address per
// SYN. Those pending resolutions have their own bound (ARP_INCOMPLETE) and
// never push out a resolved entry, so a real client's transfer, running
// through the flood, keeps its entry and loses nothing to ARP.
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { World } from "../host/world.ts";
import { attachVirtioMmio } from "../host/virtio/attach.ts";
import { VirtioNet } from "../host/virtio/net.ts";
import { Network, ScriptedHost } from "../host/netsim/index.ts";
import { checksum, ethernet, ip4, ipv4 } from "./helpers/frames.ts";
import { ROOT } from "../tools/paths.ts";
import { buildAppSimWasm } from "./helpers/kernel.ts";

let wasm: Uint8Array;
beforeAll(async () => {
  wasm = await buildAppSimWasm(join(ROOT, "tests/kernels/tcp-peer"));
}, 180_000);

const kv = (output: string) => Object.fromEntries(output.split("\n").filter((l) => /^[\w.]+=/.test(l)).map((l) => l.split(/=(.*)/s, 2)));
const arpLine = (output: string) => output.split("\n").find((l) => l.startsWith("net arp:")) ?? "";

const SERVER_MAC = "02:00:00:00:00:02";
const FLOOD_MAC = "02:00:00:00:00:66";

/** A TCP SYN from `src`:`sport` to `dst`:`dport`, checksum over the pseudo-header. */
function syn(src: string, dst: string, sport: number, dport: number, seq: number): Uint8Array {
  const t = new Uint8Array(20);
  const v = new DataView(t.buffer);
  v.setUint16(0, sport);
  v.setUint16(2, dport);
  v.setUint32(4, seq >>> 0);
  t[12] = 5 << 4;
  t[13] = 0x02;
  v.setUint16(14, 65535);
  const pseudo = new Uint8Array([...ip4(src), ...ip4(dst), 0, 6, 0, 20]);
  v.setUint16(16, checksum(pseudo, t));
  return t;
}

async function run(flood: boolean) {
  const world = new World();
  const net = new Network(world, { seed: 13n });
  const client = world.machine({ console: () => {}, memory: 128 << 20, seed: 1n, cmdline: "ip=10.0.0.1/24 role=client peer=10.0.0.2 bytes=300000 modes=echo,up" });
  const server = world.machine({ console: () => {}, memory: 128 << 20, seed: 2n, cmdline: "ip=10.0.0.2/24 role=server expect=2" });
  const a = new VirtioNet(client, { mac: "02:00:00:00:00:01" });
  const b = new VirtioNet(server, { mac: SERVER_MAC });
  a.connect(net.port("client"));
  b.connect(net.port("server"));
  const sw = net.switch();
  const link = { latencyNs: 200_000, bandwidthBps: 100e6 };
  net.connect(a.port!, sw.port(), link);
  net.connect(b.port!, sw.port(), link);
  const flooder = new ScriptedHost(net, "flooder");
  net.connect(flooder.port, sw.port(), link);
  attachVirtioMmio(client, a);
  attachVirtioMmio(server, b);
  let syns = 0;
  if (flood) {
    // From 2 ms on (the client has its connections by then), every 20 us: a SYN to the echo port
    // from one of 200 spoofed neighbours that never answer ARP.
    for (let i = 0; i < 20_000; i++) {
      const src = `10.0.0.${20 + (i % 200)}`;
      flooder.sendAt(2_000_000n + BigInt(i) * 20_000n, ethernet(SERVER_MAC, FLOOD_MAC, 0x0800, ipv4({ src, dst: "10.0.0.2", proto: 6, id: i & 0xffff, payload: syn(src, "10.0.0.2", 1024 + (i % 50000), 7, i * 7919) })));
      syns++;
    }
  }
  await world.boot(client, wasm);
  await world.boot(server, wasm);
  const [c, s] = world.run({ until: 120_000_000_000n });
  return { c: c!, s: s!, ck: kv(c!.output), sk: kv(s!.output), sArp: arpLine(s!.output), syns, flooder };
}

it("a SYN flood from spoofed neighbours churns only the pending ARP rows: the real client keeps its entry and loses nothing", async () => {
  const quiet = await run(false);
  expect(quiet.c.exitCode, quiet.c.output.slice(-2000)).toBe(0);
  const r = await run(true);
  expect(r.c.exitCode, r.c.output.slice(-2000)).toBe(0);
  expect(r.s.exitCode, r.s.output.slice(-2000)).toBe(0);
  expect(r.ck).toMatchObject({ cli_started: "2", cli_ok: "2", cli_failed: "0", cli_bad_bytes: "0" });
  // the flood really made the server resolve spoofed addresses, beyond the pending bound
  const arpRequests = r.flooder.received.filter((f) => f.frame[12] === 8 && f.frame[13] === 6 && f.frame[21] === 1).length;
  console.log(`flood: ${arpRequests} ARP requests for spoofed neighbours; server ${r.sArp}`);
  expect(arpRequests).toBeGreaterThan(200);
  // ...yet no resolved entry was pushed out, the server never had to ask for the client's
  // address again (it learned it from the client's own request), and the client's transfer
  // went as on a quiet network: no segment was lost to ARP and sent again
  expect(r.sArp).not.toMatch(/ evictions=/);
  expect(r.sArp).toMatch(/ rx_rep=0 /);
  expect(r.sk["tcp.retransSegments"] ?? "0").toBe(quiet.sk["tcp.retransSegments"] ?? "0");
  expect(r.ck["tcp.retransSegments"] ?? "0").toBe(quiet.ck["tcp.retransSegments"] ?? "0");
  // what gave way instead: the pending resolutions of the spoofed addresses, oldest first
  expect(r.sArp).toMatch(/pending_evictions=\d+/);
}, 240_000);
