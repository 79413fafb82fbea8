// The IPv4 layer of one link: its address, routes and MTU; input (header
// checks, source and destination rules, reassembly) and dispatch by protocol
// number to whatever registered (ICMP, UDP, TCP, or an experiment's own
// protocol; nothing here imports them); output (routing, fragmentation to
// the MTU, the next hop handed to the link for ARP). Its timer expires
// reassembly slots. Every drop is counted.

import { clock_ns, entropy } from "../hal";
import { Scheduler } from "../sched/loop";
import { Task } from "../sched/task";
import { TimerTask } from "../sched/timer-task";
import { WireError } from "./wire/error";
import { Ipv4Repr, IPV4_HEADER_LEN, IP_PROTO_UDP, IP_PROTO_TCP, IPV4_BROADCAST, isBroadcastOn } from "./wire/ipv4";
import { ETH_HEADER_LEN } from "./wire/ethernet";
import { NetCaps } from "./device";
import { ICMP_UNREACH_PROTOCOL } from "./wire/icmp";
import { Ipv4Counters } from "./counters";
import { EthernetLink, LinkReceiver, LINK_PAYLOAD } from "./link";
import { PoolWaiter } from "../mem/pktbuf";
import { RouteTable } from "./route";
import { Reassembler, REASM_TIMEOUT_NS } from "./reassembly";
import { EphemeralPorts } from "./ports";
import { IpService, IpProtocol, IpPacket, IpErrorSender, IpError } from "./ip-protocol";

/** The pool tells the IPv4 layer when buffers return after it found none; the protocols hear it from there. */
class Ipv4PoolWaiter extends PoolWaiter {
  constructor(readonly ip: Ipv4) {
    super();
  }
  buffersBack(): void {
    this.ip.buffersBack();
  }
}

class Ipv4Input extends LinkReceiver {
  constructor(readonly ip: Ipv4) {
    super();
  }
  input(p: usize, len: u32, l2Broadcast: bool, checksumValid: bool): void {
    this.ip.input(p, len, l2Broadcast, checksumValid);
  }
}

export class Ipv4 extends IpService {
  readonly link: EthernetLink;
  readonly counters: Ipv4Counters = new Ipv4Counters();
  readonly routes: RouteTable = new RouteTable();
  reasm!: Reassembler;
  /** Our address (0 until configured) and prefix. */
  addr: u32 = 0;
  prefixLen: i32 = 0;
  gateway: u32 = 0;
  /** Largest IP packet we send; the link's MTU unless lowered. */
  mtu: u32;
  ttl: u32 = 64;
  private ident: u32 = 0;
  /** The large buffer `largeBegin` handed out, until `largeSend` (0: none). */
  private largeBuf: usize = 0;
  private readonly protocols: StaticArray<IpProtocol | null> = new StaticArray<IpProtocol | null>(256);
  /** The same receivers in the order they registered (what `buffersBack` tells). */
  private readonly registered: Array<IpProtocol> = new Array<IpProtocol>();
  private errors: IpErrorSender | null = null;
  private timer!: TimerTask<Ipv4>;
  // Reused for every packet: parsing allocates nothing.
  private readonly rx: Ipv4Repr = new Ipv4Repr();
  private readonly tx: Ipv4Repr = new Ipv4Repr();
  private readonly packet: IpPacket = new IpPacket();

  constructor(link: EthernetLink, sched: Scheduler) {
    super();
    this.link = link;
    this.mtu = link.mtu;
    this.reasm = new Reassembler(this.counters);
    this.timer = new TimerTask<Ipv4>(sched, "reasm", this);
    // One draw: the identification counter starts at a random place (low half), the ephemeral ports too (high half).
    const seed = memory.data(4);
    entropy(seed, 4);
    this.ident = load<u32>(seed) & 0xffff;
    this.ports = new EphemeralPorts(load<u32>(seed) >>> 16);
    link.setReceiver(new Ipv4Input(this));
    link.pool.addWaiter(new Ipv4PoolWaiter(this));
  }

  // ---- configuration ----

  /**
   * Sets our address and prefix (0 clears it and every route), replacing the
   * on-link route; the link announces a new address with a gratuitous ARP.
   */
  setAddress(addr: u32, prefixLen: i32): void {
    if (this.addr != 0) this.routes.remove(this.addr, this.prefixLen);
    this.addr = addr;
    this.prefixLen = prefixLen;
    if (addr == 0) {
      this.routes.clear();
      this.gateway = 0;
    } else this.routes.add(addr, prefixLen, 0);
    this.link.setProtocolAddress(addr, prefixLen);
  }

  /** Sets the default gateway (0 removes the default route). */
  setGateway(gw: u32): void {
    this.gateway = gw;
    if (gw) this.routes.add(0, 0, gw);
    else this.routes.remove(0, 0);
  }

  /** Whether `ip` is a broadcast address for us: limited, or our subnet's directed broadcast. */
  isBroadcast(ip: u32): bool {
    return isBroadcastOn(ip, this.addr, this.prefixLen);
  }

