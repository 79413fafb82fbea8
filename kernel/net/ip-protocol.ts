// The seam between IPv4 and the protocols above it (after mirage-tcpip's
// `Ipv4.input ~tcp ~udp ~default`). An upper protocol (ICMP, UDP, TCP, or an
// experiment's own) registers with an IpService under its protocol number;
// the IPv4 layer hands it every datagram for that number that passed the IP
// checks (reassembled if it came in fragments), and every ICMP error that
// quotes a datagram it sent. It sends through the same service. Nothing here
// imports a layer above: protocols are reached through these classes only.
//
// The service is implemented by the kernel's IPv4 layer (kernel/net/ip.ts)
// and, for TCP tests without a network, by the in-memory pipe
// (kernel/net/tcp/pipe.ts) or a capture.

import { EphemeralPorts } from "./ports";
import { ICMP_DEST_UNREACHABLE, ICMP_UNREACH_PROTOCOL, ICMP_UNREACH_PORT, ICMP_UNREACH_NEEDFRAG } from "./wire/icmp";

/** Why `IpService.output` did not send (negative; 0 is success). */
export namespace IpError {
  /** No route to the destination. */
  export const NoRoute: i32 = -1;
  /** The packet pool was empty. */
  export const NoBuffer: i32 = -2;
  /** Larger than 64 KiB, or than the MTU with don't-fragment set. */
  export const TooBig: i32 = -3;
  /** The link is down. */
  export const Down: i32 = -5;
}

/** A short name for an IpError value (or the other send results above it). */
export function ipErrorName(e: i32): string {
  if (e == IpError.NoRoute) return "no route";
  if (e == IpError.NoBuffer) return "no buffer";
  if (e == IpError.TooBig) return "too big";
  if (e == IpError.Down) return "link down";
  return e >= 0 ? "ok" : "error " + e.toString();
}

/**
 * One received datagram, as the IPv4 layer hands it up. The object and the
 * bytes it points at are only valid during the `input` call (the layer
 * reuses both): copy what must be kept.
 */
export class IpPacket {
  src: u32 = 0;
  dst: u32 = 0;
  protocol: u32 = 0;
  /** The IPv4 header (to quote in an ICMP error); 0 where there is none (a pipe). */
  header: usize = 0;
  headerLen: u32 = 0;
  /** The whole payload: reassembled if the datagram came in fragments. */
  payload: usize = 0;
  payloadLen: u32 = 0;
  /** Sent to a broadcast address (IP limited or directed, or Ethernet broadcast). */
  broadcast: bool = false;
  /** Reassembled from fragments (no ICMP error may be sent about it; the header is the first fragment's). */
  reassembled: bool = false;
  /** The device verified the transport checksum. */
  checksumValid: bool = false;
}

/**
 * An ICMP error about a datagram we sent, for the protocol that sent it.
 * Only valid during the `icmpError` call.
 */
export class IcmpErrorReport {
  /** ICMP type and code (RFC 792). */
  type: u32 = 0;
  code: u32 = 0;
  /** The error's second word (a fragmentation-needed error's next-hop MTU is its low half, RFC 1191). */
  rest: u32 = 0;
  /** Who sent the error. */
  from: u32 = 0;
  /** The quoted datagram's addresses: our source, and where it was going. */
  src: u32 = 0;
  dst: u32 = 0;
  /** The quoted transport bytes (at least 8: ports, and TCP's sequence number). */
  quote: usize = 0;
  quoteLen: u32 = 0;

  /** Destination unreachable for the protocol or port: the peer says no (RFC 1122 4.2.3.9). */
  get hard(): bool {
    return this.type == ICMP_DEST_UNREACHABLE && (this.code == ICMP_UNREACH_PROTOCOL || this.code == ICMP_UNREACH_PORT);
  }

  /** The next-hop MTU of a fragmentation-needed error, else 0. */
  get mtu(): u32 {
    return this.type == ICMP_DEST_UNREACHABLE && this.code == ICMP_UNREACH_NEEDFRAG ? this.rest & 0xffff : 0;
  }

  /** Big-endian 16 bits of the quote at `off` (the caller checked quoteLen). */
  @inline quote16(off: u32): u32 {
    return (<u32>load<u8>(this.quote + off) << 8) | load<u8>(this.quote + off + 1);
  }
}

