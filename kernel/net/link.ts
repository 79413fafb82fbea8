// The link layer: one NIC's Ethernet framing and ARP. It receives frames from
// the device (as its NetReceiver), checks the Ethernet header, answers and
// learns ARP itself, and hands IPv4 payloads to the receiver registered for
// them (the IPv4 layer, through LinkReceiver: no import upward). On output
// it frames IPv4 packets for a next hop, resolving it through the ARP cache
// (parking the packet until the answer comes, retrying on a timer). Every
// header is read and written through the wire/ views; every drop is counted.
//
// ARP is IPv4's, so the link knows the IPv4 address and prefix it answers
// for (`setProtocolAddress`, called by the IPv4 layer when its address
// changes), nothing more of IP.

import { clock_ns } from "../hal";
import { PacketPool, PKT_HEADROOM, PKT_MAX_FRAME } from "../mem/pktbuf";
import { Scheduler } from "../sched/loop";
import { Task } from "../sched/task";
import { TimerTask } from "../sched/timer-task";
import { NetDevice, NetReceiver, TxResult, RxFlags } from "./device";
import { WireError } from "./wire/error";
import { loadMac, MAC_BROADCAST, macIsGroup } from "./wire/bytes";
import { EthernetRepr, ETH_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_MIN_FRAME } from "./wire/ethernet";
import { ArpRepr, ARP_LEN, ARP_REQUEST, ARP_REPLY } from "./wire/arp";
import { isBroadcastOn } from "./wire/ipv4";
import { EthCounters, ArpCounters } from "./counters";
import { ArpCache, ArpOwner } from "./arp";

/** Where in a packet buffer the layer above the link writes its packet. */
export const LINK_PAYLOAD: u32 = PKT_HEADROOM + ETH_HEADER_LEN;

/** What the link hands IPv4 payloads to (the IPv4 layer registers one). */
export abstract class LinkReceiver {
  /**
   * An IPv4 packet: `len` bytes at `p` (Ethernet padding included), valid
   * during the call. `l2Broadcast`: the frame was sent to the Ethernet
   * broadcast address; `checksumValid`: the device verified the transport checksum.
   */
  abstract input(p: usize, len: u32, l2Broadcast: bool, checksumValid: bool): void;
}

class LinkArp extends ArpOwner {
  constructor(readonly link: EthernetLink) {
    super();
  }
  sendResolved(buf: usize, len: u32, mac: u64): void {
    this.link.sendFramed(buf, len, mac);
  }
  sendRequest(ip: u32, mac: u64): void {
    this.link.sendArp(ARP_REQUEST, 0, ip, mac ? mac : MAC_BROADCAST);
  }
  dropBuffer(buf: usize): void {
    this.link.pool.free(buf);
  }
  pollBy(at: u64): void {
    this.link.arpPollBy(at);
  }
}

export class EthernetLink extends NetReceiver {
  readonly dev: NetDevice;
  readonly pool: PacketPool;
  readonly mac: u64;
  /** The largest IP packet the device carries. */
  readonly mtu: u32;
  readonly eth: EthCounters = new EthCounters();
  readonly arpCounters: ArpCounters = new ArpCounters();
  arp!: ArpCache;
  private receiver: LinkReceiver | null = null;
  /** The IPv4 address ARP answers for (0: none) and its prefix. */
  private addr: u32 = 0;
  private prefixLen: i32 = 0;
  private timer!: TimerTask<EthernetLink>;
  // Reused for every frame: parsing allocates nothing.
  private readonly rxEth: EthernetRepr = new EthernetRepr();
  private readonly txEth: EthernetRepr = new EthernetRepr();
  private readonly arpRepr: ArpRepr = new ArpRepr();

  constructor(dev: NetDevice, sched: Scheduler) {
    super();
    this.dev = dev;
    this.pool = dev.pool;
    this.mac = loadMac(changetype<usize>(dev.mac));
    this.mtu = min<u32>(dev.mtu, PKT_MAX_FRAME - ETH_HEADER_LEN);
    this.arp = new ArpCache(new LinkArp(this), this.arpCounters);
    this.timer = new TimerTask<EthernetLink>(sched, "arp", this);
    dev.setReceiver(this);
  }

  /** Makes `r` the receiver of IPv4 (one: a second registration aborts). */
  setReceiver(r: LinkReceiver): void {
    if (this.receiver != null) throw new Error("link: IPv4 already has a receiver");
    this.receiver = r;
  }

  /**
   * The IPv4 address ARP answers for, and its subnet (whose broadcast
   * senders are never learned). A new address is announced with a
   * gratuitous ARP.
   */
  setProtocolAddress(addr: u32, prefixLen: i32): void {
    const changed = addr != this.addr;
    this.addr = addr;
    this.prefixLen = prefixLen;
    if (addr != 0 && changed) {
      this.arpCounters.txGratuitous++;
      this.sendArp(ARP_REQUEST, addr, addr, MAC_BROADCAST);
    }
  }

  // ---- output ----

  /**
   * Sends the IPv4 packet of `len` bytes at `buf + LINK_PAYLOAD` (consumes
   * `buf`): to the Ethernet broadcast address with `broadcast`, else to the
   * next hop `hop`, parking it until ARP resolves the hop if need be.
   */
  sendIpv4(buf: usize, len: u32, broadcast: bool, hop: u32, now: u64): void {
    const frameLen = ETH_HEADER_LEN + len;
    if (broadcast) {
      this.sendFramed(buf, frameLen, MAC_BROADCAST);
      return;
    }
    const mac = this.arp.lookup(hop, now);
    if (mac != u64.MAX_VALUE) {
      this.sendFramed(buf, frameLen, mac);
      return;
    }
    // The header goes on now (destination unknown: zero), the resolved MAC when the answer comes.
    this.frame(buf, 0, ETHERTYPE_IPV4);
    this.arp.enqueue(hop, buf, frameLen, now);
  }