  // ---- the protocols above ----

  register(protocol: u32, p: IpProtocol): void {
    if (protocol > 255 || this.protocols[protocol] != null) throw new Error("IP protocol " + protocol.toString() + " already has a receiver");
    this.protocols[protocol] = p;
    this.registered.push(p);
  }

  canSend(): bool {
    return this.link.pool.ready();
  }

  /** Buffers came back to the pool after `canSend` (or an output) found none: every protocol may send again. */
  buffersBack(): void {
    const r = this.registered;
    for (let i = 0, n = r.length; i < n; i++) unchecked(r[i]).sendable();
  }

  /** The receiver registered for `protocol`, or null. */
  receiver(protocol: u32): IpProtocol | null {
    return protocol > 255 ? null : this.protocols[protocol];
  }

  /** Makes `e` the sender of the ICMP errors this layer and its protocols report. */
  setErrorSender(e: IpErrorSender): void {
    this.errors = e;
  }

  unreachable(code: u32, p: IpPacket): void {
    // RFC 1122 3.2.2: never about a broadcast, nor a fragment (the header would quote the first one only).
    if (p.broadcast || p.reassembled || this.addr == 0) return;
    const e = this.errors;
    if (e) e.unreachable(code, p);
  }

  mtuFor(dst: u32): u32 {
    return this.mtu - IPV4_HEADER_LEN;
  }

  sourceFor(dst: u32): u32 {
    return this.addr;
  }

  // ---- segmentation offload ----

  largeMax(dst: u32): u32 {
    const dev = this.link.dev;
    if ((dev.caps & NetCaps.TSO4) == 0 || this.addr == 0 || this.isBroadcast(dst) || this.routes.nextHop(dst) == 0) return 0;
    return min<u32>(dev.largeMax - ETH_HEADER_LEN, 65535) - IPV4_HEADER_LEN;
  }

  largeBegin(dst: u32): usize {
    if (this.largeMax(dst) == 0 || !this.link.dev.linkUp()) return 0;
    // A large frame cannot wait in the ARP queue (it holds packet buffers): only to a resolved hop.
    if (!this.link.arp.has(this.routes.nextHop(dst))) return 0;
    assert(this.largeBuf == 0, "ip: largeBegin twice without largeSend");
    const b = this.link.dev.largeBuffer();
    this.largeBuf = b;
    return b == 0 ? 0 : b + LINK_PAYLOAD + IPV4_HEADER_LEN;
  }

  largeSend(src: u32, dst: u32, len: u32, hdrLen: u32, csumOffset: u32, mss: u32): i32 {
    const b = this.largeBuf;
    this.largeBuf = 0;
    if (b == 0) return IpError.NoBuffer;
    const c = this.counters;
    const max = this.largeMax(dst);
    const hop = max != 0 ? this.routes.nextHop(dst) : 0;
    if (hop == 0 || len > max || hdrLen >= len || mss == 0) {
      this.link.dev.releaseLarge(b);
      if (hop == 0) c.dropNoRoute++;
      else c.dropTooBig++;
      return hop == 0 ? IpError.NoRoute : IpError.TooBig;
    }
    // The device numbers the pieces from this identification on (RFC 6864 allows any for DF
    // packets; consecutive ones are what Linux's segmentation writes), so the next packet skips them.
    const pieces = (len - hdrLen + mss - 1) / mss;
    const ip = this.tx;
    ip.tos = 0;
    ip.ident = this.ident;
    this.ident = (this.ident + pieces) & 0xffff;
    ip.dontFrag = true;
    ip.ttl = this.ttl;
    ip.protocol = IP_PROTO_TCP;
    ip.src = src == 0 ? this.addr : src;
    ip.dst = dst;
    ip.totalLen = IPV4_HEADER_LEN + len;
    ip.fragOffset = 0;
    ip.moreFrags = false;
    ip.emit(b + LINK_PAYLOAD);
    c.txPackets += pieces;
    return this.link.sendIpv4Large(b, IPV4_HEADER_LEN + len, IPV4_HEADER_LEN + hdrLen, IPV4_HEADER_LEN, csumOffset, mss, hop, clock_ns()) ? 0 : IpError.Down;
  }

  // ---- output ----

