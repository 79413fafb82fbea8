// An in-memory network for TCP stacks in one kernel (after MirageOS's
// tests): a Link joins addresses, each end an IpService that a stack is
// built on (and registers with); what one stack sends is queued
// with a delay, a serialization time at a fixed rate, a bounded queue
// (tail drop), and random loss, duplication, reordering and bit corruption
// from a seeded PRNG; a scheduler task delivers each segment when its time
// comes. Used by the tests and the benchmark; nothing else depends on it.

import { clock_ns } from "../../hal";
import { Task } from "../../sched/task";
import { Scheduler } from "../../sched/loop";
import { IpService, IpProtocol, IpPacket, IpError } from "../ip-protocol";

const SLOT: u32 = 2048;
const SLOT_HDR: u32 = 32; // deliverAt u64, order u64, src u32, dst u32, len u32, protocol u32

export class LinkConfig {
  delayNs: u64 = 1_000_000;
  /** Bits per second; 0: no serialization delay. */
  rateBps: u64 = 0;
  /** Bytes that may wait for the wire before new segments are dropped (tail drop). */
  queueBytes: u32 = 256 * 1024;
  /** Probabilities in parts per million. */
  lossPpm: u32 = 0;
  dupPpm: u32 = 0;
  reorderPpm: u32 = 0;
  corruptPpm: u32 = 0;
  /** Extra delay of a reordered segment. */
  reorderNs: u64 = 3_000_000;
  mtu: u32 = 1500;
  seed: u64 = 1;
}

export class LinkStats {
  sent: u64 = 0;
  delivered: u64 = 0;
  lost: u64 = 0;
  queueDrops: u64 = 0;
  duplicated: u64 = 0;
  reordered: u64 = 0;
  corrupted: u64 = 0;
  bytes: u64 = 0;
}

/** One address on the link: the IP layer of the stack built on it. */
export class LinkEnd extends IpService {
  /** What registered here (one protocol: the pipe carries no protocol numbers' worth of traffic mix). */
  protocol: u32 = 0;
  receiver: IpProtocol | null = null;

  constructor(readonly link: Link, readonly addr: u32) {
    super();
  }
  register(protocol: u32, p: IpProtocol): void {
    if (this.receiver != null) throw new Error("pipe: one protocol per link end");
    this.protocol = protocol;
    this.receiver = p;
  }
  output(protocol: u32, src: u32, dst: u32, hdr: usize, hdrLen: u32, data: usize, dataLen: u32, dontFrag: bool): i32 {
    if (src == 0) src = this.addr;
    return this.link.enqueue(this, protocol, src, dst, hdr, hdrLen, data, dataLen) ? 0 : IpError.TooBig;
  }
  mtuFor(dst: u32): u32 {
    return this.link.cfg.mtu - 20;
  }
  sourceFor(dst: u32): u32 {
    return this.addr;
  }
}

export class Link extends Task {
  readonly cfg: LinkConfig;
  readonly stats: LinkStats = new LinkStats();
  readonly ends: Array<LinkEnd> = new Array<LinkEnd>();
  private readonly packet: IpPacket = new IpPacket();
  private readonly slots: usize;
  private readonly capacity: u32;
  private free: StaticArray<u32>;
  private nfree: u32;
  private pending: StaticArray<u32>;
  private npending: u32 = 0;
  private rng: u64;
  private order: u64 = 0;
  /** Per end: when its direction of the wire is free again. */
  private busyUntil: StaticArray<u64> = new StaticArray<u64>(16);
  private armedAt: u64 = u64.MAX_VALUE;
  private readonly loop: Scheduler;

  constructor(sched: Scheduler, cfg: LinkConfig, capacity: u32 = 4096) {
    super("link");
    this.loop = sched;
    this._sched = sched;
    this.cfg = cfg;
    this.capacity = capacity;
    this.slots = heap.alloc(<usize>capacity * SLOT);
    this.free = new StaticArray<u32>(capacity);
    this.pending = new StaticArray<u32>(capacity);
    for (let i: u32 = 0; i < capacity; i++) unchecked((this.free[i] = capacity - 1 - i));
    this.nfree = capacity;
    this.rng = cfg.seed * 0x9e3779b97f4a7c15 + 1;
  }

  /** A new endpoint with address `addr`: build a stack on it. */
  end(addr: u32): LinkEnd {
    const e = new LinkEnd(this, addr);
    this.ends.push(e);
    return e;
  }

  /** xorshift64*: a uniform value below 1,000,000. */
  private ppm(): u32 {
    let x = this.rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    this.rng = x;
    return <u32>(((x * 0x2545f4914f6cdd1d) >> 32) % 1_000_000);
  }

  private rand32(): u32 {
    this.ppm();
    return <u32>(this.rng >> 16);
  }

