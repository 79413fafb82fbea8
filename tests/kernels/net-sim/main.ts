// Test kernel for tests/net-sim.test.ts: two network stacks (one per
// virtio-net NIC) in one kernel, over the Node simulator's network. `mode=`
// on the command line picks the script; results are key=value lines.
import { print, println } from "../../../kernel/console";
import { clock_ns } from "../../../kernel/hal";
import { packetPool, PacketPool } from "../../../kernel/mem/pktbuf";
import { Scheduler, Task, MS, SEC } from "../../../kernel/sched/index";
import { virtioDevices, VirtioNet, InitResult, initResultName, routeNetIrq, DEVICE_NET } from "../../../drivers/virtio/index";
import { NetStack, EchoHandler, UdpSocket, DhcpClient, DhcpState, DnsResolver, DnsStatus, printCounters, ipString, parseIp, parsedIp } from "../../../kernel/net/index";
import { NetStackOptions } from "../../../kernel/net/stack";
import { out, num, arg } from "../common/report";

function ip(s: string): u32 { parseIp(s); return parsedIp; }


let sched!: Scheduler;
let baseline: u32 = 0;
let pool!: PacketPool;
const stacks = new Array<NetStack>();
const nics = new Array<VirtioNet>();

class Pings extends EchoHandler {
  replies: i32 = 0;
  lastSeq: u32 = 0;
  lastLen: u32 = 0;
  reply(from: u32, ident: u32, seq: u32, dataLen: u32): void {
    this.replies++;
    this.lastSeq = seq;
    this.lastLen = dataLen;
  }
}

/** Echoes every datagram back to its sender. */
class UdpEcho extends Task {
  buf: usize = heap.alloc(16384);
  constructor(readonly sock: UdpSocket) { super("echo"); }
  run(): void {
    const s = this.sock;
    for (;;) {
      const n = s.recvFrom(this.buf, 16384);
      if (n < 0) break;
      s.sendTo(s.srcIp, s.srcPort, this.buf, <u32>n);
    }
    this.waitOn(s.event);
  }
}

function fill(p: usize, n: u32, seed: u32): void {
  for (let i: u32 = 0; i < n; i++) store<u8>(p + i, <u8>((i * 7 + seed) & 255));
}
function check(p: usize, n: u32, seed: u32): bool {
  for (let i: u32 = 0; i < n; i++) if (load<u8>(p + i) != <u8>((i * 7 + seed) & 255)) return false;
  return true;
}

