// The virtio drivers against the Node platform's virtio-mmio device models:
// the same AssemblyScript driver that runs QEMU's devices, exercised with
// things QEMU never does on purpose — a device that refuses a feature, rings
// wrapping many times over, event-index suppression, receive-buffer
// exhaustion, and used elements with bogus ids or lengths.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Machine } from "../host/machine.ts";
import { attachVirtioMmio } from "../host/virtio/attach.ts";
import { VirtioNet, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_CSUM, VIRTIO_NET_DEFAULT_FEATURES, parseMac } from "../host/virtio/net.ts";
import { VirtioRng } from "../host/virtio/rng.ts";
import { VIRTIO_F_EVENT_IDX, bits } from "../host/virtio/device.ts";
import { Network, ScriptedHost } from "../host/netsim/index.ts";
import { ROOT } from "../tools/paths.ts";
import { buildAppWasm, buildSourceWasm } from "./helpers/kernel.ts";

// A test kernel: one NIC on virtio-mmio, driven through the scheduler, doing
// what `mode=` on the command line says, then printing `key=value` results.
const KERNEL = `
import { println } from "../../../kernel/console";
import { clock_ns, wait } from "../../../kernel/hal";
import { commandLine, cmdlineValue } from "../../../kernel/cmdline";
import { PacketPool, PKT_HEADROOM } from "../../../kernel/mem/pktbuf";
import { NetDevice, NetReceiver, TxResult } from "../../../kernel/net/device";
import { Scheduler, Task, MS } from "../../../kernel/sched/index";
import { virtioDevices, VirtioNet, VirtioRng, InitResult, initResultName, featureNames, routeNetIrq, routeIrq, irqWatchdog, NET_WANTED, NET_F_MRG_RXBUF, DEVICE_NET, DEVICE_RNG } from "../../../drivers/virtio/index";

function arg(name: string, def: i32): i32 {
  const v = cmdlineValue(name);
  return v != null ? I32.parseInt(v) : def;
}
function has(word: string): bool { return commandLine().indexOf(word) >= 0; }
function out(k: string, v: u64): void { println(k + "=" + v.toString()); }

let sched!: Scheduler;
let dev!: VirtioNet;
let pool!: PacketPool;
let target: i32 = 0;
let received: i32 = 0;
let sent: i32 = 0;
let echo = false;
let hold = false;
let held = new Array<usize>();
let badPayload: i32 = 0;

class Rx extends NetReceiver {
  receive(d: NetDevice, buf: usize, len: u32, flags: u32): void {
    const f = buf + PKT_HEADROOM;
    // Test frames carry their sequence number at byte 14 and (len & 0xff) at every later byte.
    if (load<u32>(f + 14) != <u32>received) badPayload++;
    else for (let i: u32 = 18; i < len; i++) if (load<u8>(f + i) != <u8>len) { badPayload++; break; }
    received++;
    if (echo) {
      // Back to the sender in the same buffer: swap the MAC addresses.
      for (let i = 0; i < 6; i++) {
        const t = load<u8>(f + i);
        store<u8>(f + i, load<u8>(f + 6 + i));
        store<u8>(f + 6 + i, t);
      }
      if (d.transmit(buf, len, 0, 0) == TxResult.Ok) sent++;
      else d.pool.free(buf);
    } else if (hold) held.push(buf);
    else d.pool.free(buf);
    if (received >= target) sched.stop();
  }
}

class Sender extends Task {
  n: i32 = 0;
  run(): void {
    // Bursts of up to 64 frames, lengths 60..1514; on Full, wait 20 us and
    // retry (time stands still in the simulation while a task spins).
    let full = false;
    for (let k = 0; k < 64 && this.n < target; k++) {
      const buf = pool.alloc();
      if (buf == 0) break;
      const len: u32 = 60 + <u32>((this.n * 37) % 1455);
      const f = buf + PKT_HEADROOM;
      memory.fill(f, 0xff, 6);
      memory.copy(f + 6, changetype<usize>(dev.mac), 6);
      store<u16>(f + 12, 0xb588);
      store<u32>(f + 14, <u32>this.n);
      memory.fill(f + 18, <u8>len, len - 18);
      const r = dev.transmit(buf, len, 0, 0);
      if (r != TxResult.Ok) { pool.free(buf); full = true; break; }
      this.n++;
      sent++;
    }
    dev.flush();
    if (this.n < target) {
      if (full) this.sleep(20_000);
      else this.yield();
    }
    else if (dev.tx!.inFlight > 0) { dev.poll(0); this.sleep(100_000); }
    else sched.stop();
  }
}

class Releaser extends Task {
  run(): void {
    // Exhaustion over: give every held buffer back and let the driver refill
    // (with release_quietly, the way a stack gives buffers back: nothing
    // tells the driver, which has to notice by itself).
    out("held", held.length);
    out("rx_no_buffer_while_held", dev.stats.rxNoBuffer);
    for (let i = 0; i < held.length; i++) pool.free(held[i]);
    held.length = 0;
    hold = false;
    if (!has("release_quietly")) dev.poll(1 << 30);
  }
}

class Poller extends Task {
  run(): void { dev.poll(1 << 30); }
}

class Deadline extends Task {
  run(): void { println("timeout"); sched.stop(); }
}

class CsumSender extends Task {
  run(): void {
    if (this.runs > 0) { sched.stop(); return; }
    // An IPv4/UDP frame with a partial checksum: pseudo-header sum in the field.
    const buf = pool.alloc();
    const f = buf + PKT_HEADROOM;
    const payload: u32 = 21;
    const len: u32 = 14 + 20 + 8 + payload;
    memory.fill(f, 0, len);
    memory.fill(f, 0xff, 6);
    memory.copy(f + 6, changetype<usize>(dev.mac), 6);
    store<u8>(f + 12, 0x08);
    const ip = f + 14;
    store<u8>(ip, 0x45);
    store<u8>(ip + 3, <u8>(20 + 8 + payload));
    store<u8>(ip + 8, 64);
    store<u8>(ip + 9, 17);
    store<u32>(ip + 12, 0x0f02000a); // 10.0.2.15
    store<u32>(ip + 16, 0x0202000a); // 10.0.2.2
    // header checksum
    let s: u32 = 0;
    for (let i = 0; i < 20; i += 2) s += (<u32>load<u8>(ip + i) << 8) | load<u8>(ip + i + 1);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    store<u8>(ip + 10, <u8>((~s >> 8) & 0xff));
    store<u8>(ip + 11, <u8>(~s & 0xff));
    const udp = ip + 20;
    store<u8>(udp, 0x30); store<u8>(udp + 1, 0x39);   // 12345
    store<u8>(udp + 2, 0x00); store<u8>(udp + 3, 0x35); // 53
    store<u8>(udp + 5, <u8>(8 + payload));
    for (let i: u32 = 0; i < payload; i++) store<u8>(udp + 8 + i, <u8>(i * 7 + 1));
    // pseudo-header: src, dst, proto, udp length
    let p: u32 = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 17 + 8 + payload;
    while (p >> 16) p = (p & 0xffff) + (p >> 16);
    store<u8>(udp + 6, <u8>(p >> 8));
    store<u8>(udp + 7, <u8>p);
    out("csum_tx", dev.transmit(buf, len, 34, 6));
    dev.flush();
    this.sleep(MS);
  }
}

export function main(): i32 {
  const found = virtioDevices();
  for (let i = 0; i < found.problems.length; i++) println("problem " + found.problems[i]);
  const nets = found.ofType(DEVICE_NET);
  if (nets.length == 0) { println("no nic"); return 2; }
  pool = new PacketPool(<u32>arg("pool", 1024));
  sched = new Scheduler();
  dev = new VirtioNet(nets[0], pool);
  let r = dev.init(NET_WANTED, <u32>arg("rxq", 128), <u32>arg("txq", 256));
  out("init", r);
  if (r == InitResult.FeaturesRejected) {
    println("init failed: " + initResultName(r));
    // The device refused what we accepted: reset and try without the extras.
    r = dev.init(NET_WANTED & ~NET_F_MRG_RXBUF);
    out("init_retry", r);
  }
  if (r != InitResult.Ok) return 3;
  println("features " + featureNames(DEVICE_NET, dev.features));
  println("mac " + dev.macString());
  println("link " + (dev.linkUp() ? "up" : "down"));
  out("caps", dev.caps);
  const rngs = found.ofType(DEVICE_RNG);
  if (rngs.length) {
    const rng = new VirtioRng(rngs[0]);
    out("rng_init", rng.init());
    const tmp = memory.data(64);
    out("rng_bytes", rng.read(tmp, 64));
    let nz = 0;
    for (let i = 0; i < 64; i++) if (load<u8>(tmp + i) != 0) nz++;
    out("rng_nonzero", nz);
    routeIrq(sched, rngs[0].line, rng);
  }
  dev.setReceiver(new Rx());
  if (!has("polling")) routeNetIrq(sched, dev);
  target = arg("n", 0);
  echo = has("mode=echo");
  hold = has("mode=hold");
  if (has("polling")) {
    dev.setPolling(true);
    sched.every(new Poller("poller"), MS);
  }
  if (has("mode=tx")) sched.spawn(new Sender("sender"));
  if (has("mode=csum")) sched.spawn(new CsumSender("csum"));
  if (hold) sched.at(new Releaser("release"), <u64>arg("release_ms", 50) * MS);
  sched.at(new Deadline("deadline"), <u64>arg("timeout_ms", 10000) * MS);
  sched.run();
  // Let the device finish what is queued (echoes still in the transmit ring).
  dev.flush();
  for (let i = 0; i < 1000 && dev.tx!.inFlight > 0; i++) {
    wait(clock_ns() + 100_000);
    dev.poll(0);
  }
  const st = dev.stats;
  out("received", received);
  out("sent", sent);
  out("bad_payload", badPayload);
  out("tx_packets", st.txPackets);
  out("tx_kicks", st.txKicks);
  out("tx_sw_csum", st.txSwCsum);
  out("rx_packets", st.rxPackets);
  out("rx_dropped", st.rxDropped);
  out("rx_no_buffer", st.rxNoBuffer);
  out("interrupts", st.interrupts);
  const wd = irqWatchdog(sched, dev.line);
  if (wd) out("irq_recoveries", wd.recoveries);
  if (wd) out("irq_renotified", wd.renotified);
  out("tx_renotified", dev.tx!.stats.renotified);
  out("rx_renotified", dev.rx!.stats.renotified);
  out("rx_bad_id", dev.rx!.stats.badId);
  out("rx_bad_len", dev.rx!.stats.badLen);
  out("rx_not_in_flight", dev.rx!.stats.notInFlight);
  out("tx_bad_id", dev.tx!.stats.badId);
  out("tx_bad_len", dev.tx!.stats.badLen);
  out("rx_kicks", dev.rx!.stats.kicks);
  out("rx_kicks_suppressed", dev.rx!.stats.kicksSuppressed);
  out("tx_kicks_suppressed", dev.tx!.stats.kicksSuppressed);
  out("pool_in_use", pool.inUse);
  out("pool_high_water", pool.highWater);
  out("pool_alloc_failures", pool.allocFailures);
  out("pool_bad_frees", pool.badFrees);
  out("tx_in_flight", dev.tx!.inFlight);
  out("now_ms", clock_ns() / MS);
  return 0;
}
`;

