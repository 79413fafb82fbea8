// ICMP over the IPv4 layer: echo (answering pings, and `ping` for apps),
// the errors we send for the IPv4 layer and its protocols (destination
// unreachable, rate-limited: RFC 1812 4.3.2.8's token bucket, so a port scan
// or a flood to closed ports cannot make us a traffic amplifier; when one may
// be sent at all, RFC 1122 3.2.2, is Ipv4.unreachable's to decide), and the
// errors we receive, handed to the protocol that sent what they quote.

import { clock_ns } from "../hal";
import { SEC } from "../sched/time";
import { WireError } from "./wire/error";
import { Ipv4Repr, IP_PROTO_ICMP } from "./wire/ipv4";
import { IcmpRepr, ICMP_HEADER_LEN, ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY, ICMP_DEST_UNREACHABLE } from "./wire/icmp";
import { IcmpCounters } from "./counters";
import { IpProtocol, IpPacket, IcmpErrorReport, IpErrorSender, IpError } from "./ip-protocol";
import { Ipv4 } from "./ip";

/** Largest echo payload `ping` sends (fragmented above the MTU). */
export const PING_MAX: u32 = 8192;

/** Errors we may send in a burst, and how fast the bucket refills. */
export const ICMP_ERROR_BURST: u32 = 10;
export const ICMP_ERROR_INTERVAL_NS: u64 = SEC / 10;

export class IcmpRateLimit {
  private tokens: u32 = ICMP_ERROR_BURST;
  private last: u64 = 0;

  /** Takes a token if there is one. */
  take(now: u64): bool {
    if (now > this.last) {
      const add = (now - this.last) / ICMP_ERROR_INTERVAL_NS;
      if (add > 0) {
        this.tokens = <u32>min<u64>(<u64>ICMP_ERROR_BURST, <u64>this.tokens + add);
        this.last += add * ICMP_ERROR_INTERVAL_NS;
      }
    } else if (this.last == 0) this.last = now;
    if (this.tokens == 0) return false;
    this.tokens--;
    return true;
  }
}

/** Sees echo replies (an app's ping). */
export abstract class EchoHandler {
  abstract reply(from: u32, ident: u32, seq: u32, dataLen: u32): void;
}

class IcmpErrors extends IpErrorSender {
  constructor(readonly icmp: Icmp) {
    super();
  }
  unreachable(code: u32, p: IpPacket): void {
    this.icmp.sendUnreachable(code, p);
  }
}

export class Icmp extends IpProtocol {
  readonly ip: Ipv4;
  readonly counters: IcmpCounters = new IcmpCounters();
  /** Hears echo replies. */
  echoHandler: EchoHandler | null = null;
  private readonly limit: IcmpRateLimit = new IcmpRateLimit();
  private readonly rx: IcmpRepr = new IcmpRepr();
  private readonly tx: IcmpRepr = new IcmpRepr();
  private readonly quoted: Ipv4Repr = new Ipv4Repr();
  private readonly report: IcmpErrorReport = new IcmpErrorReport();
  /** Header, then (errors) the quote: 8 + 60 + 8 bytes. */
  private readonly scratch: usize = heap.alloc(80);
  private pingData: usize = 0;

  /** ICMP on `ip`: registers for protocol 1 and as the layer's error sender. */
  constructor(ip: Ipv4) {
    super();
    this.ip = ip;
    ip.register(IP_PROTO_ICMP, this);
    ip.setErrorSender(new IcmpErrors(this));
  }

  /** Sends an echo request with `dataLen` bytes of pattern; replies go to `echoHandler`. Returns 0 or an IpError. */
  ping(dst: u32, ident: u32, seq: u32, dataLen: u32): i32 {
    if (dataLen > PING_MAX) return IpError.TooBig;
    let d = this.pingData;
    if (d == 0) {
      d = heap.alloc(PING_MAX);
      for (let i: u32 = 0; i < PING_MAX; i++) store<u8>(d + i, <u8>i);
      this.pingData = d;
    }
    return this.send(dst, ICMP_ECHO_REQUEST, 0, (ident << 16) | (seq & 0xffff), d, dataLen);
  }

  private send(dst: u32, type: u32, code: u32, rest: u32, data: usize, dataLen: u32): i32 {
    const m = this.tx;
    m.type = type;
    m.code = code;
    m.rest = rest;
    m.dataLen = dataLen;
    m.emitHeader(this.scratch, data);
    const r = this.ip.output(IP_PROTO_ICMP, this.ip.addr, dst, this.scratch, ICMP_HEADER_LEN, data, dataLen, false);
    if (r >= 0) this.counters.txMessages++;
    return r;
  }

  /** Destination unreachable about `p` (Ipv4.unreachable checked it may be sent), quoting its header and 8 payload bytes. */
  sendUnreachable(code: u32, p: IpPacket): void {
    const c = this.counters;
    if (!this.limit.take(clock_ns())) {
      c.unreachableLimited++;
      return;
    }
    const q = this.scratch + ICMP_HEADER_LEN;
    const ql = min<u32>(p.headerLen, 60);
    memory.copy(q, p.header, ql);
    const extra = min<u32>(p.payloadLen, 8);
    memory.copy(q + ql, p.payload, extra);
    if (this.send(p.src, ICMP_DEST_UNREACHABLE, code, 0, q, ql + extra) >= 0) c.unreachableSent++;
  }

  input(p: IpPacket): void {
    const c = this.counters;
    c.rxMessages++;
    const m = this.rx;
    const err = m.parse(p.payload, p.payloadLen, true);
    if (err != WireError.Ok) {
      if (err == WireError.BadChecksum) c.dropBadChecksum++;
      else c.dropMalformed++;
      return;
    }
    const data = p.payload + ICMP_HEADER_LEN;
    if (m.type == ICMP_ECHO_REQUEST) {
      c.rxEchoRequests++;
      if (p.broadcast) {
        c.dropBroadcastEcho++;
        return;
      }
      this.send(p.src, ICMP_ECHO_REPLY, 0, m.rest, data, m.dataLen);
    } else if (m.type == ICMP_ECHO_REPLY) {
      c.rxEchoReplies++;
      const h = this.echoHandler;
      if (h) h.reply(p.src, m.ident, m.seq, m.dataLen);
    } else if (m.isError) this.errorInput(p.src, m, data);
    else c.dropOther++;
  }

  /** An error quotes the header of our datagram and 8 bytes of it: hand it to the protocol that sent it. */
  private errorInput(from: u32, m: IcmpRepr, q: usize): void {
    const c = this.counters;
    const h = this.quoted;
    const ip = this.ip;
    if (h.parseQuoted(q, m.dataLen) != WireError.Ok || (ip.addr != 0 && h.src != ip.addr)) {
      c.errorsUnmatched++;
      return;
    }
    const up = ip.receiver(h.protocol);
    if (up == null) {
      c.errorsUnmatched++;
      return;
    }
    const e = this.report;
    e.type = m.type;
    e.code = m.code;
    e.rest = m.rest;
    e.from = from;
    e.src = h.src;
    e.dst = h.dst;
    e.quote = q + h.headerLen;
    e.quoteLen = m.dataLen - h.headerLen;
    if (up.icmpError(e)) c.errorsDelivered++;
    else c.errorsUnmatched++;
  }

  icmpError(e: IcmpErrorReport): bool {
    return false; // an error about an error is never sent (RFC 1122 3.2.2), so none can be ours
  }
}