  /** Queues the datagram [hdr, hdr+hdrLen) ++ [data, data+dataLen); false if it does not fit a slot. */
  enqueue(from: LinkEnd, protocol: u32, src: u32, dst: u32, hdr: usize, hdrLen: u32, data: usize, dataLen: u32): bool {
    const st = this.stats;
    const len = hdrLen + dataLen;
    const cfg = this.cfg;
    st.sent++;
    if (len > SLOT - SLOT_HDR) return false;
    let idx = 0;
    for (let i = 0; i < this.ends.length; i++) if (this.ends[i] == from) idx = i;
    const now = clock_ns();
    // The sender's side of the wire: serialization and the queue in front of it.
    let start = unchecked(this.busyUntil[idx]);
    if (start < now) start = now;
    let ser: u64 = 0;
    if (cfg.rateBps > 0) {
      ser = ((<u64>(len + 20) * 8) * 1_000_000_000) / cfg.rateBps;
      const queued = ((start - now) * cfg.rateBps) / 8_000_000_000;
      if (queued > <u64>cfg.queueBytes) {
        st.queueDrops++;
        return true;
      }
    }
    unchecked((this.busyUntil[idx] = start + ser));
    if (cfg.lossPpm > 0 && this.ppm() < cfg.lossPpm) {
      st.lost++;
      return true;
    }
    let at = start + ser + cfg.delayNs;
    if (cfg.reorderPpm > 0 && this.ppm() < cfg.reorderPpm) {
      st.reordered++;
      at += cfg.reorderNs;
    }
    this.put(protocol, src, dst, hdr, hdrLen, data, dataLen, at);
    if (cfg.dupPpm > 0 && this.ppm() < cfg.dupPpm) {
      st.duplicated++;
      this.put(protocol, src, dst, hdr, hdrLen, data, dataLen, at + 1000);
    }
    return true;
  }

  private put(protocol: u32, src: u32, dst: u32, hdr: usize, hdrLen: u32, data: usize, dataLen: u32, at: u64): void {
    const len = hdrLen + dataLen;
    if (this.nfree == 0) {
      this.stats.queueDrops++;
      return;
    }
    const i = unchecked(this.free[--this.nfree]);
    const p = this.slots + <usize>i * SLOT;
    store<u64>(p, at);
    store<u64>(p, this.order++, 8);
    store<u32>(p, src, 16);
    store<u32>(p, dst, 20);
    store<u32>(p, len, 24);
    store<u32>(p, protocol, 28);
    memory.copy(p + SLOT_HDR, hdr, hdrLen);
    memory.copy(p + SLOT_HDR + hdrLen, data, dataLen);
    const cfg = this.cfg;
    if (cfg.corruptPpm > 0 && this.ppm() < cfg.corruptPpm) {
      // One flipped bit: the Internet checksum always catches it.
      this.stats.corrupted++;
      const bit = this.rand32() % (len * 8);
      const b = p + SLOT_HDR + (bit >> 3);
      store<u8>(b, load<u8>(b) ^ <u8>(<u32>1 << (bit & 7)));
    }
    unchecked((this.pending[this.npending++] = i));
    if (at < this.armedAt) {
      this.armedAt = at;
      this.loop.sleepUntil(this, at);
    }
  }

  run(): void {
    this.armedAt = u64.MAX_VALUE;
    const now = clock_ns();
    // Deliver everything due, earliest first (ties: in the order sent).
    for (;;) {
      let best = -1;
      let bestAt = u64.MAX_VALUE;
      let bestOrder = u64.MAX_VALUE;
      for (let k: u32 = 0; k < this.npending; k++) {
        const p = this.slots + <usize>unchecked(this.pending[k]) * SLOT;
        const at = load<u64>(p);
        const o = load<u64>(p, 8);
        if (at < bestAt || (at == bestAt && o < bestOrder)) {
          best = <i32>k;
          bestAt = at;
          bestOrder = o;
        }
      }
      if (best < 0) break;
      if (bestAt > now) {
        this.armedAt = bestAt;
        this.sleepUntil(bestAt);
        break;
      }
      const i = unchecked(this.pending[best]);
      unchecked((this.pending[best] = this.pending[--this.npending]));
      const p = this.slots + <usize>i * SLOT;
      const dst = load<u32>(p, 20);
      const len = load<u32>(p, 24);
      let target: LinkEnd | null = null;
      for (let e = 0; e < this.ends.length; e++) if (this.ends[e].addr == dst) target = this.ends[e];
      this.stats.delivered++;
      this.stats.bytes += len;
      if (target && target.receiver != null && target.protocol == load<u32>(p, 28)) {
        const pk = this.packet;
        pk.src = load<u32>(p, 16);
        pk.dst = dst;
        pk.protocol = target.protocol;
        pk.payload = p + SLOT_HDR;
        pk.payloadLen = len;
        target.receiver!.input(pk);
      }
      // Freed after input: the receiver parses the segment in place.
      unchecked((this.free[this.nfree++] = i));
    }
  }
}
