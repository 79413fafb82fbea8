// ARP entries past their lifetime while in use: confirmed by unicast requests
// to the cached MAC while packets keep flowing (RFC 1122 2.3.2.1), forgotten
// only when that MAC stays silent. First the cache alone (kernel/net/arp.ts
// driven with explicit times by a kernel whose owner records every call),
// then a kernel sending a datagram every 50 ms for 130 s of virtual time to a
// scripted host: across both lifetimes' ends not one datagram waits or is
// lost, and when the host stops answering the entry is given up after three
// unicast requests and resolved again by broadcast.
import { beforeAll, describe, expect, it } from "vitest";
import { Machine } from "../host/machine.ts";
import { attachVirtioMmio } from "../host/virtio/attach.ts";
import { VirtioNet } from "../host/virtio/net.ts";
import { Network, ScriptedHost } from "../host/netsim/index.ts";
import { arpReply, ethernet } from "./helpers/frames.ts";
import { buildSourceWasm, runWasm } from "./helpers/kernel.ts";

const CACHE_KERNEL = `
import { ArpCache, ArpOwner, ARP_LIFETIME_NS, ARP_RETRY_NS } from "../../../kernel/net/arp";
import { ArpCounters } from "../../../kernel/net/counters";
import { println } from "../../../kernel/console";

class Owner extends ArpOwner {
  sendResolved(buf: usize, len: u32, mac: u64): void { println("sent " + buf.toString() + " to " + mac.toString(16)); }
  sendRequest(ip: u32, mac: u64): void { println("request " + ip.toString() + " to " + (mac ? mac.toString(16) : "broadcast")); }
  dropBuffer(buf: usize): void { println("dropped " + buf.toString()); }
  pollBy(at: u64): void { println("poll by " + (at / 1000000).toString() + " ms"); }
}

const S: u64 = 1000000000;
function look(c: ArpCache, ip: u32, at: u64): void {
  const m = c.lookup(ip, at);
  println("lookup " + ip.toString() + " at " + (at / 1000000).toString() + " ms: " + (m == u64.MAX_VALUE ? "none" : m.toString(16)));
}

export function main(): i32 {
  const counters = new ArpCounters();
  const c = new ArpCache(new Owner(), counters);
  if (ARP_LIFETIME_NS != 60 * S || ARP_RETRY_NS != S) return 2; // the times below assume these
  println("-- answered");
  c.update(1, 0xaa, 0, true);
  look(c, 1, 30 * S);
  look(c, 1, 61 * S);
  println("next " + (c.poll(61 * S + S / 2) / 1000000).toString() + " ms");
  c.poll(62 * S);
  look(c, 1, 62 * S + S / 2);
  c.update(1, 0xaa, 62 * S + S / 2, false); // the answer (a reply: not for creating, refreshing)
  println("next " + c.poll(63 * S).toString());
  look(c, 1, 100 * S);
  println("-- silent");
  c.update(2, 0xbb, 0, true);
  look(c, 2, 61 * S);
  c.poll(62 * S);
  c.poll(63 * S);
  look(c, 2, 63 * S + S / 2);
  c.poll(64 * S);
  look(c, 2, 64 * S);
  c.enqueue(2, 77, 60, 64 * S);
  println("unconfirmed=" + counters.unconfirmed.toString() + " drop_pending_full=" + counters.dropPendingFull.toString() + " drop_unresolved=" + counters.dropUnresolved.toString() + " size=" + c.size.toString() + " pending=" + c.pending.toString());
  return 0;
}
`;

describe("the ARP cache past an entry's lifetime", () => {
  let wasm: Uint8Array;
  beforeAll(async () => {
    wasm = await buildSourceWasm("arp-confirm", CACHE_KERNEL);
  }, 120_000);

  it("an entry in use is still answered and confirmed by unicast; an answer renews it, silence forgets it", async () => {
    const r = await runWasm(wasm);
    expect(r.exitCode, r.output).toBe(0);
    const lines = r.output.trim().split("\n");
    expect(lines).toEqual([
      "-- answered",
      "lookup 1 at 30000 ms: aa", // fresh: no request
      "request 1 to aa", // past its lifetime: asked again, unicast...
      "poll by 62000 ms",
      "lookup 1 at 61000 ms: aa", // ...and still sent to
      "next 62000 ms", // nothing due yet
      "request 1 to aa", // the second try
      "poll by 63000 ms",
      "lookup 1 at 62500 ms: aa",
      `next ${2n ** 64n - 1n}`, // answered: nothing left to do
      "lookup 1 at 100000 ms: aa", // renewed at 62.5 s: fresh until 122.5 s
      "-- silent",
      "request 2 to bb",
      "poll by 62000 ms",
      "lookup 2 at 61000 ms: bb",
      "request 2 to bb",
      "poll by 63000 ms",
      "request 2 to bb",
      "poll by 64000 ms",
      "lookup 2 at 63500 ms: bb", // three unicast requests, still sent to
      "lookup 2 at 64000 ms: none", // the third unanswered: forgotten
      "request 2 to broadcast", // the next packet starts a resolution
      "poll by 65000 ms",
      "unconfirmed=1 drop_pending_full=0 drop_unresolved=0 size=2 pending=1",
    ]);
  });
});

