// One kernel of a two-kernel network test (tests/net-world.test.ts): each
// machine runs this with its own command line — `ip=.../24 role=server`
// echoes UDP on port 7 (and answers pings) until a "bye" datagram arrives;
// `role=client peer=<ip> big=<n>` pings the peer, exchanges UDP (one datagram
// large enough to fragment), says bye. Results are key=value lines.
import { println } from "../../../kernel/console";
import { clock_ns } from "../../../kernel/hal";
import { packetPool, PacketPool } from "../../../kernel/mem/pktbuf";
import { Scheduler, Task, MS, SEC } from "../../../kernel/sched/index";
import { VirtioNet, firstNetDevice, netUpError } from "../../../drivers/virtio/index";
import { NetStack, EchoHandler, UdpSocket, printCounters, ipString, parseIp, parsedIp, parseNetConfig, applyStatic } from "../../../kernel/net/index";
import { NetStackOptions } from "../../../kernel/net/stack";
import { out, num, arg, commandLine } from "../common/report";



let sched!: Scheduler;
let iface!: NetStack;
let nic!: VirtioNet;
let pool!: PacketPool;
let baseline: u32 = 0; // buffers the receive ring holds for good

/** What an operator checks after an attack: counters, and that nothing leaked. */
function report(): void {
  printCounters(iface.counters);
  nic.poll(0); // transmit completions are reclaimed lazily
  num("pool_in_use", pool.inUse - baseline);
  num("reasm_in_use", iface.ip.reasm.inUse);
  num("arp_entries", iface.link.arp.size);
}

class Pings extends EchoHandler {
  replies: i32 = 0;
  lastLen: u32 = 0;
  reply(from: u32, ident: u32, seq: u32, dataLen: u32): void {
    this.replies++;
    this.lastLen = dataLen;
  }
}

function fill(p: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i++) store<u8>(p + i, <u8>((i * 7 + 3) & 255));
}
function intact(p: usize, n: u32): bool {
  for (let i: u32 = 0; i < n; i++) if (load<u8>(p + i) != <u8>((i * 7 + 3) & 255)) return false;
  return true;
}

/** Echoes every datagram back; a datagram "bye" ends the kernel. */
class Server extends Task {
  buf: usize = heap.alloc(16384);
  echoed: u32 = 0;
  constructor(readonly sock: UdpSocket) { super("server"); }
  run(): void {
    const s = this.sock;
    for (;;) {
      const n = s.recvFrom(this.buf, 16384);
      if (n < 0) break;
      if (n == 3 && load<u8>(this.buf) == 98 && load<u8>(this.buf + 1) == 121 && load<u8>(this.buf + 2) == 101) {
        num("server_echoed", this.echoed);
        report();
        sched.stop();
        return;
      }
      s.sendTo(s.srcIp, s.srcPort, this.buf, <u32>n);
      this.echoed++;
    }
    this.waitOn(s.event);
  }
}

/** Ping, a small datagram, a fragmented one, bye: each step waits for the previous answer. */
class Client extends Task {
  step: i32 = 0;
  t0: u64 = 0;
  peer: u32 = 0;
  big: u32 = 0;
  pings: Pings = new Pings();
  sock: UdpSocket | null = null;
  buf: usize = heap.alloc(16384);
  constructor() { super("client"); }
  run(): void {
    const now = clock_ns();
    if (this.step == 0) {
      parseIp(arg("peer", "10.0.0.2"));
      this.peer = parsedIp;
      this.big = <u32>I32.parseInt(arg("big", "4000"));
      iface.icmp.echoHandler = this.pings;
      this.sock = iface.udp.bind(5000, 8, 16384);
      this.t0 = now;
      iface.icmp.ping(this.peer, 7, 1, 56);
      this.step = 1;
    } else if (this.step == 1 && this.pings.replies >= 1) {
      num("ping_rtt_us", (now - this.t0) / 1000);
      fill(this.buf, 14);
      this.sock!.sendTo(this.peer, 7, this.buf, 14);
      this.step = 2;
    } else if (this.step == 2 && this.sock!.count >= 1) {
      const n = this.sock!.recvFrom(this.buf, 16384);
      num("small_echo_len", n);
      out("small_from", ipString(this.sock!.srcIp) + ":" + this.sock!.srcPort.toString());
      fill(this.buf, this.big);
      this.sock!.sendTo(this.peer, 7, this.buf, this.big);
      this.step = 3;
    } else if (this.step == 3 && this.sock!.count >= 1) {
      memory.fill(this.buf, 0, this.big);
      const n = this.sock!.recvFrom(this.buf, 16384);
      num("big_echo_len", n);
      num("big_echo_intact", intact(this.buf, this.big) ? 1 : 0);
      store<u8>(this.buf, 98); store<u8>(this.buf + 1, 121); store<u8>(this.buf + 2, 101);
      this.sock!.sendTo(this.peer, 7, this.buf, 3);
      num("done_at_ms", now / MS);
      report();
      sched.stop();
      return;
    }
    if (now - this.t0 > 30 * SEC) { out("timeout_step", this.step.toString()); sched.stop(); return; }
    this.sleep(1 * MS);
  }
}

export function main(): i32 {
  sched = new Scheduler();
  pool = packetPool(256);
  const dev = firstNetDevice(sched, pool);
  if (!dev) { out("error", netUpError); return 2; }
  nic = dev;
  iface = new NetStack(nic, sched, noTcp());
  baseline = pool.inUse;
  const cfg = parseNetConfig(commandLine());
  if (cfg.error != "") { out("error", cfg.error); return 2; }
  applyStatic(iface, cfg);
  if (arg("role", "client") == "server") sched.spawn(new Server(iface.udp.bind(7, 8, 16384)!));
  else sched.spawn(new Client());
  sched.run();
  return 0;
}

/** This kernel speaks no TCP. */
function noTcp(): NetStackOptions {
  const o = new NetStackOptions();
  o.tcp = false;
  return o;
}