function results(output: string): Record<string, number> {
  const r: Record<string, number> = {};
  for (const m of output.matchAll(/^(\w+)=(\d+)$/gm)) r[m[1]] = Number(m[2]);
  return r;
}

/** A frame from the scripted host: sequence number at 14, (len & 0xff) after it, like the kernel's. */
function testFrame(dst: Uint8Array, src: Uint8Array, seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len).fill(len & 0xff);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, seq, true);
  return f;
}

interface Setup {
  features?: bigint;
  refuse?: bigint[];
  queueSize?: number;
  cmdline: string;
  rng?: boolean;
}

function machine(s: Setup) {
  const m = new Machine({ console: () => {}, cmdline: s.cmdline, memory: 32 << 20 });
  const net = new Network(m);
  const nic = new VirtioNet(m, { features: s.features, refuse: s.refuse, queueSize: s.queueSize });
  const host = new ScriptedHost(net, "peer", parseMac("02:00:00:00:00:fe"));
  const nicPort = net.port("nic");
  nic.connect(nicPort);
  net.connect(nicPort, host.port, { latencyNs: 10_000 });
  attachVirtioMmio(m, nic);
  let rng: VirtioRng | undefined;
  if (s.rng) {
    rng = new VirtioRng(m, { maxBytesPerRequest: 16 });
    attachVirtioMmio(m, rng);
  }
  return { m, nic, host, net, rng };
}

