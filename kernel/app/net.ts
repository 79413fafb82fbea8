// Net: the network as an app sees it. `Net.up(app)` is the one call that
// brings it up: the first NIC, a packet pool, IPv4 with ARP and ICMP, UDP
// and TCP wired together (stack.ts), the address from `ip=`/`gw=`/`dns=` on
// the command line or from DHCP. The app object hears `onUp(net)` once the
// address is bound and `onDown(reason)` when there is none (no NIC, bad
// arguments, no lease in time, a lease lost); it never polls.
//
// Everything a Net hands out (listeners, connections, UDP ports) belongs to
// a stack that its interface feeds: there is no way at this level to listen
// on a stack no interface delivers to.

import { ipString, macString } from "../net/wire/bytes";
import { printTcpCounters } from "../net/tcp/counters";
import { TcpConfig } from "../net/tcp/config";
import { TcpStack } from "../net/tcp/stack";
import { NetStack } from "../net/stack";
import { DhcpClient, DhcpState } from "../net/dhcp";
import { Task } from "../sched/task";
import { StopHandler } from "../sched/stop";
import { println } from "../console";
import { SEC } from "../sched/time";
import { Kernel } from "./kernel";
import { Connection, Handler, Service, Acceptor, Delivery } from "./connection";
import { UdpPort, DatagramHandler } from "./udp";
import { Wiring, wire, wireError } from "./stack";
import { Lookup, NameHandler, PingHandler, PingReplies } from "./lookup";

/** The app's side of the network's life. */
export class App {
  /** The address is bound (again, after a lost lease was regained): serve, connect, bind. */
  onUp(net: Net): void {}
  /**
   * There is no address: no NIC, bad network arguments, no DHCP lease in
   * time, or the lease was lost. Default: end the app with the reason
   * (exit code 3). Listeners and ports stay; DHCP keeps trying.
   */
  onDown(reason: string): void {
    Kernel.fail(reason, 3);
  }
  /**
   * The platform asks the kernel to stop (the ACPI power button: `virsh
   * shutdown`, QEMU's `system_powerdown`; `Machine.requestStop()` in Node),
   * the `n`-th time since boot. Default: end the app with exit code 0, so
   * `Kernel.run()` returns and `main` can report. An app may finish first
   * and call `Kernel.exit` later, or ignore it.
   */
  onStop(n: u32): void {
    println("stop requested: the app ends (exit 0)");
    Kernel.exit(0);
  }
}

/** The scheduler's stop request, handed to the app (from a task). */
class AppStop extends StopHandler {
  constructor(readonly app: App) {
    super();
  }
  onStopRequest(n: u32): void {
    this.app.onStop(n);
  }
}

/** Sizes and limits of what `Net.up` builds. */
export class NetOptions {
  /** Packet buffers in the pool (2 KiB each); 0: an eighth of the machine's memory, 64 to 1024 (kernel/mem/budget.ts). */
  packets: u32 = 0;
  /** All TCP connections' buffers together (bytes); 0: a quarter of the machine's memory, at most 64 MiB. */
  tcpMemory: u64 = 0;
  /** How long to wait for the first DHCP lease before onDown. */
  dhcpTimeoutNs: u64 = 30 * SEC;
}

export class Net {
  /** The layers (level 2: link, IPv4, ICMP, UDP, TCP), for what level 1 does not cover. */
  readonly stack: NetStack;
  /** The TCP stack (level 2). */
  readonly tcp: TcpStack;
  /** The DHCP client, when the address comes from a lease. */
  readonly dhcp: DhcpClient | null;
  readonly delivery: Delivery = new Delivery();
  /** Whether an address is bound now. */
  isUp: bool = false;

  private constructor(w: Wiring, readonly app: App, readonly options: NetOptions) {
    this.stack = w.stack;
    this.tcp = w.stack.tcp!;
    this.dhcp = w.dhcp;
  }

  /**
   * Brings the network up for `app`. Returns the Net (its callbacks come
   * once `Kernel.run()` runs), or null when it cannot be built: `onDown`
   * then hears why, e.g. "no network device: boot with --net user (QEMU)
   * or --net sim (Node)".
   */
  static up(app: App, options: NetOptions | null = null): Net | null {
    const o = options != null ? options : new NetOptions();
    Kernel.sched.onStopRequest(new AppStop(app));
    const w = wire(Kernel.sched, o.packets, o.tcpMemory);
    if (w == null) {
      Kernel.spawn(new Down(app, wireError));
      return null;
    }
    const net = new Net(w, app, o);
    Kernel.spawn(new AddressWatch(net, w.dhcp));
    return net;
  }

  // ---- addresses ----

