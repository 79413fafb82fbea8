// UDP over the IPv4 layer: the port table, input (checksum, demultiplexing,
// port unreachable for a closed port), output, and ICMP errors handed to the
// socket that sent what they quote. A socket is a bound port with a bounded
// receive queue (fixed slots, allocated at bind) and drop counters, or a
// handler that sees datagrams as they arrive (the DHCP client and DNS
// resolver work that way). Receiving copies the datagram out of the packet
// buffer once, into the socket's slot; nothing is allocated per datagram.
// Ephemeral ports come from the IP layer's allocator, shared with TCP.

import { Scheduler } from "../sched/loop";
import { Event } from "../sched/event";
import { WireError } from "./wire/error";
import { IPV4_HEADER_LEN, IP_PROTO_UDP } from "./wire/ipv4";
import { ICMP_UNREACH_PORT } from "./wire/icmp";
import { UdpRepr, UDP_HEADER_LEN } from "./wire/udp";
import { UdpCounters } from "./counters";
import { IpService, IpProtocol, IpPacket, IcmpErrorReport, IpError } from "./ip-protocol";

/** Sees each datagram for a socket that has one (instead of the queue). */
export abstract class UdpHandler {
  abstract datagram(sock: UdpSocket, srcIp: u32, srcPort: u32, dstIp: u32, ptr: usize, len: u32): void;
}

/** `sendTo` on a closed socket; its other failures are the IP layer's (IpError). */
export namespace UdpError {
  export const Closed: i32 = -4;
}

const SLOT_HDR: u32 = 16;

export class Udp extends IpProtocol {
  readonly ip: IpService;
  readonly sched: Scheduler;
  readonly counters: UdpCounters = new UdpCounters();
  private readonly sockets: Array<UdpSocket> = new Array<UdpSocket>();
  private readonly rx: UdpRepr = new UdpRepr();
  private readonly tx: UdpRepr = new UdpRepr();
  private readonly header: usize = heap.alloc(UDP_HEADER_LEN);

  /** UDP on `ip`: registers for protocol 17. */
  constructor(ip: IpService, sched: Scheduler) {
    super();
    this.ip = ip;
    this.sched = sched;
    ip.register(IP_PROTO_UDP, this);
  }

  /**
   * Binds a socket to `port` (0: an ephemeral port) with a receive queue
   * of `slots` datagrams of up to `slotSize` bytes; null if the port is taken
   * (or, for 0, every ephemeral port is).
   */
  bind(port: u32, slots: u32 = 16, slotSize: u32 = 2048): UdpSocket | null {
    if (port == 0) {
      port = this.ip.ports.allocate<Udp>(this);
      if (port == 0) return null;
    } else if (port > 65535 || this.find(port) != null) return null;
    const s = new UdpSocket(this, port, max<u32>(slots, 1), slotSize);
    this.sockets.push(s);
    return s;
  }

  /** Whether a socket is bound to `port` (the ephemeral-port allocator asks). */
  portInUse(port: u32): bool {
    return this.find(port) != null;
  }

  unbind(s: UdpSocket): void {
    const a = this.sockets;
    for (let i = 0; i < a.length; i++) {
      if (unchecked(a[i]) == s) {
        a[i] = a[a.length - 1];
        a.pop();
        return;
      }
    }
  }

  find(port: u32): UdpSocket | null {
    const a = this.sockets;
    for (let i = 0; i < a.length; i++) if (unchecked(a[i]).port == port) return unchecked(a[i]);
    return null;
  }

  /**
   * Sends a datagram from `srcPort` with the payload at [ptr, ptr+len).
   * `src` 0 means our address (a DHCP client sends from 0.0.0.0 before it has
   * one: it passes 0 with no address configured). Returns `len` or an IpError.
   */
  send(srcPort: u32, dst: u32, dstPort: u32, ptr: usize, len: u32, src: u32 = 0): i32 {
    if (len > 65535 - IPV4_HEADER_LEN - UDP_HEADER_LEN) return IpError.TooBig;
    if (src == 0) src = this.ip.sourceFor(dst);
    const u = this.tx;
    u.srcPort = srcPort;
    u.dstPort = dstPort;
    u.length = UDP_HEADER_LEN + len;
    // The checksum covers the whole datagram, so it is computed here, before fragmentation splits it.
    u.emitHeader(this.header, src, dst, ptr);
    const r = this.ip.output(IP_PROTO_UDP, src, dst, this.header, UDP_HEADER_LEN, ptr, len, false);
    if (r < 0) return r;
    this.counters.txDatagrams++;
    return <i32>len;
  }

