// The interface: one NIC's IPv4 stack. It receives frames from the device
// (as its NetReceiver), validates each layer with the wire views, and
// dispatches: ARP to the cache, IPv4 through reassembly to ICMP, UDP, and
// the protocols registered with its IpService (`iface.ipService`: TCP). It
// owns the address, the routes, the ARP cache, the reassembly buffers and
// the UDP port table. Output goes through one path, `output`, which routes,
// fragments to the MTU and resolves the next hop. Timers (ARP retries,
// reassembly expiry) are one scheduler task that sleeps until the earliest
// deadline, so an idle interface never wakes up. Every drop is counted.

import { clock_ns, entropy } from "../hal";
import { PacketPool, PKT_HEADROOM, PKT_MAX_FRAME } from "../mem/pktbuf";
import { Scheduler } from "../sched/loop";
import { Task } from "../sched/task";
import { NetDevice, NetReceiver, TxResult, RxFlags } from "./device";
import { WireError } from "./wire/error";
import { loadMac, storeMac, put16, MAC_BROADCAST, macIsGroup } from "./wire/bytes";
import { sum16, fold, pseudoSum } from "./wire/checksum";
import { EthernetRepr, ETH_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_MIN_FRAME } from "./wire/ethernet";
import { ArpRepr, ARP_LEN, ARP_REQUEST, ARP_REPLY } from "./wire/arp";
import { Ipv4Repr, IPV4_HEADER_LEN, IP_PROTO_ICMP, IP_PROTO_UDP, IP_PROTO_TCP, IPV4_BROADCAST } from "./wire/ipv4";
import { IcmpRepr, ICMP_HEADER_LEN, ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY, ICMP_DEST_UNREACHABLE, ICMP_UNREACH_PORT, ICMP_UNREACH_PROTOCOL, ICMP_UNREACH_NEEDFRAG } from "./wire/icmp";
import { UdpRepr, UDP_HEADER_LEN } from "./wire/udp";
import { NetCounters } from "./counters";
import { ArpCache, ArpOwner } from "./arp";
import { RouteTable, prefixMask } from "./route";
import { Reassembler, REASM_TIMEOUT_NS } from "./ipv4";
import { IcmpRateLimit } from "./icmp";
import { UdpSocket } from "./udp";
import { IpService, IpProtocol, IpPacket, IcmpErrorReport, IpError } from "./ip-protocol";

const L3: u32 = PKT_HEADROOM + ETH_HEADER_LEN;
const EPHEMERAL_FIRST: u32 = 49152;
/** Largest echo payload `ping` sends (fragmented above the MTU). */
export const PING_MAX: u32 = 8192;

class IfaceTimer extends Task {
  constructor(readonly iface: Interface) {
    super("net-timer");
  }
  run(): void {
    this.iface.onTimer(this);
  }
}

class IfaceArp extends ArpOwner {
  constructor(readonly iface: Interface) {
    super();
  }
  sendResolved(buf: usize, len: u32, mac: u64): void {
    storeMac(buf + PKT_HEADROOM, mac);
    this.iface.transmit(buf, len);
  }
  sendRequest(ip: u32): void {
    this.iface.sendArp(ARP_REQUEST, 0, ip, MAC_BROADCAST);
  }
  dropBuffer(buf: usize): void {
    this.iface.pool.free(buf);
  }
}

/** The interface as the IP layer of the protocols above it (TCP registers here). */
class IfaceIp extends IpService {
  constructor(readonly iface: Interface) {
    super();
  }
  register(protocol: u32, p: IpProtocol): void {
    this.iface.register(protocol, p);
  }
  output(protocol: u32, src: u32, dst: u32, hdr: usize, hdrLen: u32, data: usize, dataLen: u32, dontFrag: bool): i32 {
    return this.iface.output(protocol, src == 0 ? this.iface.addr : src, dst, hdr, hdrLen, data, dataLen, dontFrag);
  }
  mtuFor(dst: u32): u32 {
    return this.iface.mtu - IPV4_HEADER_LEN;
  }
  sourceFor(dst: u32): u32 {
    return this.iface.addr;
  }
}