describe("virtio drivers on the Node platform's device models", () => {
  let wasm: Uint8Array;
  beforeAll(async () => {
    wasm = await buildSourceWasm("virtio-net-test", KERNEL);
  }, 120_000);

  it("tests/kernels/netinfo finds the virtio-mmio NIC and resolves the gateway with ARP", async () => {
    const app = await buildAppWasm(join(ROOT, "tests/kernels/netinfo"));
    const { m, host } = machine({ cmdline: "" });
    const gw = parseMac("52:55:0a:00:02:02");
    host.onFrame = (f) => {
      if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x06 || f[21] !== 1) return;
      const reply = new Uint8Array(60);
      reply.set(f.subarray(6, 12), 0);
      reply.set(gw, 6);
      reply.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2], 12);
      reply.set(gw, 22);
      reply.set(f.subarray(38, 42), 28);
      reply.set(f.subarray(22, 32), 32);
      host.send(reply);
    };
    const r = await m.run(app);
    expect(r.output).toMatch(/virtio-net0 transport mmio 0xfeb00000 irq 16/);
    expect(r.output).toContain("virtio-net0 mac 52:54:00:12:34:56\n");
    expect(r.output).toContain("virtio-net0 link up mtu 1500\n");
    expect(r.output).toMatch(/virtio-net0 features CSUM GUEST_CSUM MTU MAC MRG_RXBUF STATUS EVENT_IDX VERSION_1/);
    expect(r.output).toContain("virtio-net0 gateway 10.0.2.2 is at 52:55:0a:00:02:02");
    expect(r.exitCode).toBe(0);
  });

  it("negotiation: takes the intersection, and recovers when the device refuses a feature", async () => {
    const { m, nic } = machine({ cmdline: "mode=none timeout_ms=1", refuse: [bits(VIRTIO_NET_F_MRG_RXBUF)] });
    const r = await m.run(wasm);
    const v = results(r.output);
    expect(r.output).toContain("init failed: device rejected the negotiated features (FEATURES_OK not set)");
    expect(v.init).toBe(2);
    expect(v.init_retry).toBe(0);
    expect(r.output).not.toMatch(/features .*MRG_RXBUF/);
    expect(nic.stats.featureRefusals).toBe(1);
    expect(nic.negotiated & bits(VIRTIO_NET_F_MRG_RXBUF)).toBe(0n);
    expect(r.exitCode).toBe(0);

    // A device offering less: no EVENT_IDX, no CSUM.
    const f = VIRTIO_NET_DEFAULT_FEATURES & ~bits(VIRTIO_F_EVENT_IDX, VIRTIO_NET_F_CSUM);
    const b = machine({ cmdline: "mode=none timeout_ms=1", features: f });
    const r2 = await b.m.run(wasm);
    expect(r2.output).toMatch(/^features GUEST_CSUM MTU MAC MRG_RXBUF STATUS VERSION_1$/m);
    expect(results(r2.output).caps).toBe(2); // RX_CSUM only
    expect(b.nic.warnings).toEqual([]);
  });

  it("transmits thousands of frames through a small ring, wrapping it hundreds of times, batched", async () => {
    const n = 20000;
    const { m, nic, host } = machine({ cmdline: `mode=tx n=${n} txq=16 timeout_ms=60000`, queueSize: 16 });
    const r = await m.run(wasm);
    const v = results(r.output);
    expect(r.exitCode).toBe(0);
    expect(v.sent).toBe(n);
    expect(nic.net.txFrames).toBe(n);
    const frames = host.take();
    expect(frames.length).toBe(n);
    for (let i = 0; i < n; i += 997) {
      const f = frames[i].frame;
      expect(new DataView(f.buffer, f.byteOffset).getUint32(14, true)).toBe(i);
      expect(f.length).toBe(60 + ((i * 37) % 1455));
      expect(f[f.length - 1]).toBe(f.length & 0xff);
    }
    expect(v.tx_in_flight).toBe(0);
    expect(v.pool_in_use).toBe(16); // just the posted receive buffers
    expect(v.tx_kicks).toBeLessThan(n / 4); // one notification per batch, not per frame
    expect(nic.warnings).toEqual([]);
  }, 120_000);

  it("receives and echoes 70,000 frames (the 16-bit ring indices wrap), zero copy", async () => {
    const n = 70000;
    const { m, nic, host } = machine({ cmdline: `mode=echo n=${n} rxq=32 txq=32 timeout_ms=600000`, queueSize: 32 });
    const src = host.mac;
    let seq = 0;
    // 16 frames at a time, the next burst when the echoes of this one are back.
    const burst = () => {
      for (let k = 0; k < 16 && seq < n; k++, seq++) host.send(testFrame(parseMac("52:54:00:12:34:56"), src, seq, 60 + (seq % 200)));
    };
    let back = 0;
    host.onFrame = () => {
      if (++back % 16 === 0) burst();
    };
    m.events.schedule(1_000_000n, burst);
    const r = await m.run(wasm);
    const v = results(r.output);
    expect(r.exitCode).toBe(0);
    expect(v.received).toBe(n);
    expect(v.bad_payload).toBe(0);
    expect(back).toBe(n);
    expect(nic.queues[0].stats.used).toBe(n);
    expect(v.interrupts).toBeGreaterThan(0);
    expect(nic.warnings).toEqual([]);
  }, 300_000);

  it("liveness: with interrupts dropped (1 in 5) and late (3 ms), an echo ping-pong of 3000 frames completes through the watchdog's polling, and stalls without it", async () => {
    const n = 3000;
    const run = async (cmdline: string) => {
      const s = machine({ cmdline: `mode=echo n=${n} rxq=32 txq=32 timeout_ms=20000 ${cmdline}`, queueSize: 32 });
      let seq = 0;
      // 8 frames at a time, the next burst when this one's echoes are back: a lost
      // interrupt leaves nothing else that would raise the line.
      const burst = () => {
        for (let k = 0; k < 8 && seq < n; k++, seq++) s.host.send(testFrame(parseMac("52:54:00:12:34:56"), s.host.mac, seq, 60 + (seq % 300)));
      };
      let back = 0;
      s.host.onFrame = () => {
        if (++back % 8 === 0) burst();
      };
      s.m.events.schedule(1_000_000n, () => {
        s.nic.inject = { ...s.nic.inject, dropInterruptRate: 0.2, delayInterruptsNs: 3_000_000n };
        burst();
      });
      const r = await s.m.run(wasm);
      return { r, v: results(r.output), nic: s.nic, back };
    };
    const on = await run("");
    expect(on.r.exitCode).toBe(0);
    expect(on.r.output).not.toContain("timeout");
    expect(on.v.received).toBe(n);
    expect(on.back).toBe(n);
    expect(on.v.bad_payload).toBe(0);
    expect(on.nic.stats.interruptsDropped).toBeGreaterThan(10);
    expect(on.nic.stats.interruptsDelayed).toBeGreaterThan(10);
    expect(on.v.irq_recoveries).toBeGreaterThan(0);
    expect(on.r.output).toMatch(/^irq16: completed device work waited 20 ms with no interrupt; serviced by polling \(1 time\)$/m);
    expect(on.nic.warnings).toEqual([]);

    // The same without the watchdog: the first lost interrupt stalls the exchange until the deadline.
    const off = await run("irq_watchdog=0");
    expect(off.r.output).toContain("timeout");
    expect(off.v.received).toBeLessThan(n);
    expect(off.v.irq_recoveries).toBeUndefined();
    expect(off.nic.stats.interruptsDropped).toBeGreaterThan(0);
  }, 120_000);

  it("liveness: with 1 in 5 transmit notifications lost, 3000 frames go out through the watchdog's renotification, with EVENT_IDX and with the flags; without the watchdog the first loss stalls the queue for good", async () => {
    const n = 3000;
    const run = async (cmdline: string, features?: bigint) => {
      const s = machine({ cmdline: `mode=tx n=${n} txq=32 timeout_ms=20000 ${cmdline}`, queueSize: 32, features });
      s.nic.inject = { loseNotifyRate: 0.2, loseNotifyQueue: 1 };
      const r = await s.m.run(wasm);
      return { r, v: results(r.output), nic: s.nic, frames: s.host.take() };
    };
    for (const features of [undefined, VIRTIO_NET_DEFAULT_FEATURES & ~bits(VIRTIO_F_EVENT_IDX)]) {
      const on = await run("", features);
      expect(on.r.exitCode).toBe(0);
      expect(on.r.output).not.toContain("timeout");
      expect(on.v.sent).toBe(n);
      expect(on.frames.length).toBe(n);
      for (let i = 0; i < n; i += 101) expect(new DataView(on.frames[i].frame.buffer, on.frames[i].frame.byteOffset).getUint32(14, true)).toBe(i);
      expect(on.v.tx_in_flight).toBe(0);
      expect(on.nic.stats.notifiesLost).toBeGreaterThan(5);
      // Each loss costs the queue one or two watchdog periods, and one notification sent again.
      expect(on.v.tx_renotified).toBeGreaterThan(0);
      expect(on.v.tx_renotified).toBeLessThanOrEqual(on.nic.stats.notifiesLost);
      expect(on.v.irq_renotified).toBe(on.v.tx_renotified + on.v.rx_renotified);
      expect(on.r.output).toMatch(/^virtio-net0: the device sat a watchdog period on \d+ transmit buffers, waiting for a notification that never came; notified again \(1 time\)$/m);
      expect(on.r.output).toMatch(/^virtio-net0: .* transmit buffers, .*notified again \(10 times\)$/m);
      expect(on.v.now_ms).toBeLessThan(on.nic.stats.notifiesLost * 50 + 1000);
      expect(on.nic.warnings).toEqual([]);
    }

    const off = await run("irq_watchdog=0");
    expect(off.r.output).toContain("timeout");
    expect(off.v.tx_renotified).toBe(0);
    expect(off.frames.length).toBeLessThan(n);
    expect(off.nic.stats.notifiesLost).toBe(1);
  }, 120_000);

  it("liveness: a receive ring left dry by an empty pool is refilled by the watchdog once buffers come back, though no frame and no interrupt can arrive", async () => {
    const run = async (cmdline: string) => {
      // 48 buffers, 32 posted; the kernel holds every frame until 50 ms, then
      // frees them without telling the driver.
      const s = machine({ cmdline: `mode=hold n=80 pool=48 rxq=32 release_ms=50 release_quietly timeout_ms=1000 ${cmdline}` });
      let seq = 0;
      for (let i = 0; i < 60; i++) s.host.sendAt(BigInt(1_000_000 + i * 100_000), testFrame(parseMac("52:54:00:12:34:56"), s.host.mac, seq++, 64));
      for (let i = 0; i < 100; i++) s.host.sendAt(BigInt(100_000_000 + i * 1_000_000), testFrame(parseMac("52:54:00:12:34:56"), s.host.mac, 0, 64));
      const r = await s.m.run(wasm);
      return { r, v: results(r.output), nic: s.nic };
    };
    const on = await run("");
    expect(on.r.exitCode).toBe(0);
    expect(on.v.held).toBe(48);
    expect(on.v.rx_no_buffer_while_held).toBeGreaterThan(0);
    expect(on.r.output).not.toContain("timeout");
    expect(on.v.received).toBe(80);
    expect(on.v.irq_recoveries).toBeGreaterThan(0);
    expect(on.nic.warnings).toEqual([]);

    const off = await run("irq_watchdog=0");
    expect(off.r.output).toContain("timeout");
    expect(off.v.received).toBe(48);
  }, 60_000);

  it("notification suppression: a polling driver gets no interrupts, with EVENT_IDX and with the flags", async () => {
    const n = 2000;
    const run = async (features: bigint | undefined, polling: boolean) => {
      const s = machine({ cmdline: `mode=echo n=${n} timeout_ms=60000${polling ? " polling" : ""}`, features });
      let seq = 0;
      // 50 frames back to back every 1 ms
      for (let t = 1; seq < n; t++) {
        const at = BigInt(t) * 1_000_000n + 500_000n;
        for (let k = 0; k < 50 && seq < n; k++, seq++) s.host.sendAt(at, testFrame(parseMac("52:54:00:12:34:56"), s.host.mac, seq, 100));
      }
      const r = await s.m.run(wasm);
      const v = results(r.output);
      expect(r.exitCode).toBe(0);
      expect(v.received).toBe(n);
      expect(v.bad_payload).toBe(0);
      expect(s.nic.warnings).toEqual([]);
      return { v, nic: s.nic };
    };
    const all = VIRTIO_NET_DEFAULT_FEATURES;
    const noIdx = all & ~bits(VIRTIO_F_EVENT_IDX);
    // Interrupt-driven: the device interrupts when the driver asked (it keeps up, so about once a frame).
    const irq = await run(all, false);
    expect(irq.nic.eventIdx).toBe(true);
    expect(irq.v.interrupts).toBeGreaterThan(0);
    // Polling, with used_event (EVENT_IDX) and with VIRTQ_AVAIL_F_NO_INTERRUPT: no interrupt at all.
    for (const f of [all, noIdx]) {
      const p = await run(f, true);
      expect(p.nic.eventIdx).toBe(f === all);
      expect(p.nic.stats.interrupts).toBe(0);
      expect(p.nic.queues[0].stats.suppressed).toBeGreaterThanOrEqual(n);
      expect(p.nic.queues[0].stats.notified).toBe(0);
      expect(p.nic.queues[1].stats.notified).toBe(0);
      // Transmit notifications: one per 32-frame batch (txBatch) or poll, not one per frame.
      expect(p.v.tx_kicks).toBeLessThanOrEqual(2 * (n / 50) + 10);
    }
  }, 120_000);

  it("receive-buffer exhaustion: counted drops while the pool is empty, full recovery after", async () => {
    // 48 buffers: 32 posted; the kernel holds every frame it gets until 50 ms.
    const { m, nic, host } = machine({ cmdline: "mode=hold n=140 pool=48 rxq=32 release_ms=50 timeout_ms=1000" });
    let seq = 0;
    for (let i = 0; i < 100; i++) host.sendAt(BigInt(1_000_000 + i * 100_000), testFrame(parseMac("52:54:00:12:34:56"), host.mac, seq++, 64));
    for (let i = 0; i < 100; i++) host.sendAt(BigInt(60_000_000 + i * 100_000), testFrame(parseMac("52:54:00:12:34:56"), host.mac, 0, 64));
    const r = await m.run(wasm);
    const v = results(r.output);
    expect(r.exitCode).toBe(0);
    expect(v.held).toBe(48); // everything the pool had
    expect(v.rx_no_buffer_while_held).toBeGreaterThan(0);
    expect(nic.net.rxNoBuffer).toBeGreaterThan(0); // the device dropped what found no buffer
    expect(v.received).toBe(140); // after release: frames flow again
    expect(v.pool_alloc_failures).toBeGreaterThan(0);
    expect(v.pool_bad_frees).toBe(0);
    expect(nic.warnings).toEqual([]);
  });

  it("rejects used elements with a bogus descriptor id or length, and keeps going", async () => {
    const n = 200;
    const { m, nic, host } = machine({ cmdline: `mode=echo n=${n - 2} timeout_ms=1000` });
    for (let i = 0; i < n; i++) {
      const at = BigInt(1_000_000 + i * 100_000);
      if (i === 50) m.events.schedule(at - 1n, () => { nic.inject = { ...nic.inject, usedIdOutOfRange: true, queue: 0 }; });
      if (i === 120) m.events.schedule(at - 1n, () => { nic.inject = { ...nic.inject, usedLenTooLarge: true, queue: 0 }; });
      host.sendAt(at, testFrame(parseMac("52:54:00:12:34:56"), host.mac, i < 50 ? i : i < 120 ? i - 1 : i - 2, 80));
    }
    // The tx side too: a bogus id on a transmit completion.
    m.events.schedule(15_000_000n, () => { nic.inject = { ...nic.inject, usedIdOutOfRange: true, queue: 1 }; });
    const r = await m.run(wasm);
    const v = results(r.output);
    expect(r.exitCode).toBe(0);
    expect(v.rx_bad_id).toBe(1);
    expect(v.rx_bad_len).toBe(1);
    expect(v.tx_bad_id).toBe(1);
    expect(v.rx_dropped).toBe(1); // the bad-length one: its buffer was reclaimed, the frame dropped
    expect(v.received).toBe(n - 2);
    expect(v.bad_payload).toBe(0);
    expect(v.pool_bad_frees).toBe(0);
  });

  it("checksums: offloaded when the device offers CSUM, computed in software otherwise — same bytes", async () => {
    const sendOne = async (features?: bigint) => {
      const s = machine({ cmdline: "mode=csum timeout_ms=100", features });
      const r = await s.m.run(wasm);
      expect(r.exitCode).toBe(0);
      expect(results(r.output).csum_tx).toBe(0);
      const frames = s.host.take();
      expect(frames.length).toBe(1);
      return { frame: frames[0].frame, v: results(r.output), nic: s.nic };
    };
    const off = await sendOne();
    const sw = await sendOne(VIRTIO_NET_DEFAULT_FEATURES & ~bits(VIRTIO_NET_F_CSUM));
    expect(off.nic.net.txChecksummed).toBe(1);
    expect(off.v.tx_sw_csum).toBe(0);
    expect(sw.v.tx_sw_csum).toBe(1);
    expect(Buffer.from(sw.frame).toString("hex")).toBe(Buffer.from(off.frame).toString("hex"));
    // and the checksum is right: the one's-complement sum over pseudo-header + UDP is 0xffff
    const f = sw.frame;
    let s = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 17 + (f.length - 34);
    for (let i = 34; i + 1 < f.length; i += 2) s += (f[i] << 8) | f[i + 1];
    if ((f.length - 34) & 1) s += f[f.length - 1] << 8;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    expect(s).toBe(0xffff);
  });

  it("virtio-rng: seeds from the device, several short fills", async () => {
    const { m, rng } = machine({ cmdline: "mode=none timeout_ms=1", rng: true });
    const r = await m.run(wasm);
    const v = results(r.output);
    expect(v.rng_init).toBe(0);
    expect(v.rng_bytes).toBe(64);
    expect(v.rng_nonzero).toBeGreaterThan(50);
    expect(rng!.bytes).toBeGreaterThanOrEqual(64);
    expect(rng!.warnings).toEqual([]);
  });
});