  /** Our address (host order; 0 while down). */
  get ip(): u32 {
    return this.stack.addr;
  }
  get prefixLen(): i32 {
    return this.stack.ip.prefixLen;
  }
  get gateway(): u32 {
    return this.stack.ip.gateway;
  }
  /** The first DNS server (0: none). */
  get dns(): u32 {
    return this.stack.dns0;
  }
  get mtu(): u32 {
    return this.stack.ip.mtu;
  }
  /** The NIC's MAC address as text. */
  get mac(): string {
    return macString(this.stack.mac);
  }
  /** "10.0.2.15/24 gateway 10.0.2.2 mtu 1500". */
  describe(): string {
    return ipString(this.ip) + "/" + this.prefixLen.toString() + " gateway " + ipString(this.gateway) + " mtu " + this.mtu.toString();
  }

  // ---- TCP ----

  /** TCP defaults for `serve` and `connect` without a config (buffer sizes, congestion control...). */
  get tcpDefaults(): TcpConfig {
    return this.tcp.defaults;
  }

  /** Accepts connections on `port`, each handled by what `service.accept` returns. False if the port is taken. */
  serve(port: u32, service: Service, cfg: TcpConfig | null = null, backlog: u32 = 128): bool {
    return this.tcp.listen(port, new Acceptor(this.delivery, service), backlog, cfg) != null;
  }

  /**
   * Opens a connection to `ip`:`port`; `handler` hears onConnected, or
   * onClosed(Refused/TimedOut). Null when no route, source port or memory
   * is left (nothing is called then).
   */
  connect(ip: u32, port: u32, handler: Handler, cfg: TcpConfig | null = null): Connection | null {
    const s = this.tcp.connect(ip, port, null, cfg);
    if (s == null) return null;
    return new Connection(this.delivery, s, handler);
  }

  // ---- UDP ----

  /**
   * Binds UDP `port`; its datagrams go to `handler` (up to `queue` waiting,
   * each up to `maxSize` bytes: more is dropped and counted). Null if taken.
   */
  bind(port: u32, handler: DatagramHandler, maxSize: u32 = 2048, queue: u32 = 16): UdpPort | null {
    const s = this.stack.udp.bind(port, queue, maxSize);
    if (s == null) return null;
    const p = new UdpPort(s, handler, maxSize);
    Kernel.sched.waitOn(p, s.event);
    return p;
  }

  // ---- names and pings ----

  /** Looks `name` up with the DNS server; `handler` hears the address (or why there is none) once. */
  resolve(name: string, handler: NameHandler): void {
    new Lookup(this.stack, name, handler);
  }

  /** Sends ICMP echo request `seq` with `bytes` of data to `ip`; replies go to `handler`. 0 or a negative IpError. */
  ping(ip: u32, handler: PingHandler, seq: u32 = 1, bytes: u32 = 56): i32 {
    this.stack.icmp.echoHandler = new PingReplies(handler);
    return this.stack.icmp.ping(ip, 0x4e44, seq, bytes);
  }

  /** Prints the interface's and TCP's counters (name=value lines). */
  printCounters(): void {
    this.stack.printCounters();
    printTcpCounters(this.tcp.counters);
  }

  // ---- from the address watch ----

  noteUp(): void {
    this.isUp = true;
    this.app.onUp(this);
  }

  noteDown(reason: string): void {
    this.isUp = false;
    this.app.onDown(reason);
  }
}

/** Tells the app the network could not be built (from a task, like every callback). */
class Down extends Task {
  constructor(readonly app: App, readonly why: string) {
    super("net-down");
  }
  run(): void {
    this.app.onDown(this.why);
  }
}

/** Follows the address: static at once; else DHCP's first lease (or its time-out), losses and returns. */
class AddressWatch extends Task {
  private readonly since: u64 = Kernel.now();
  private timedOut: bool = false;

  constructor(readonly net: Net, readonly dhcp: DhcpClient | null) {
    super("net-address");
  }

  run(): void {
    const net = this.net;
    const d = this.dhcp;
    if (d == null) {
      if (!net.isUp) net.noteUp();
      return;
    }
    const bound = net.ip != 0 && d.state != DhcpState.Selecting && d.state != DhcpState.Requesting;
    if (bound) {
      if (!net.isUp) net.noteUp();
      this.waitOn(d.lost);
      return;
    }
    if (net.isUp) net.noteDown("DHCP lease lost");
    const waited = Kernel.now() - this.since;
    const limit = net.options.dhcpTimeoutNs;
    if (!this.timedOut && waited >= limit) {
      this.timedOut = true;
      net.noteDown("no DHCP lease within " + (limit / SEC).toString() + " s");
    }
    if (Kernel.exiting) return;
    this.waitOn(d.bound, this.timedOut ? 0 : limit - waited);
  }
}