/** Sees echo replies (an app's ping). */
export abstract class EchoHandler {
  abstract reply(from: u32, ident: u32, seq: u32, dataLen: u32): void;
}

export class Interface extends NetReceiver {
  readonly dev: NetDevice;
  readonly pool: PacketPool;
  readonly sched: Scheduler;
  readonly mac: u64;
  readonly counters: NetCounters = new NetCounters();
  readonly routes: RouteTable = new RouteTable();
  arp!: ArpCache;
  reasm!: Reassembler;
  /** Our address (0 until configured) and prefix. */
  addr: u32 = 0;
  prefixLen: i32 = 0;
  gateway: u32 = 0;
  /** DNS servers from DHCP or static configuration. */
  dns0: u32 = 0;
  dns1: u32 = 0;
  /** Largest IP packet we send; the device's MTU unless lowered. */
  mtu: u32;
  ttl: u32 = 64;
  echoHandler: EchoHandler | null = null;
  /** This interface's IPv4 as an IpService: what TCP is built on. */
  readonly ipService: IpService = new IfaceIp(this);
  /** Receivers by protocol number (ICMP and UDP are handled here). */
  private readonly protocols: StaticArray<IpProtocol | null> = new StaticArray<IpProtocol | null>(256);
  private readonly packet: IpPacket = new IpPacket();
  private readonly report: IcmpErrorReport = new IcmpErrorReport();
  private readonly sockets: Array<UdpSocket> = new Array<UdpSocket>();
  private timer!: IfaceTimer;
  private timerAt: u64 = u64.MAX_VALUE;
  private ident: u32 = 0;
  private nextEphemeral: u32 = EPHEMERAL_FIRST;
  private readonly unreachLimit: IcmpRateLimit = new IcmpRateLimit();
  // Reused for every packet: parsing allocates nothing.
  private readonly eth: EthernetRepr = new EthernetRepr();
  private readonly arpRepr: ArpRepr = new ArpRepr();
  private readonly ip: Ipv4Repr = new Ipv4Repr();
  private readonly icmp: IcmpRepr = new IcmpRepr();
  private readonly udp: UdpRepr = new UdpRepr();
  private readonly outIp: Ipv4Repr = new Ipv4Repr();
  /** Scratch for transport headers built before `output` (ICMP errors quote 28 bytes after theirs). */
  private readonly scratch: usize = heap.alloc(64);
  private pingData: usize = 0;

  constructor(dev: NetDevice, sched: Scheduler) {
    super();
    this.dev = dev;
    this.pool = dev.pool;
    this.sched = sched;
    this.mac = loadMac(changetype<usize>(dev.mac));
    this.mtu = min<u32>(dev.mtu, PKT_MAX_FRAME - ETH_HEADER_LEN);
    this.arp = new ArpCache(new IfaceArp(this), this.counters.arp);
    this.reasm = new Reassembler(this.counters.ip);
    this.timer = new IfaceTimer(this);
    const seed = memory.data(4);
    entropy(seed, 4);
    this.ident = load<u32>(seed) & 0xffff;
    this.nextEphemeral = EPHEMERAL_FIRST + (load<u32>(seed) >>> 16) % 16384;
    dev.setReceiver(this);
  }

  // ---- configuration ----

  /**
   * Sets our address and prefix (0 clears it), replacing the on-link route,
   * and announces it with a gratuitous ARP.
   */
  setAddress(addr: u32, prefixLen: i32): void {
    if (this.addr != 0) this.routes.remove(this.addr, this.prefixLen);
    const changed = addr != this.addr;
    this.addr = addr;
    this.prefixLen = prefixLen;
    if (addr == 0) {
      this.routes.clear();
      this.gateway = 0;
      return;
    }
    this.routes.add(addr, prefixLen, 0);
    if (changed) {
      this.counters.arp.txGratuitous++;
      this.sendArp(ARP_REQUEST, addr, addr, MAC_BROADCAST);
    }
  }

