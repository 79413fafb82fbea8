// The seam between TCP and the IP layer below it (kernel/net/ip-protocol.ts).
// TCP knows nothing of interfaces, routes or ARP. A TcpStack is built on an
// IpService and registers itself for protocol 6 there (TcpReceiver), so a
// stack that no IP layer feeds cannot exist; it sends whole segments,
// checksum filled in, through TcpOutput with don't-fragment set (TCP sizes
// its segments to the path). The kernel's IPv4 layer is one IpService; the
// in-memory pipe of the tests (pipe.ts) is another, which is how two stacks
// run in one kernel with no network at all.

import { IpService, IpProtocol, IpPacket, IcmpErrorReport } from "../ip-protocol";
import { IP_PROTO_TCP } from "../wire/ipv4";
import { TcpCounters } from "./counters";

/** Where the checksum field sits in a TCP header. */
const TCP_CHECKSUM_OFFSET: u32 = 16;

/** TCP's sending side of the IP seam. */
export class TcpOutput {
  constructor(readonly ip: IpService) {}

  /**
   * Sends the TCP segment [ptr, ptr+len) from `src` to `dst` (IPv4, host
   * order); the bytes are copied. Returns false if it was not sent (no
   * route, no buffer): TCP treats that like a loss on the wire.
   */
  send(src: u32, dst: u32, ptr: usize, len: u32): bool {
    return this.ip.output(IP_PROTO_TCP, src, dst, ptr, len, 0, 0, true) == 0;
  }

  /** Whether a segment can go now (a packet buffer is free); after a false, TcpInput.sendable says when one can (IpService.canSend). */
  canSend(): bool {
    return this.ip.canSend();
  }

  /** Segmentation offload: the largest segment (header included) `largeBegin` takes toward `dst`, 0 without (IpService.largeMax). */
  largeMax(dst: u32): u32 {
    return this.ip.largeMax(dst);
  }

  /** Where to build one large segment to `dst` now, or 0 (IpService.largeBegin); always followed by `largeSend`. */
  largeBegin(dst: u32): usize {
    return this.ip.largeBegin(dst);
  }

  /** Sends the large segment built at `largeBegin`'s address, cut by the device into `mss`-byte pieces; false if it was not sent. */
  largeSend(src: u32, dst: u32, len: u32, hdrLen: u32, mss: u32): bool {
    return this.ip.largeSend(src, dst, len, hdrLen, TCP_CHECKSUM_OFFSET, mss) == 0;
  }

  /** The largest segment (header included) that fits the path to `dst` without fragmenting. */
  mtuFor(dst: u32): u32 {
    return this.ip.mtuFor(dst);
  }

  /** The source address to use for a connection to `dst` (0: none). */
  sourceFor(dst: u32): u32 {
    return this.ip.sourceFor(dst);
  }
}

/** What the receiving side calls on the stack (TcpStack implements it). */
export abstract class TcpInput {
  /** A segment from `src` to `dst`: [ptr, ptr+len) is the TCP header and payload (the TCP checksum is not yet checked). */
  abstract input(src: u32, dst: u32, ptr: usize, len: u32): void;
  /** An ICMP error quoting a segment lip:lport -> rip:rport with sequence number `seq`; whether it concerned a connection. */
  abstract icmpError(lip: u32, lport: u32, rip: u32, rport: u32, seq: u32, hard: bool, mtu: u32): bool;
  /** Segments can go again after `TcpOutput.canSend` said none could (from inside a driver's reclaim: schedule, do not send). */
  abstract sendable(): void;
}

/** TCP's receiving side of the IP seam: registered for protocol 6. */
export class TcpReceiver extends IpProtocol {
  constructor(readonly tcp: TcpInput, readonly counters: TcpCounters) {
    super();
  }

  input(p: IpPacket): void {
    // TCP is unicast only (RFC 1122 4.2.3.10); the stack checks 255.255.255.255 itself, not a subnet's broadcast.
    if (p.broadcast) {
      this.counters.dropBadAddress++;
      return;
    }
    this.tcp.input(p.src, p.dst, p.payload, p.payloadLen);
  }

  icmpError(e: IcmpErrorReport): bool {
    // The 8 quoted bytes of TCP are the ports and the sequence number: enough to find the connection and check the quote.
    if (e.quoteLen < 8) return false;
    const seq = bswap<u32>(load<u32>(e.quote + 4));
    return this.tcp.icmpError(e.src, e.quote16(0), e.dst, e.quote16(2), seq, e.hard, e.mtu);
  }

  sendable(): void {
    this.tcp.sendable();
  }
}
