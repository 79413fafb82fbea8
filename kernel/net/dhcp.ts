// The DHCP client (RFC 2131): DISCOVER -> OFFER -> REQUEST -> ACK, then
// renewal at T1 (unicast to the server), rebinding at T2 (broadcast) and
// loss of the address when the lease ends. Retransmissions back off from
// 2 s, doubling, to 32 s (RFC 2131 4.1 suggests 4 s doubling to 64 s with
// jitter; we start lower so a lost frame at boot costs less). Replies are
// matched on xid, our MAC and the message type the state expects; anything
// else is counted and ignored. It configures the interface: address and
// prefix, default gateway, DNS servers.

import { clock_ns, entropy } from "../hal";
import { Task } from "../sched/task";
import { Event } from "../sched/event";
import { SEC } from "../sched/time";
import { NetStack } from "./stack";
import { CounterSet } from "../counters";
import { TimerTask } from "../sched/timer-task";
import { UdpSocket, UdpHandler } from "./udp";
import { WireError } from "./wire/error";
import { IPV4_BROADCAST } from "./wire/ipv4";
import {
  DhcpRepr, BOOTREQUEST, BOOTREPLY, DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, DHCPACK, DHCPNAK,
  DHCP_SERVER_PORT, DHCP_CLIENT_PORT,
} from "./wire/dhcp";

export enum DhcpState {
  Idle,
  Selecting,
  Requesting,
  Bound,
  Renewing,
  Rebinding,
}

export class DhcpCounters extends CounterSet {
  discovers: u64 = 0;
  offers: u64 = 0;
  requests: u64 = 0;
  acks: u64 = 0;
  naks: u64 = 0;
  renewals: u64 = 0;
  rebinds: u64 = 0;
  expirations: u64 = 0;
  retransmits: u64 = 0;
  dropMalformed: u64 = 0;
  /** Another xid, another MAC, or a message the state does not expect. */
  dropMismatch: u64 = 0;
  constructor() {
    super("dhcp", ["discovers", "offers", "requests", "acks", "naks", "renewals", "rebinds", "expirations", "retransmits", "drop_malformed", "drop_mismatch"], 5, offsetof<DhcpCounters>());
  }
}

const FIRST_RETRY_NS: u64 = 2 * SEC;
const MAX_RETRY_NS: u64 = 32 * SEC;
const MSG_CAP: u32 = 576;

export class DhcpClient extends UdpHandler {
  readonly net: NetStack;
  readonly counters: DhcpCounters = new DhcpCounters();
  state: DhcpState = DhcpState.Idle;
  /** Signalled each time a lease is bound (first time and after renewals). */
  readonly bound: Event;
  /** Signalled when the address is given up: the lease ran out, or the server said NAK. */
  readonly lost: Event;
  /** Seconds: from the server, with RFC defaults for T1/T2. */
  lease: u32 = 0;
  server: u32 = 0;
  private offered: u32 = 0;
  private xid: u32 = 0;
  private sock: UdpSocket | null = null;
  private timer!: TimerTask<DhcpClient>;
  private retryNs: u64 = FIRST_RETRY_NS;
  private leaseStart: u64 = 0;
  private t1At: u64 = 0;
  private t2At: u64 = 0;
  private endAt: u64 = 0;
  private readonly msg: usize = heap.alloc(MSG_CAP);
  private readonly rx: DhcpRepr = new DhcpRepr();
  private readonly tx: DhcpRepr = new DhcpRepr();

  constructor(net: NetStack) {
    super();
    this.net = net;
    this.bound = new Event(net.sched);
    this.lost = new Event(net.sched);
    this.timer = new TimerTask<DhcpClient>(net.sched, "dhcp", this);
  }

  /** Starts from scratch: binds port 68 and broadcasts a DISCOVER. False if the port is taken. */
  start(): bool {
    if (!this.sock) {
      const s = this.net.udp.bind(DHCP_CLIENT_PORT, 1, 64);
      if (!s) return false;
      s.handler = this;
      this.sock = s;
    }
    this.discover();
    return true;
  }

  private newXid(): void {
    const t = memory.data(4);
    entropy(t, 4);
    this.xid = load<u32>(t);
  }

  private discover(): void {
    this.newXid();
    this.state = DhcpState.Selecting;
    this.retryNs = FIRST_RETRY_NS;
    this.send(DHCPDISCOVER, 0, 0, 0, IPV4_BROADCAST);
    this.counters.discovers++;
    this.net.sched.sleepUntil(this.timer, clock_ns() + this.retryNs);
  }

  private send(type: u32, requested: u32, serverId: u32, ciaddr: u32, dst: u32): void {
    const m = this.tx;
    m.reset();
    m.op = BOOTREQUEST;
    m.xid = this.xid;
    m.chaddr = this.net.mac;
    m.msgType = type;
    m.requestedIp = requested;
    m.serverId = serverId;
    m.ciaddr = ciaddr;
    // Ask for broadcast replies while we have no address (RFC 2131 4.1).
    m.flags = ciaddr == 0 ? 0x8000 : 0;
    m.paramCount = 4;
    unchecked((m.params[0] = 1)); // subnet mask
    unchecked((m.params[1] = 3)); // router
    unchecked((m.params[2] = 6)); // DNS
    unchecked((m.params[3] = 51)); // lease time
    const n = m.emit(this.msg, MSG_CAP);
    if (n == 0) return;
    this.net.udp.send(DHCP_CLIENT_PORT, dst, DHCP_SERVER_PORT, this.msg, n, ciaddr);
  }

