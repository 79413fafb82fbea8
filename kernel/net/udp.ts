// UDP sockets: a bound port with a bounded receive queue (fixed slots,
// allocated at bind) and drop counters, or a handler that sees datagrams as
// they arrive (the DHCP client and DNS resolver work that way). Receiving
// copies the datagram out of the packet buffer once, into the socket's slot;
// nothing is allocated per datagram.

import { Event } from "../sched/event";
import { Interface } from "./iface";

/** Sees each datagram for a socket that has one (instead of the queue). */
export abstract class UdpHandler {
  abstract datagram(sock: UdpSocket, srcIp: u32, srcPort: u32, dstIp: u32, ptr: usize, len: u32): void;
}

/** `sendTo` on a closed socket; its other failures are the IP layer's (IpError). */
export namespace UdpError {
  export const Closed: i32 = -4;
}

const SLOT_HDR: u32 = 16;

export class UdpSocket {
  readonly iface: Interface;
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

  constructor(iface: Interface, port: u32, slots: u32, slotSize: u32) {
    this.iface = iface;
    this.event = new Event(iface.sched);
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
    const r = this.iface.sendUdp(this.port, dst, dstPort, ptr, len, 0);
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
    this.iface.unbindUdp(this);
    heap.free(this.mem);
    this.mem = 0;
  }
}
