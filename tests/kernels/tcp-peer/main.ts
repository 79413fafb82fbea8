// One kernel of a two-kernel TCP test (tests/tcp-world.test.ts): the real
// TCP over the real IP stack, virtio driver and device model, on both ends.
// `ip=.../24 role=server expect=<k>` runs apps/httpd's services (echo 7,
// discard 9, chargen 19) until k connections have ended; `role=client
// peer=<ip> bytes=<n> conns=<k> modes=echo,up,down` opens k connections per
// mode at once, each moving n bytes that are checked on arrival, then stays
// up `linger_ms` (TIME-WAIT answers the server's last FIN retransmissions)
// and until none of its connections is still closing.
// `cc=cubic`, `buf=<bytes>` (both buffers), `packets=<n>` the packet pool
// (1024 by default). Results are key=value lines.
import { println, print } from "../../../kernel/console";
import { clock_ns } from "../../../kernel/hal";
import { packetPool, PacketPool } from "../../../kernel/mem/pktbuf";
import { Scheduler, Task, MS, SEC } from "../../../kernel/sched/index";
import { VirtioNet, firstNetDevice, netUpError } from "../../../drivers/virtio/index";
import { NetStack, printCounters, parseIp, parsedIp, parseNetConfig, applyStatic } from "../../../kernel/net/index";
import { TcpStack, TcpConfig, Cubic, printTcpCounters } from "../../../kernel/net/tcp/index";
import { out, num, arg, commandLine } from "../common/report";
import { startServers, serverStats, clientStats, Client, ClientMode, PORT_ECHO, PORT_DISCARD, PORT_CHARGEN } from "./services";



let sched!: Scheduler;
let iface!: NetStack;
let nic!: VirtioNet;
let pool!: PacketPool;
let stack!: TcpStack;
let baseline: u32 = 0;

function report(): void {
  printCounters(iface.counters);
  printTcpCounters(stack.counters);
  nic.poll(0); // transmit completions are reclaimed lazily
  num("pool_in_use", pool.inUse - baseline);
  num("tcp_connections", stack.connections);
  num("tcp_mem_used", stack.memUsed);
  num("end_ms", clock_ns() / MS);
}

class ServerWatch extends Task {
  constructor(readonly expect: u64, readonly giveUpAt: u64) { super("server-watch"); }
  run(): void {
    const done = serverStats.closed + serverStats.errors;
    if (done >= this.expect || clock_ns() >= this.giveUpAt) {
      if (done < this.expect) {
        out("timeout", "server");
        stack.dump();
      }
      serverStats.print();
      report();
      sched.stop();
      return;
    }
    this.sleep(10 * MS);
  }
}

class ClientWatch extends Task {
  lingerUntil: u64 = 0;
  constructor(readonly giveUpAt: u64, readonly linger: u64) { super("client-watch"); }
  run(): void {
    const now = clock_ns();
    if (this.lingerUntil == 0) {
      if (clientStats.finished < clientStats.started && now < this.giveUpAt) { this.sleep(10 * MS); return; }
      if (clientStats.finished < clientStats.started) {
        out("timeout", "client");
        stack.dump();
      }
      clientStats.print();
      this.lingerUntil = now + this.linger;
      this.sleepUntil(this.lingerUntil);
      return;
    }
    // A FIN of ours still unacknowledged (lost, or cut off by a partition) is retransmitted only while the kernel runs.
    if (stack.live > 0 && now < this.giveUpAt) { this.sleep(10 * MS); return; }
    report();
    sched.stop();
  }
}

export function main(): i32 {
  sched = new Scheduler(null, 4096);
  pool = packetPool(<u32>I32.parseInt(arg("packets", "1024")));
  const dev = firstNetDevice(sched, pool);
  if (!dev) { out("error", netUpError); return 2; }
  nic = dev;
  iface = new NetStack(nic, sched);
  baseline = pool.inUse;
  const cfg = parseNetConfig(commandLine());
  if (cfg.error != "") { out("error", cfg.error); return 2; }
  applyStatic(iface, cfg);
  stack = iface.tcp!;

  const tc = new TcpConfig();
  const buf = <u32>I32.parseInt(arg("buf", "131072"));
  tc.sndBuf = buf;
  tc.rcvBuf = buf;
  tc.timeWaitNs = <u64>I32.parseInt(arg("tw_ms", "1000")) * MS;
  if (arg("cc", "newreno") == "cubic") tc.cc = new Cubic();
  const deadline = <u64>I32.parseInt(arg("deadline_s", "300")) * SEC;

  if (arg("role", "client") == "server") {
    if (!startServers(stack, tc, 0, 1024)) { out("error", "listen failed"); return 1; }
    sched.spawn(new ServerWatch(<u64>I32.parseInt(arg("expect", "1")), deadline));
  } else {
    parseIp(arg("peer", "10.0.0.2"));
    const peer = parsedIp;
    const n = U64.parseInt(arg("bytes", "100000"));
    const conns = I32.parseInt(arg("conns", "1"));
    const modes = arg("modes", "echo,up,down");
    let id: u32 = 0;
    for (let i = 0; i < conns; i++) {
      if (modes.includes("echo")) new Client(ClientMode.Echo, n, id++).start(stack, peer, PORT_ECHO, tc);
      if (modes.includes("up")) new Client(ClientMode.Up, n, id++).start(stack, peer, PORT_DISCARD, tc);
      if (modes.includes("down")) new Client(ClientMode.Down, n, id++).start(stack, peer, PORT_CHARGEN, tc);
    }
    sched.spawn(new ClientWatch(deadline, <u64>I32.parseInt(arg("linger_ms", "3000")) * MS));
  }
  sched.run();
  return 0;
}