  /** Sets the default gateway (0 removes the default route). */
  setGateway(gw: u32): void {
    this.gateway = gw;
    if (gw) this.routes.add(0, 0, gw);
    else this.routes.remove(0, 0);
  }

  /** Whether `ip` is a broadcast address for us: limited, or our subnet's directed broadcast. */
  isBroadcast(ip: u32): bool {
    if (ip == IPV4_BROADCAST) return true;
    if (this.addr == 0 || this.prefixLen >= 31) return false;
    const m = prefixMask(this.prefixLen);
    return (ip & m) == (this.addr & m) && (ip | m) == IPV4_BROADCAST;
  }

  /** Makes `p` the receiver of IP protocol `protocol` (one per number). */
  register(protocol: u32, p: IpProtocol): void {
    if (protocol > 255 || protocol == IP_PROTO_ICMP || protocol == IP_PROTO_UDP || this.protocols[protocol] != null) {
      throw new Error("IP protocol " + protocol.toString() + " already has a receiver");
    }
    this.protocols[protocol] = p;
  }

  // ---- UDP sockets ----

  /**
   * Binds a UDP socket to `port` (0: an ephemeral port) with a receive queue
   * of `slots` datagrams of up to `slotSize` bytes; null if the port is taken.
   */
  udpBind(port: u32, slots: u32 = 16, slotSize: u32 = 2048): UdpSocket | null {
    if (port == 0) {
      for (let i = 0; i < 16384 && port == 0; i++) {
        const p = this.nextEphemeral;
        this.nextEphemeral = p == 65535 ? EPHEMERAL_FIRST : p + 1;
        if (this.findSocket(p) == null) port = p;
      }
      if (port == 0) return null;
    } else if (port > 65535 || this.findSocket(port) != null) return null;
    const s = new UdpSocket(this, port, max<u32>(slots, 1), slotSize);
    this.sockets.push(s);
    return s;
  }

  unbindUdp(s: UdpSocket): void {
    const a = this.sockets;
    for (let i = 0; i < a.length; i++) {
      if (unchecked(a[i]) == s) {
        a[i] = a[a.length - 1];
        a.pop();
        return;
      }
    }
  }

  private findSocket(port: u32): UdpSocket | null {
    const a = this.sockets;
    for (let i = 0; i < a.length; i++) if (unchecked(a[i]).port == port) return unchecked(a[i]);
    return null;
  }

  /**
   * Sends a UDP datagram from `srcPort` with the payload at [ptr, ptr+len).
   * `src` 0 means our address (a DHCP client sends from 0.0.0.0 before it has
   * one: it passes 0 with no address configured). Returns `len` or an IpError.
   */
  sendUdp(srcPort: u32, dst: u32, dstPort: u32, ptr: usize, len: u32, src: u32): i32 {
    if (len > 65535 - IPV4_HEADER_LEN - UDP_HEADER_LEN) return IpError.TooBig;
    if (src == 0) src = this.addr;
    const h = this.scratch;
    const u = this.udp;
    u.srcPort = srcPort;
    u.dstPort = dstPort;
    u.length = UDP_HEADER_LEN + len;
    // The checksum covers the whole datagram, so it is computed here, before
    // fragmentation splits it: header with the payload's sum folded in.
    put16(h, srcPort);
    put16(h + 2, dstPort);
    put16(h + 4, u.length);
    put16(h + 6, 0);
    let c = fold(sum16(ptr, len, sum16(h, UDP_HEADER_LEN, pseudoSum(src, dst, IP_PROTO_UDP, u.length))));
    if (c == 0) c = 0xffff;
    put16(h + 6, c);
    const r = this.output(IP_PROTO_UDP, src, dst, h, UDP_HEADER_LEN, ptr, len, false);
    if (r < 0) return r;
    this.counters.udp.txDatagrams++;
    return <i32>len;
  }