/**
 * Sends ICMP errors for the IPv4 layer (the ICMP layer registers one): a
 * protocol that finds no taker for a datagram reports it through
 * `Ipv4.unreachable`, which applies RFC 1122's rules first.
 */
export abstract class IpErrorSender {
  /** Destination unreachable (`code`) about `p`, quoting its header and 8 bytes of its payload. */
  abstract unreachable(code: u32, p: IpPacket): void;
}

/** What an upper protocol implements to hear from the IPv4 layer. */
export abstract class IpProtocol {
  /** A datagram for this protocol arrived (see IpPacket for what it may assume). */
  abstract input(p: IpPacket): void;
  /** An ICMP error quotes a datagram this protocol sent; returns whether it concerned something it has. */
  abstract icmpError(e: IcmpErrorReport): bool;
  /**
   * Packets can go again after `IpService.canSend` said none could: output
   * held back may be sent now. Called from inside a driver's reclaim, so it
   * only schedules the work. Protocols that never hold output back keep this.
   */
  sendable(): void {}
}

/** What the IPv4 layer offers the protocols above it. */
export abstract class IpService {
  /** The ephemeral-port allocator every transport on this layer draws from (implementations seed it randomly). */
  ports: EphemeralPorts = new EphemeralPorts(0);

  /**
   * Makes `p` the receiver of protocol number `protocol`. A number has one
   * receiver: registering a second is a programming error and aborts, so a
   * stack can never be silently cut off from its input.
   */
  abstract register(protocol: u32, p: IpProtocol): void;
  /**
   * Sends an IPv4 datagram of `protocol` whose payload is the `hdrLen` bytes
   * at `hdr` followed by the `dataLen` bytes at `data` (both copied during
   * the call), from `src` (0: our address) to `dst`, fragmented to the MTU
   * unless `dontFrag`. Returns 0 or an IpError.
   */
  abstract output(protocol: u32, src: u32, dst: u32, hdr: usize, hdrLen: u32, data: usize, dataLen: u32, dontFrag: bool): i32;
  /** The largest payload (transport header included) a datagram to `dst` carries unfragmented. */
  abstract mtuFor(dst: u32): u32;
  /**
   * Whether a datagram of one packet can be sent now: false when every
   * packet buffer is in use (being sent, or received and not yet handled),
   * so `output` would fail with NoBuffer. After a false, every registered
   * protocol hears `sendable` once buffers come back: a protocol that keeps
   * what it would have sent (TCP) sends it then, and loses nothing. Layers
   * whose output never runs short keep this default.
   */
  canSend(): bool {
    return true;
  }

  // ---- TCP segmentation offload (TSO): one large segment, cut into MTU-sized ones by the device ----

  /**
   * The largest TCP segment (header included) `largeBegin` takes toward
   * `dst`, or 0 when the route's device cannot segment (no TSO, broadcast,
   * no route): the caller then sends segments that fit `mtuFor`. Layers
   * without offload keep this default.
   */
  largeMax(dst: u32): u32 {
    return 0;
  }

  /**
   * Where to build one large TCP segment to `dst` (up to `largeMax(dst)`
   * bytes, header first), or 0 when none can go now (the device's large
   * buffers are all in flight, or the next hop is not resolved). A non-zero
   * answer must be followed, before any other output, by `largeSend`, which
   * sends or gives back what was built there.
   */
  largeBegin(dst: u32): usize {
    return 0;
  }

  /**
   * Sends the TCP segment of `len` bytes built at `largeBegin`'s address:
   * its header is `hdrLen` bytes and its checksum field, at `csumOffset`,
   * holds the pseudo-header sum over all `len` bytes (the device completes
   * each piece's). The device cuts it into segments of at most `mss`
   * payload bytes, with consecutive IP identifications. Returns 0 or an
   * IpError; either way the buffer is no longer the caller's.
   */
  largeSend(src: u32, dst: u32, len: u32, hdrLen: u32, csumOffset: u32, mss: u32): i32 {
    return IpError.NoBuffer;
  }
  /** The source address for traffic to `dst` (0: none yet). */
  abstract sourceFor(dst: u32): u32;
  /**
   * A protocol had no taker for `p` (no socket on the port): sends a
   * destination unreachable with `code` unless RFC 1122 3.2.2 forbids it
   * (broadcasts, fragments). Layers without ICMP ignore it.
   */
  unreachable(code: u32, p: IpPacket): void {}
}