  input(p: IpPacket): void {
    const c = this.counters;
    const u = this.rx;
    const err = u.parse(p.payload, p.payloadLen, p.src, p.dst, !p.checksumValid);
    if (err != WireError.Ok) {
      if (err == WireError.BadChecksum) c.dropBadChecksum++;
      else c.dropMalformed++;
      return;
    }
    c.rxDatagrams++;
    const s = this.find(u.dstPort);
    if (!s) {
      c.dropNoSocket++;
      this.ip.unreachable(ICMP_UNREACH_PORT, p);
      return;
    }
    if (!s.deliver(p.src, u.srcPort, p.dst, p.payload + UDP_HEADER_LEN, u.payloadLen)) {
      if (u.payloadLen > s.slotSize) c.dropTooBig++;
      else c.dropQueueFull++;
    }
  }

  /** The quote is our header: its source port names the socket. */
  icmpError(e: IcmpErrorReport): bool {
    if (e.quoteLen < 4) return false;
    const s = this.find(e.quote16(0));
    if (!s) return false;
    s.icmpError(e.type, e.code, e.dst, e.quote16(2));
    return true;
  }
}

export class UdpSocket {
  readonly udp: Udp;
  port: u32;
  readonly slots: u32;
  readonly slotSize: u32;
  private mem: usize;
  private head: u32 = 0;
  /** Datagrams queued. */
  count: u32 = 0;
  /** Broadcast (signal to one waiter per datagram) when a datagram is queued or an ICMP error arrives. */
  readonly event: Event;
  handler: UdpHandler | null = null;
  open: bool = true;
  received: u64 = 0;
  sent: u64 = 0;
  /** Dropped: the queue was full. */
  dropped: u64 = 0;
  /** Dropped: larger than a slot. */
  droppedTooBig: u64 = 0;
  /** ICMP errors about datagrams this socket sent. */
  errors: u64 = 0;
  lastErrorType: u32 = 0;
  lastErrorCode: u32 = 0;
  /** Where the datagram that drew the error was going. */
  lastErrorDst: u32 = 0;
  lastErrorPort: u32 = 0;
  /** Filled by `recvFrom`. */
  srcIp: u32 = 0;
  srcPort: u32 = 0;
  dstIp: u32 = 0;

  constructor(udp: Udp, port: u32, slots: u32, slotSize: u32) {
    this.udp = udp;
    this.event = new Event(udp.sched);
    this.port = port;
    this.slots = slots;
    this.slotSize = slotSize;
    this.mem = heap.alloc(<usize>slots * (SLOT_HDR + slotSize));
  }

  /** Queues (or hands to the handler) a datagram that arrived for this socket. */
  deliver(srcIp: u32, srcPort: u32, dstIp: u32, p: usize, len: u32): bool {
    this.received++;
    const h = this.handler;
    if (h) {
      h.datagram(this, srcIp, srcPort, dstIp, p, len);
      return true;
    }
    if (len > this.slotSize) {
      this.droppedTooBig++;
      return false;
    }
    if (this.count == this.slots) {
      this.dropped++;
      return false;
    }
    const i = (this.head + this.count) % this.slots;
    const s = this.mem + <usize>i * (SLOT_HDR + this.slotSize);
    store<u32>(s, srcIp);
    store<u32>(s, srcPort, 4);
    store<u32>(s, dstIp, 8);
    store<u32>(s, len, 12);
    memory.copy(s + SLOT_HDR, p, len);
    this.count++;
    this.event.signal();
    return true;
  }

  /**
   * Takes the oldest datagram: copies at most `cap` bytes to `ptr` and
   * returns its full length (larger than `cap`: the rest is lost), or -1 when
   * the queue is empty. The sender is in `srcIp`/`srcPort`.
   */
  recvFrom(ptr: usize, cap: u32): i32 {
    if (this.count == 0) return -1;
    const s = this.mem + <usize>this.head * (SLOT_HDR + this.slotSize);
    this.srcIp = load<u32>(s);
    this.srcPort = load<u32>(s, 4);
    this.dstIp = load<u32>(s, 8);
    const len = load<u32>(s, 12);
    memory.copy(ptr, s + SLOT_HDR, min(len, cap));
    this.head = (this.head + 1) % this.slots;
    this.count--;
    return <i32>len;
  }

  /** Sends `len` bytes at `ptr` to `dst`:`dstPort` (fragmented if needed); returns `len`, an IpError, or UdpError.Closed. */
  sendTo(dst: u32, dstPort: u32, ptr: usize, len: u32): i32 {
    if (!this.open) return UdpError.Closed;
    const r = this.udp.send(this.port, dst, dstPort, ptr, len, 0);
    if (r >= 0) this.sent++;
    return r;
  }

  /** Records an ICMP error about a datagram this socket sent to `dst`:`dstPort`. */
  icmpError(type: u32, code: u32, dst: u32, dstPort: u32): void {
    this.errors++;
    this.lastErrorType = type;
    this.lastErrorCode = code;
    this.lastErrorDst = dst;
    this.lastErrorPort = dstPort;
    this.event.signal();
  }

  /** Unbinds the port; queued datagrams are discarded. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.count = 0;
    this.udp.unbind(this);
    heap.free(this.mem);
    this.mem = 0;
  }
}