  /** Sends an ICMP echo request with `dataLen` bytes of pattern; replies go to `echoHandler`. */
  ping(dst: u32, ident: u32, seq: u32, dataLen: u32): i32 {
    if (dataLen > PING_MAX) return IpError.TooBig;
    let d = this.pingData;
    if (d == 0) {
      d = heap.alloc(PING_MAX);
      for (let i: u32 = 0; i < PING_MAX; i++) store<u8>(d + i, <u8>i);
      this.pingData = d;
    }
    return this.sendIcmp(dst, ICMP_ECHO_REQUEST, 0, (ident << 16) | (seq & 0xffff), d, dataLen);
  }

  private sendIcmp(dst: u32, type: u32, code: u32, rest: u32, data: usize, dataLen: u32): i32 {
    const h = this.scratch;
    const m = this.icmp;
    store<u8>(h, <u8>type);
    store<u8>(h + 1, <u8>code);
    put16(h + 2, 0);
    store<u32>(h + 4, bswap<u32>(rest));
    put16(h + 2, fold(sum16(data, dataLen, sum16(h, ICMP_HEADER_LEN))));
    m.type = type;
    const r = this.output(IP_PROTO_ICMP, this.addr, dst, h, ICMP_HEADER_LEN, data, dataLen, false);
    if (r >= 0) this.counters.icmp.txMessages++;
    return r;
  }

  // ---- output ----

  /**
   * Sends an IPv4 packet whose payload is `hdrLen` bytes at `hdr` followed by
   * `dataLen` bytes at `data`, fragmenting to the MTU (unless `dontFrag`).
   * Returns 0 or an IpError. Each fragment is copied once into its own
   * packet buffer.
   */
  output(proto: u32, src: u32, dst: u32, hdr: usize, hdrLen: u32, data: usize, dataLen: u32, dontFrag: bool): i32 {
    const c = this.counters.ip;
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
    if (!this.dev.linkUp()) return IpError.Down;
    const total = hdrLen + dataLen;
    const room = this.mtu - IPV4_HEADER_LEN;
    if (total > room && dontFrag) {
      c.dropTooBig++;
      return IpError.TooBig;
    }
    const chunk = total > room ? room & ~7 : total;
    const ip = this.outIp;
    ip.tos = 0;
    ip.ident = this.ident;
    this.ident = (this.ident + 1) & 0xffff;
    ip.dontFrag = dontFrag;
    ip.ttl = this.ttl;
    ip.protocol = proto;
    ip.src = src;
    ip.dst = dst;
    const now = clock_ns();
    let off: u32 = 0;
    while (off < total) {
      const n = min<u32>(chunk, total - off);
      const buf = this.pool.alloc();
      if (buf == 0) {
        c.dropNoBuffer++;
        return IpError.NoBuffer;
      }
      const p = buf + L3 + IPV4_HEADER_LEN;
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
      ip.emit(buf + L3);
      if (total > chunk) c.fragmentsTx++;
      c.txPackets++;
      this.sendFrame(buf, ETH_HEADER_LEN + IPV4_HEADER_LEN + n, bcast, hop, now);
      off += n;
    }
    return 0;
  }

  /** Writes the Ethernet header and sends, or parks the frame until ARP resolves `hop`. */
  private sendFrame(buf: usize, len: u32, bcast: bool, hop: u32, now: u64): void {
    const f = buf + PKT_HEADROOM;
    const e = this.eth;
    e.src = this.mac;
    e.ethertype = ETHERTYPE_IPV4;
    if (bcast) {
      e.dst = MAC_BROADCAST;
      e.emit(f);
      this.transmit(buf, len);
      return;
    }
    const mac = this.arp.lookup(hop, now);
    e.dst = mac == u64.MAX_VALUE ? 0 : mac;
    e.emit(f);
    if (mac != u64.MAX_VALUE) {
      this.transmit(buf, len);
      return;
    }
    const t = this.arp.enqueue(hop, buf, len, now);
    if (t) this.armTimer(t);
  }