  /**
   * Sends an IPv4 packet whose payload is `hdrLen` bytes at `hdr` followed by
   * `dataLen` bytes at `data`, fragmenting to the MTU (unless `dontFrag`).
   * `src` 0 means our address (a DHCP client sends from 0.0.0.0 before it
   * has one). Returns 0 or an IpError. Each fragment is copied once into its
   * own packet buffer.
   */
  output(protocol: u32, src: u32, dst: u32, hdr: usize, hdrLen: u32, data: usize, dataLen: u32, dontFrag: bool): i32 {
    const c = this.counters;
    if (src == 0) src = this.addr;
    // Routing: the limited broadcast never leaves the link, nor needs a route.
    let hop: u32 = 0;
    let bcast = false;
    if (this.isBroadcast(dst)) bcast = true;
    else {
      hop = this.routes.nextHop(dst);
      if (hop == 0) {
        c.dropNoRoute++;
        return IpError.NoRoute;
      }
    }
    if (!this.link.dev.linkUp()) return IpError.Down;
    const total = hdrLen + dataLen;
    const room = this.mtu - IPV4_HEADER_LEN;
    if (total > 65535 - IPV4_HEADER_LEN || (total > room && dontFrag)) {
      c.dropTooBig++;
      return IpError.TooBig;
    }
    const chunk = total > room ? room & ~7 : total;
    const ip = this.tx;
    ip.tos = 0;
    ip.ident = this.ident;
    this.ident = (this.ident + 1) & 0xffff;
    ip.dontFrag = dontFrag;
    ip.ttl = this.ttl;
    ip.protocol = protocol;
    ip.src = src;
    ip.dst = dst;
    const now = clock_ns();
    const pool = this.link.pool;
    let off: u32 = 0;
    while (off < total) {
      const n = min<u32>(chunk, total - off);
      const buf = pool.alloc();
      if (buf == 0) {
        c.dropNoBuffer++;
        return IpError.NoBuffer;
      }
      const p = buf + LINK_PAYLOAD + IPV4_HEADER_LEN;
      // Copy [off, off+n) of header ++ data.
      let k: u32 = 0;
      if (off < hdrLen) {
        k = min<u32>(hdrLen - off, n);
        memory.copy(p, hdr + off, k);
      }
      if (k < n) memory.copy(p + k, data + (off + k - hdrLen), n - k);
      ip.totalLen = IPV4_HEADER_LEN + n;
      ip.fragOffset = off;
      ip.moreFrags = off + n < total;
      ip.emit(buf + LINK_PAYLOAD);
      if (total > chunk) c.fragmentsTx++;
      c.txPackets++;
      this.link.sendIpv4(buf, IPV4_HEADER_LEN + n, bcast, hop, now);
      off += n;
    }
    return 0;
  }

  // ---- input ----

  /** One IPv4 packet from the link: `len` bytes at `p` (valid during the call). */
  input(p: usize, len: u32, l2bcast: bool, csumValid: bool): void {
    const c = this.counters;
    c.rxPackets++;
    const ip = this.rx;
    const err = ip.parse(p, len, true);
    if (err != WireError.Ok) {
      if (err == WireError.Truncated) c.dropTruncated++;
      else if (err == WireError.BadVersion || err == WireError.BadHeaderLen) c.dropBadHeader++;
      else if (err == WireError.BadChecksum) c.dropBadChecksum++;
      else if (err == WireError.BadTtl) c.dropBadTtl++;
      else c.dropBadLength++;
      return;
    }
    const src = ip.src;
    if (src == IPV4_BROADCAST || (src >>> 28) == 0xe || (src >>> 24) == 127 || (this.addr != 0 && src == this.addr) || this.isBroadcast(src)) {
      c.dropBadSource++;
      return;
    }
    const dst = ip.dst;
    const bcast = this.isBroadcast(dst);
    let ok = dst == this.addr || bcast;
    // Before we have an address, DHCP replies may come unicast to the offered one.
    if (!ok && this.addr == 0 && ip.protocol == IP_PROTO_UDP) ok = true;
    if (!ok || this.addr == 0 && dst != IPV4_BROADCAST && ip.protocol != IP_PROTO_UDP) {
      c.dropNotForUs++;
      return;
    }
    let payload = p + ip.headerLen;
    let plen = ip.payloadLen;
    const frag = ip.isFragment;
    if (frag) {
      const now = clock_ns();
      if (!this.reasm.add(ip, payload, plen, now)) {
        this.timer.armBy(now + REASM_TIMEOUT_NS); // a new slot expires then; older ones are already armed
        return;
      }
      payload = this.reasm.readyPtr;
      plen = this.reasm.readyLen;
      csumValid = false;
    }
    const pk = this.packet;
    pk.src = src;
    pk.dst = dst;
    pk.protocol = ip.protocol;
    pk.header = p;
    pk.headerLen = ip.headerLen;
    pk.payload = payload;
    pk.payloadLen = plen;
    pk.broadcast = bcast || l2bcast;
    pk.reassembled = frag;
    pk.checksumValid = csumValid;
    const up = this.protocols[ip.protocol];
    if (up != null) {
      c.rxDelivered++;
      up.input(pk);
    } else {
      c.dropUnknownProtocol++;
      this.unreachable(ICMP_UNREACH_PROTOCOL, pk);
    }
    if (frag) this.reasm.consumed();
  }

  /** Reassembly expiry (the timer task). */
  onTimer(task: Task): void {
    this.timer.rearm(this.reasm.poll(clock_ns()));
  }
}