/** The "basic" script on stack A against stack B: ARP+ping, UDP echo, fragmented UDP and ping, a closed port. */
class Basic extends Task {
  step: i32 = 0;
  t0: u64 = 0;
  pings: Pings = new Pings();
  sock: UdpSocket | null = null;
  buf: usize = heap.alloc(16384);
  big: u32 = 4000;
  constructor() { super("basic"); }
  run(): void {
    const a = stacks[0];
    const b = stacks[1];
    const now = clock_ns();
    if (this.step == 0) {
      a.icmp.echoHandler = this.pings;
      this.sock = a.udp.bind(5000, 8, 16384);
      this.big = <u32>I32.parseInt(arg("big", "4000"));
      a.icmp.ping(b.addr, 7, 1, 56);
      this.t0 = now;
      this.step = 1;
    } else if (this.step == 1 && this.pings.replies >= 1) {
      num("ping1_rtt_us", (now - this.t0) / 1000);
      num("ping1_len", this.pings.lastLen);
      num("arp_entries_a", a.link.arp.size);
      num("arp_entries_b", b.link.arp.size);
      const msg = "hello over udp";
      const n = String.UTF8.encodeUnsafe(changetype<usize>(msg), msg.length, this.buf, false);
      num("udp_send", this.sock!.sendTo(b.addr, 7, this.buf, <u32>n));
      this.step = 2;
    } else if (this.step == 2 && this.sock!.count >= 1) {
      const n = this.sock!.recvFrom(this.buf, 16384);
      out("udp_echo", String.UTF8.decodeUnsafe(this.buf, <usize>n));
      out("udp_from", ipString(this.sock!.srcIp) + ":" + this.sock!.srcPort.toString());
      fill(this.buf, this.big, 3);
      num("big_send", this.sock!.sendTo(b.addr, 7, this.buf, this.big));
      this.step = 3;
    } else if (this.step == 3 && this.sock!.count >= 1) {
      memory.fill(this.buf, 0, this.big);
      const n = this.sock!.recvFrom(this.buf, 16384);
      num("big_echo_len", n);
      num("big_echo_ok", check(this.buf, this.big, 3) ? 1 : 0);
      a.icmp.ping(b.addr, 7, 2, 3000);
      this.step = 4;
    } else if (this.step == 4 && this.pings.replies >= 2) {
      num("ping2_seq", this.pings.lastSeq);
      num("ping2_len", this.pings.lastLen);
      this.sock!.sendTo(b.addr, 9, this.buf, 10);
      this.step = 5;
    } else if (this.step == 5 && this.sock!.errors >= 1) {
      const s = this.sock!;
      out("icmp_error", s.lastErrorType.toString() + "/" + s.lastErrorCode.toString() + " " + ipString(s.lastErrorDst) + ":" + s.lastErrorPort.toString());
      this.step = 6;
      this.sleep(100 * MS); // let every transmit complete before the pool is checked
      return;
    } else if (this.step == 6) {
      finish();
      return;
    }
    if (now - this.t0 > 30 * SEC) { out("timeout_step", this.step.toString()); finish(); return; }
    this.sleep(1 * MS);
  }
}

/** The "dhcp" script: both stacks get addresses from the simulator's server, resolve a name, ping each other, renew. */
class Dhcp extends Task {
  step: i32 = 0;
  t0: u64 = 0;
  clients: Array<DhcpClient> = new Array<DhcpClient>();
  dns: DnsResolver | null = null;
  pings: Pings = new Pings();
  constructor() { super("dhcp-script"); }
  renewedAsExpected(): bool { return leaseKept(this.clients[0]); }
  allBound(): bool {
    for (let i = 0; i < this.clients.length; i++) if (this.clients[i].state != DhcpState.Bound) return false;
    return true;
  }
  run(): void {
    const now = clock_ns();
    if (this.step == 0) {
      this.t0 = now;
      for (let i = 0; i < stacks.length; i++) {
        const c = new DhcpClient(stacks[i]);
        c.start();
        this.clients.push(c);
      }
      this.step = 1;
    } else if (this.step == 1 && this.allBound()) {
      num("bound_ms", (now - this.t0) / MS);
      for (let i = 0; i < stacks.length; i++) {
        const s = stacks[i];
        out("addr" + i.toString(), ipString(s.addr) + "/" + s.ip.prefixLen.toString());
        out("gw" + i.toString(), ipString(s.ip.gateway));
        out("dns" + i.toString(), ipString(s.dns0));
        num("lease" + i.toString(), this.clients[i].lease);
      }
      const r = new DnsResolver(stacks[0]);
      this.dns = r;
      r.resolve(arg("name", "www.sim.test"));
      this.step = 2;
    } else if (this.step == 2 && this.dns!.status != DnsStatus.Pending) {
      const r = this.dns!;
      num("dns_status", <u64>r.status);
      out("dns_addr", ipString(r.addr));
      num("dns_cnames", r.response.cnames);
      num("dns_retries", r.counters.retries);
      // a second lookup comes from the cache
      num("dns_cached", r.resolve(arg("name", "www.sim.test")) == DnsStatus.Ok ? 1 : 0);
      num("dns_missing", r.resolve("nope.sim.test") == DnsStatus.Pending ? 1 : 0);
      this.step = 3;
    } else if (this.step == 3 && this.dns!.status != DnsStatus.Pending) {
      num("dns_missing_status", <u64>this.dns!.status);
      if (stacks.length > 1) {
        stacks[0].icmp.echoHandler = this.pings;
        stacks[0].icmp.ping(stacks[1].addr, 1, 1, 32);
        this.step = 4;
      } else this.step = 5; // one stack: nobody to ping
    } else if (this.step == 4 && this.pings.replies >= 1) {
      num("ping_ok", 1);
      this.step = 5;
    } else if (this.step == 5 && this.renewedAsExpected() && this.clients[0].state == DhcpState.Bound) {
      const c = this.clients[0].counters;
      num("renewals", c.renewals);
      num("rebinds", c.rebinds);
      num("naks", c.naks);
      num("discovers", c.discovers);
      num("renew_acks", c.acks);
      num("renewed_at_s", (now - this.t0) / SEC);
      out("addr_after_renew", ipString(stacks[0].addr));
      finish();
      return;
    }
    if (now - this.t0 > 120 * SEC) { out("timeout_step", this.step.toString()); finish(); return; }
    this.sleep(10 * MS);
  }
}