  /** Pads to the Ethernet minimum and hands the frame to the device (consumes `buf`). */
  transmit(buf: usize, len: u32): void {
    if (len < ETH_MIN_FRAME) {
      memory.fill(buf + PKT_HEADROOM + len, 0, ETH_MIN_FRAME - len);
      len = ETH_MIN_FRAME;
    }
    const r = this.dev.transmit(buf, len, 0, 0);
    if (r != TxResult.Ok) {
      this.counters.eth.txDropped++;
      this.pool.free(buf);
      return;
    }
    this.counters.eth.txFrames++;
    this.dev.flush();
  }

  /** Sends an ARP message (`op`) as `senderIp` to `targetIp`/`targetMac`, framed to `ethDst`. */
  sendArp(op: u32, senderIp: u32, targetIp: u32, ethDst: u64): void {
    const buf = this.pool.alloc();
    if (buf == 0) {
      this.counters.ip.dropNoBuffer++;
      return;
    }
    const f = buf + PKT_HEADROOM;
    const e = this.eth;
    e.dst = ethDst;
    e.src = this.mac;
    e.ethertype = ETHERTYPE_ARP;
    e.emit(f);
    const a = this.arpRepr;
    a.op = op;
    a.senderMac = this.mac;
    a.senderIp = senderIp ? senderIp : this.addr;
    a.targetMac = op == ARP_REPLY ? ethDst : 0;
    a.targetIp = targetIp;
    a.emit(f + ETH_HEADER_LEN);
    // gratuitous announcements are counted apart (txGratuitous), not as requests
    if (op == ARP_REQUEST) {
      if (senderIp != targetIp) this.counters.arp.txRequests++;
    }
    else this.counters.arp.txReplies++;
    this.transmit(buf, ETH_HEADER_LEN + ARP_LEN);
  }

  // ---- timers ----

  /** Makes sure the timer task runs by `t`. */
  armTimer(t: u64): void {
    if (t >= this.timerAt) return;
    this.timerAt = t;
    this.sched.sleepUntil(this.timer, t);
  }

  onTimer(task: Task): void {
    const now = clock_ns();
    this.timerAt = u64.MAX_VALUE;
    const next = min<u64>(this.arp.poll(now), this.reasm.poll(now));
    if (next != u64.MAX_VALUE) {
      this.timerAt = next;
      task.sleepUntil(next);
    }
  }

  // ---- input ----

  receive(dev: NetDevice, buf: usize, len: u32, flags: u32): void {
    this.input(buf + PKT_HEADROOM, len, (flags & RxFlags.CSUM_VALID) != 0);
    dev.pool.free(buf);
  }

  /** Processes one frame at `f` (the caller keeps the buffer). Exposed for tests that inject bytes. */
  input(f: usize, len: u32, csumValid: bool): void {
    const ce = this.counters.eth;
    ce.rxFrames++;
    const e = this.eth;
    const err = e.parse(f, len);
    if (err != WireError.Ok) {
      if (err == WireError.Truncated) ce.dropTruncated++;
      else ce.dropUnknownType++;
      return;
    }
    if (e.dst != this.mac && e.dst != MAC_BROADCAST) {
      ce.dropNotForUs++;
      return;
    }
    if (e.ethertype == ETHERTYPE_ARP) this.arpInput(f + ETH_HEADER_LEN, len - ETH_HEADER_LEN);
    else if (e.ethertype == ETHERTYPE_IPV4) this.ipInput(f + ETH_HEADER_LEN, len - ETH_HEADER_LEN, e.dst == MAC_BROADCAST, csumValid);
    else ce.dropUnknownType++;
  }