  /**
   * Sends the large IPv4 packet of `len` bytes at `buf + LINK_PAYLOAD` (`buf`
   * from the device's `largeBuffer`; consumed) to the resolved next hop
   * `hop`, for the device to segment: `hdrLen` bytes of IP and TCP headers,
   * the partial checksum at `csumStart + csumOffset` (IP-relative), pieces
   * of `mss` payload bytes. False if it was not sent (the hop is not
   * resolved, or the device refused it): the buffer went back to the device.
   */
  sendIpv4Large(buf: usize, len: u32, hdrLen: u32, csumStart: u32, csumOffset: u32, mss: u32, hop: u32, now: u64): bool {
    const dev = this.dev;
    const mac = this.arp.lookup(hop, now);
    if (mac == u64.MAX_VALUE) {
      dev.releaseLarge(buf);
      this.eth.txDropped++;
      return false;
    }
    this.frame(buf, mac, ETHERTYPE_IPV4);
    const r = dev.transmitLarge(buf, ETH_HEADER_LEN + len, ETH_HEADER_LEN + hdrLen, ETH_HEADER_LEN + csumStart, csumOffset, mss);
    if (r != TxResult.Ok) {
      dev.releaseLarge(buf);
      this.eth.txDropped++;
      return false;
    }
    this.eth.txFrames++;
    dev.flush();
    return true;
  }

  /** Writes the Ethernet header of an IPv4 frame to `dst` and transmits (consumes `buf`). */
  sendFramed(buf: usize, len: u32, dst: u64): void {
    this.frame(buf, dst, ETHERTYPE_IPV4);
    this.transmit(buf, len);
  }

  private frame(buf: usize, dst: u64, ethertype: u32): void {
    const e = this.txEth;
    e.dst = dst;
    e.src = this.mac;
    e.ethertype = ethertype;
    e.emit(buf + PKT_HEADROOM);
  }

  /** Pads to the Ethernet minimum and hands the frame to the device (consumes `buf`). */
  transmit(buf: usize, len: u32): void {
    if (len < ETH_MIN_FRAME) {
      memory.fill(buf + PKT_HEADROOM + len, 0, ETH_MIN_FRAME - len);
      len = ETH_MIN_FRAME;
    }
    const r = this.dev.transmit(buf, len, 0, 0);
    if (r != TxResult.Ok) {
      this.eth.txDropped++;
      this.pool.free(buf);
      return;
    }
    this.eth.txFrames++;
    this.dev.flush();
  }

  /** Sends an ARP message (`op`) as `senderIp` (0: ours) to `targetIp`/`targetMac`, framed to `ethDst`. */
  sendArp(op: u32, senderIp: u32, targetIp: u32, ethDst: u64): void {
    const buf = this.pool.alloc();
    if (buf == 0) {
      this.arpCounters.dropNoBuffer++;
      return;
    }
    this.frame(buf, ethDst, ETHERTYPE_ARP);
    const a = this.arpRepr;
    a.op = op;
    a.senderMac = this.mac;
    a.senderIp = senderIp ? senderIp : this.addr;
    a.targetMac = op == ARP_REPLY ? ethDst : 0;
    a.targetIp = targetIp;
    a.emit(buf + PKT_HEADROOM + ETH_HEADER_LEN);
    // gratuitous announcements are counted apart (txGratuitous), not as requests
    if (op == ARP_REQUEST) {
      if (senderIp != targetIp) this.arpCounters.txRequests++;
    } else this.arpCounters.txReplies++;
    this.transmit(buf, ETH_HEADER_LEN + ARP_LEN);
  }

  /** Has the timer task run ARP's poll by `at` (ns). */
  arpPollBy(at: u64): void {
    this.timer.armBy(at);
  }

  /** ARP retries (the timer task). */
  onTimer(task: Task): void {
    this.timer.rearm(this.arp.poll(clock_ns()));
  }

  // ---- input ----

  receive(dev: NetDevice, buf: usize, len: u32, flags: u32): void {
    this.input(buf + PKT_HEADROOM, len, (flags & RxFlags.CSUM_VALID) != 0);
    dev.pool.free(buf);
  }

  /** Processes one frame at `f` (the caller keeps the buffer). Exposed for tests that inject bytes. */
  input(f: usize, len: u32, csumValid: bool): void {
    const ce = this.eth;
    ce.rxFrames++;
    const e = this.rxEth;
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
    else if (e.ethertype == ETHERTYPE_IPV4 && this.receiver != null) this.receiver!.input(f + ETH_HEADER_LEN, len - ETH_HEADER_LEN, e.dst == MAC_BROADCAST, csumValid);
    else ce.dropUnknownType++;
  }

  private arpInput(p: usize, len: u32): void {
    const c = this.arpCounters;
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
    if (a.senderIp != 0 && !isBroadcastOn(a.senderIp, this.addr, this.prefixLen)) this.arp.update(a.senderIp, a.senderMac, now, forUs);
    if (!forUs) {
      c.dropNotForUs++;
      return;
    }
    if (a.op == ARP_REQUEST) this.sendArp(ARP_REPLY, this.addr, a.senderIp, a.senderMac);
  }
}