/** What ends the dhcp script, by `expect=`: a renewal (default), a rebinding, or a NAK and a new lease. */
function leaseKept(c: DhcpClient): bool {
  const k = c.counters;
  const e = arg("expect", "renew");
  if (e == "rebind") return k.rebinds >= 1 && k.acks >= 2;
  if (e == "nak") return k.naks >= 1 && k.acks >= 2;
  return k.renewals >= 1 && k.acks >= 2;
}

/** The "idle" script: stack A is up with a static address; the test drives it from outside, then we report. */
class Idle extends Task {
  constructor() { super("idle"); }
  run(): void { finish(); }
}

function finish(): void {
  for (let i = 0; i < stacks.length; i++) {
    println("-- stack " + i.toString());
    printCounters(stacks[i].counters);
    num("reasm_in_use" + i.toString(), stacks[i].ip.reasm.inUse);
  }
  // Transmit completions are reclaimed lazily: collect them before counting buffers.
  for (let i = 0; i < nics.length; i++) nics[i].poll(0);
  num("pool_in_use", pool.inUse - baseline);
  num("pool_bad_frees", pool.badFrees);
  sched.stop();
}

export function main(): i32 {
  pool = packetPool(512);
  sched = new Scheduler();
  const found = virtioDevices().ofType(DEVICE_NET);
  for (let i = 0; i < found.length; i++) {
    const d = new VirtioNet(found[i], pool);
    const r = d.init();
    if (r != InitResult.Ok) { out("init_failed", initResultName(r)); return 1; }
    routeNetIrq(sched, d);
    nics.push(d);
    const s = new NetStack(d, sched, noTcp());
    const mtu = I32.parseInt(arg("mtu", "0"));
    if (mtu > 0) s.ip.mtu = <u32>mtu;
    stacks.push(s);
  }
  num("nics", nics.length);
  baseline = pool.inUse; // the receive rings' buffers
  const mode = arg("mode", "basic");
  if (mode != "dhcp") {
    stacks[0].setAddress(ip("10.0.0.1"), 24);
    if (stacks.length > 1) stacks[1].setAddress(ip("10.0.0.2"), 24);
  }
  let script: Task;
  if (mode == "basic") {
    script = new Basic();
    const echo = new UdpEcho(stacks[1].udp.bind(7, 8, 16384)!);
    sched.spawn(echo);
  } else if (mode == "dhcp") script = new Dhcp();
  else {
    script = new Idle();
    const echo = new UdpEcho(stacks[0].udp.bind(7, 4, 2048)!);
    sched.spawn(echo);
    sched.after(script, <u64>I32.parseInt(arg("run_ms", "1000")) * MS);
    sched.run();
    return 0;
  }
  sched.spawn(script);
  sched.run();
  return 0;
}

/** This kernel speaks no TCP. */
function noTcp(): NetStackOptions {
  const o = new NetStackOptions();
  o.tcp = false;
  return o;
}