  private arpInput(p: usize, len: u32): void {
    const c = this.counters.arp;
    const a = this.arpRepr;
    if (a.parse(p, len) != WireError.Ok) {
      c.dropMalformed++;
      return;
    }
    if (a.op == ARP_REQUEST) c.rxRequests++;
    else c.rxReplies++;
    if (macIsGroup(a.senderMac) || a.senderMac == 0 || a.senderMac == this.mac || (a.senderIp == this.addr && a.senderIp != 0)) {
      c.dropBogus++;
      return;
    }
    const now = clock_ns();
    const forUs = this.addr != 0 && a.targetIp == this.addr;
    // RFC 826's merge: refresh what we know from anyone; learn new entries only from those talking to us.
    if (a.senderIp != 0 && !this.isBroadcast(a.senderIp)) this.arp.update(a.senderIp, a.senderMac, now, forUs);
    if (!forUs) {
      c.dropNotForUs++;
      return;
    }
    if (a.op == ARP_REQUEST) this.sendArp(ARP_REPLY, this.addr, a.senderIp, a.senderMac);
  }

  private ipInput(p: usize, len: u32, l2bcast: bool, csumValid: bool): void {
    const c = this.counters.ip;
    c.rxPackets++;
    const ip = this.ip;
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
    if (ip.isFragment) {
      const now = clock_ns();
      if (!this.reasm.add(ip, payload, plen, now)) {
        this.armTimer(now + REASM_TIMEOUT_NS); // a new slot expires then; older ones are already armed
        return;
      }
      payload = this.reasm.readyPtr;
      plen = this.reasm.readyLen;
      csumValid = false;
    }
    const toBcast = bcast || l2bcast;
    const frag = ip.isFragment;
    if (ip.protocol == IP_PROTO_ICMP) this.icmpInput(payload, plen, toBcast);
    else if (ip.protocol == IP_PROTO_UDP) this.udpInput(p, payload, plen, toBcast, csumValid);
    else if (this.protocols[ip.protocol] != null) {
      c.rxDelivered++;
      const pk = this.packet;
      pk.src = ip.src;
      pk.dst = ip.dst;
      pk.protocol = ip.protocol;
      pk.header = p;
      pk.headerLen = ip.headerLen;
      pk.payload = payload;
      pk.payloadLen = plen;
      pk.broadcast = toBcast;
      pk.reassembled = frag;
      pk.checksumValid = csumValid;
      this.protocols[ip.protocol]!.input(pk);
    } else {
      c.dropUnknownProtocol++;
      if (!toBcast && !frag) this.sendUnreachable(ICMP_UNREACH_PROTOCOL, p, ip.headerLen, payload, plen);
    }
    if (frag) this.reasm.consumed();
  }

  private icmpInput(p: usize, len: u32, toBcast: bool): void {
    const c = this.counters.icmp;
    c.rxMessages++;
    const m = this.icmp;
    const err = m.parse(p, len, true);
    if (err != WireError.Ok) {
      if (err == WireError.BadChecksum) c.dropBadChecksum++;
      else c.dropMalformed++;
      return;
    }
    this.counters.ip.rxDelivered++;
    const from = this.ip.src;
    if (m.type == ICMP_ECHO_REQUEST) {
      c.rxEchoRequests++;
      if (toBcast) {
        c.dropBroadcastEcho++;
        return;
      }
      this.sendIcmp(from, ICMP_ECHO_REPLY, 0, m.rest, p + ICMP_HEADER_LEN, m.dataLen);
    } else if (m.type == ICMP_ECHO_REPLY) {
      c.rxEchoReplies++;
      const h = this.echoHandler;
      if (h) h.reply(from, m.ident, m.seq, m.dataLen);
    } else if (m.isError) this.icmpErrorInput(m.type, m.code, m.rest, p + ICMP_HEADER_LEN, m.dataLen);
    else c.dropOther++;
  }