// A kernel at 10.0.0.2 sending datagram n (its text) every 50 ms to 10.0.0.1:9000, `count` of them.
const SENDER_KERNEL = `
import { Net, App, Kernel, UdpPort, DatagramHandler, Bytes } from "../../../index";
import { Task, MS } from "../../../kernel/sched/index";
import { args } from "../../../kernel/app/args";

class Quiet extends DatagramHandler {
  onDatagram(port: UdpPort, data: Bytes, ip: u32, fromPort: u32): void {}
}
let port: UdpPort | null = null;
let n: u32 = 0;
let count: u32 = 0;
class Tick extends Task {
  run(): void {
    // the end comes a tick after the last datagram, which is on the wire by then
    if (n == count) {
      Kernel.exit(0);
      return;
    }
    port!.sendTo(0x0a000001, 9000, n.toString());
    n++;
    Kernel.after(50 * MS, this);
  }
}
class Sender extends App {
  onUp(net: Net): void {
    port = net.bind(9001, new Quiet());
    Kernel.after(0, new Tick("tick"));
  }
}
export function main(): i32 {
  count = args.u32("count", 100);
  Net.up(new Sender());
  return Kernel.run();
}
`;

const KERNEL_MAC = "02:00:00:00:00:02";
const HOST_MAC = "02:00:00:00:00:fe";

interface Run {
  /** ARP requests the host saw: when (ms), and whether broadcast. */
  requests: { ms: number; broadcast: boolean }[];
  /** The datagrams' numbers, in arrival order, and when each arrived (ms). */
  got: { n: number; ms: number }[];
  arp: Record<string, number>;
  exitCode: number;
}

/** The sender for `count` datagrams against a host that answers ARP until `silentFromMs`. */
async function run(wasm: Uint8Array, count: number, silentFromMs = Infinity): Promise<Run> {
  const m = new Machine({ console: () => {}, cmdline: `ip=10.0.0.2/24 count=${count}`, memory: 16 << 20, seed: 3n });
  const net = new Network(m, { seed: 4n });
  const nic = new VirtioNet(m, { mac: KERNEL_MAC });
  nic.connect(net.port("kernel"));
  const host = new ScriptedHost(net, "host", Uint8Array.from([2, 0, 0, 0, 0, 0xfe]));
  net.connect(nic.port!, host.port, { latencyNs: 2_000_000 }); // an ARP round trip (4 ms) would show in the arrival times
  attachVirtioMmio(m, nic);
  const out: Run = { requests: [], got: [], arp: {}, exitCode: -1 };
  host.onFrame = (f, at) => {
    const ms = Number(at) / 1e6;
    const type = (f[12] << 8) | f[13];
    if (type === 0x0806 && ((f[20] << 8) | f[21]) === 1 && f.subarray(38, 42).join(".") === "10.0.0.1") {
      out.requests.push({ ms, broadcast: f.subarray(0, 6).every((b) => b === 0xff) });
      if (ms < silentFromMs) host.send(ethernet(KERNEL_MAC, HOST_MAC, 0x0806, arpReply(HOST_MAC, "10.0.0.1", KERNEL_MAC, "10.0.0.2")));
    } else if (type === 0x0800 && f[23] === 17) {
      const udpLen = (f[38] << 8) | f[39]; // the frame may carry Ethernet padding after it
      out.got.push({ n: Number(Buffer.from(f.subarray(42, 34 + udpLen)).toString()), ms });
    }
  };
  const r = await m.run(wasm);
  out.exitCode = r.exitCode;
  out.arp = (m.kernelCounters()?.arp ?? {}) as Record<string, number>;
  return out;
}

describe("a kernel sending across its entry's lifetime, on a simulated link", () => {
  let wasm: Uint8Array;
  beforeAll(async () => {
    wasm = await buildSourceWasm("arp-confirm-sender", SENDER_KERNEL);
  }, 120_000);

  it("every datagram arrives on time across two lifetimes' ends; each end costs one unicast request", async () => {
    const r = await run(wasm, 2600); // 130 s
    expect(r.exitCode).toBe(0);
    expect(r.got.map((g) => g.n)).toEqual([...Array(2600).keys()]);
    // none waited for ARP: after the first (which waited for the first resolution), each
    // arrived the same time after its 50 ms slot, to within a millisecond
    const late = r.got.slice(1).map((g) => g.ms - g.n * 50);
    const early = Math.min(...late);
    expect(late.map((x, i) => [i + 1, x - early]).filter(([, d]) => d >= 1)).toEqual([]);
    expect(r.requests.map((q) => q.broadcast)).toEqual([true, false, false]);
    expect(r.requests[1].ms).toBeGreaterThan(60_000);
    expect(r.requests[2].ms).toBeGreaterThan(120_000);
    expect(r.arp).toMatchObject({ drop_pending_full: 0, drop_unresolved: 0, unconfirmed: 0 });
  }, 120_000);

  it("a host that falls silent: three unicast requests 1 s apart while datagrams still go, then forgotten and asked by broadcast", async () => {
    const r = await run(wasm, 1400, 30_000); // 70 s; ARP answered only in the first 30 s
    expect(r.exitCode).toBe(0);
    const q = r.requests;
    expect(q[0].broadcast).toBe(true);
    expect(q.slice(1, 4).map((x) => x.broadcast)).toEqual([false, false, false]);
    expect(q[1].ms).toBeGreaterThan(60_000);
    expect(q[2].ms - q[1].ms).toBeCloseTo(1000, -1);
    expect(q[3].ms - q[2].ms).toBeCloseTo(1000, -1);
    expect(q[4].broadcast).toBe(true); // the next resolution, after the entry was given up
    expect(q[4].ms - q[3].ms).toBeGreaterThan(999);
    // datagrams kept flowing while the entry was being confirmed, none after it was forgotten
    const confirmingEnd = q[3].ms + 1000;
    expect(r.got.filter((g) => g.ms > q[1].ms && g.ms < confirmingEnd).length).toBeGreaterThanOrEqual(55);
    expect(r.got.filter((g) => g.ms > confirmingEnd + 1).length).toBe(0);
    expect(r.arp.unconfirmed).toBe(1);
    expect(r.arp.drop_unresolved).toBeGreaterThan(0);
  }, 120_000);
});