  datagram(sock: UdpSocket, srcIp: u32, srcPort: u32, dstIp: u32, ptr: usize, len: u32): void {
    const c = this.counters;
    const m = this.rx;
    if (srcPort != DHCP_SERVER_PORT || m.parse(ptr, len) != WireError.Ok) {
      c.dropMalformed++;
      return;
    }
    if (m.op != BOOTREPLY || m.xid != this.xid || m.chaddr != this.net.mac) {
      c.dropMismatch++;
      return;
    }
    const st = this.state;
    if (m.msgType == DHCPOFFER && st == DhcpState.Selecting) {
      if (m.yiaddr == 0 || m.serverId == 0) {
        c.dropMalformed++;
        return;
      }
      c.offers++;
      this.offered = m.yiaddr;
      this.server = m.serverId;
      this.state = DhcpState.Requesting;
      this.retryNs = FIRST_RETRY_NS;
      this.sendRequest();
      return;
    }
    if (m.msgType == DHCPACK && (st == DhcpState.Requesting || st == DhcpState.Renewing || st == DhcpState.Rebinding)) {
      c.acks++;
      this.bind(m);
      return;
    }
    if (m.msgType == DHCPNAK && st != DhcpState.Selecting && st != DhcpState.Idle && st != DhcpState.Bound) {
      c.naks++;
      this.net.setAddress(0, 0);
      this.discover();
      this.lost.broadcast();
      return;
    }
    c.dropMismatch++;
  }

  private sendRequest(): void {
    this.counters.requests++;
    const st = this.state;
    if (st == DhcpState.Requesting) this.send(DHCPREQUEST, this.offered, this.server, 0, IPV4_BROADCAST);
    else if (st == DhcpState.Renewing) this.send(DHCPREQUEST, 0, 0, this.net.ip.addr, this.server);
    else this.send(DHCPREQUEST, 0, 0, this.net.ip.addr, IPV4_BROADCAST);
    this.net.sched.sleepUntil(this.timer, this.nextRetry());
  }

  /** The next retransmission: backing off, but never past the next state change. */
  private nextRetry(): u64 {
    const now = clock_ns();
    let t = now + this.retryNs;
    this.retryNs = min<u64>(this.retryNs * 2, MAX_RETRY_NS);
    if (this.state == DhcpState.Renewing && t > this.t2At) t = this.t2At;
    if (this.state == DhcpState.Rebinding && t > this.endAt) t = this.endAt;
    return t;
  }

  private bind(m: DhcpRepr): void {
    const net = this.net;
    const now = clock_ns();
    let prefix = 0;
    const mask = m.subnetMask ? m.subnetMask : 0xffffff00;
    while (prefix < 32 && (mask << prefix) & 0x8000_0000) prefix++;
    net.setAddress(m.yiaddr, prefix);
    if (m.router) net.setGateway(m.router);
    if (m.dnsCount > 0) net.dns0 = unchecked(m.dns[0]);
    if (m.dnsCount > 1) net.dns1 = unchecked(m.dns[1]);
    if (m.serverId) this.server = m.serverId;
    const lease = m.leaseTime ? m.leaseTime : 3600;
    this.lease = lease;
    const l = <u64>lease * SEC;
    this.leaseStart = now;
    this.t1At = now + (m.renewalTime ? <u64>m.renewalTime * SEC : l / 2);
    this.t2At = now + (m.rebindingTime ? <u64>m.rebindingTime * SEC : (l * 7) / 8);
    this.endAt = now + l;
    this.state = DhcpState.Bound;
    net.sched.sleepUntil(this.timer, this.t1At);
    this.bound.broadcast();
  }

  onTimer(task: Task): void {
    const now = clock_ns();
    const c = this.counters;
    switch (this.state) {
      case DhcpState.Selecting:
        c.retransmits++;
        this.send(DHCPDISCOVER, 0, 0, 0, IPV4_BROADCAST);
        c.discovers++;
        this.net.sched.sleepUntil(this.timer, this.nextRetry());
        break;
      case DhcpState.Requesting:
        // RFC 2131 3.1.5: after a few unanswered REQUESTs, start over.
        if (this.retryNs >= MAX_RETRY_NS) {
          this.discover();
          break;
        }
        c.retransmits++;
        this.sendRequest();
        break;
      case DhcpState.Bound:
        c.renewals++;
        this.state = DhcpState.Renewing;
        this.newXid();
        this.retryNs = FIRST_RETRY_NS;
        this.sendRequest();
        break;
      case DhcpState.Renewing:
        if (now >= this.t2At) {
          c.rebinds++;
          this.state = DhcpState.Rebinding;
          this.retryNs = FIRST_RETRY_NS;
        } else c.retransmits++;
        this.sendRequest();
        break;
      case DhcpState.Rebinding:
        if (now >= this.endAt) {
          c.expirations++;
          this.net.setAddress(0, 0);
          this.discover();
          this.lost.broadcast();
          break;
        }
        c.retransmits++;
        this.sendRequest();
        break;
      default:
        break;
    }
  }
}