  /**
   * An error quotes the header of our datagram and 8 bytes of it: find the
   * socket that sent it. `rest` is the error's second word (a
   * fragmentation-needed error's next-hop MTU is its low half, RFC 1191).
   */
  private icmpErrorInput(type: u32, code: u32, rest: u32, q: usize, qlen: u32): void {
    const c = this.counters.icmp;
    // The quote is at least 8 bytes past the header, but its total length is the original's: do not check it against qlen.
    if (qlen < IPV4_HEADER_LEN || load<u8>(q) >> 4 != 4) {
      c.errorsUnmatched++;
      return;
    }
    const hl = (<u32>load<u8>(q) & 15) << 2;
    if (hl < IPV4_HEADER_LEN || hl + 8 > qlen) {
      c.errorsUnmatched++;
      return;
    }
    const proto = <u32>load<u8>(q + 9);
    const src = bswap<u32>(load<u32>(q + 12));
    const dst = bswap<u32>(load<u32>(q + 16));
    const up = this.protocols[proto];
    if (up != null && src == this.addr) {
      const e = this.report;
      e.type = type;
      e.code = code;
      e.rest = rest;
      e.from = this.ip.src;
      e.src = src;
      e.dst = dst;
      e.quote = q + hl;
      e.quoteLen = qlen - hl;
      if (up.icmpError(e)) c.errorsDelivered++;
      else c.errorsUnmatched++;
      return;
    }
    if (proto != IP_PROTO_UDP || (this.addr != 0 && src != this.addr)) {
      c.errorsUnmatched++;
      return;
    }
    const u = q + hl;
    const sport = (<u32>load<u8>(u) << 8) | load<u8>(u + 1);
    const dport = (<u32>load<u8>(u + 2) << 8) | load<u8>(u + 3);
    const s = this.findSocket(sport);
    if (!s) {
      c.errorsUnmatched++;
      return;
    }
    c.errorsDelivered++;
    s.icmpError(type, code, dst, dport);
  }

  private udpInput(ipHdr: usize, p: usize, len: u32, toBcast: bool, csumValid: bool): void {
    const c = this.counters.udp;
    const ip = this.ip;
    const u = this.udp;
    const err = u.parse(p, len, ip.src, ip.dst, !csumValid);
    if (err != WireError.Ok) {
      if (err == WireError.BadChecksum) c.dropBadChecksum++;
      else c.dropMalformed++;
      return;
    }
    c.rxDatagrams++;
    const s = this.findSocket(u.dstPort);
    if (!s) {
      c.dropNoSocket++;
      if (!toBcast && ip.fragOffset == 0 && !ip.isFragment) this.sendUnreachable(ICMP_UNREACH_PORT, ipHdr, ip.headerLen, p, len);
      return;
    }
    this.counters.ip.rxDelivered++;
    if (!s.deliver(ip.src, u.srcPort, ip.dst, p + UDP_HEADER_LEN, u.payloadLen)) {
      if (u.payloadLen > s.slotSize) c.dropTooBig++;
      else c.dropQueueFull++;
    }
  }

  /** Destination unreachable about the packet whose header is at `hdr`, quoting it and 8 payload bytes (rate-limited). */
  private sendUnreachable(code: u32, hdr: usize, hl: u32, payload: usize, plen: u32): void {
    const c = this.counters.icmp;
    if (this.addr == 0) return;
    if (!this.unreachLimit.take(clock_ns())) {
      c.unreachableLimited++;
      return;
    }
    const q = this.scratch + 8;
    const ql = min<u32>(hl, 40);
    memory.copy(q, hdr, ql);
    const extra = min<u32>(plen, 8);
    memory.copy(q + ql, payload, extra);
    // sendIcmp builds its header in scratch[0..8): the quote follows it there.
    if (this.sendIcmp(this.ip.src, ICMP_DEST_UNREACHABLE, code, 0, q, ql + extra) >= 0) c.unreachableSent++;
  }
}
