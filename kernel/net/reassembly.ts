// IPv4 fragment reassembly. Memory is fixed at construction: REASM_SLOTS
// datagrams in reassembly at once (the global limit), each at most
// REASM_MAX_BYTES of payload (the per-datagram limit), tracked in 8-byte
// blocks with one bit each. A datagram whose fragments have not all arrived
// within REASM_TIMEOUT_NS is dropped. Overlapping fragments must carry the
// same bytes (a network duplicate); different bytes drop the whole datagram,
// the only safe answer to overlap attacks. When every slot is busy the
// oldest datagram is pushed out, so a flood of first fragments costs
// bounded memory and cannot stall reassembly forever.

import { Ipv4Counters } from "./counters";
import { Ipv4Repr } from "./wire/ipv4";
import { SEC } from "../sched/time";

export const REASM_SLOTS: i32 = 4;
export const REASM_MAX_BYTES: u32 = 16384;
export const REASM_TIMEOUT_NS: u64 = 10 * SEC;
const BLOCKS: u32 = REASM_MAX_BYTES / 8;
const MAP_BYTES: u32 = BLOCKS / 8;

export class Reassembler {
  private readonly data: usize = heap.alloc(<usize>REASM_SLOTS * REASM_MAX_BYTES);
  private readonly maps: usize = heap.alloc(<usize>REASM_SLOTS * MAP_BYTES);
  private used: StaticArray<bool> = new StaticArray<bool>(REASM_SLOTS);
  private src: StaticArray<u32> = new StaticArray<u32>(REASM_SLOTS);
  private dst: StaticArray<u32> = new StaticArray<u32>(REASM_SLOTS);
  private key: StaticArray<u32> = new StaticArray<u32>(REASM_SLOTS); // ident << 8 | protocol
  /** Payload length once the last fragment arrived, else 0. */
  private total: StaticArray<u32> = new StaticArray<u32>(REASM_SLOTS);
  private expires: StaticArray<u64> = new StaticArray<u64>(REASM_SLOTS);
  /** After `add` returned true: where the datagram's payload is and how long. */
  readyPtr: usize = 0;
  readyLen: u32 = 0;
  /** The slot `readyPtr` lives in: valid until the next `add`. */
  private readySlot: i32 = -1;

  constructor(readonly c: Ipv4Counters) {}

  get inUse(): i32 {
    let n = 0;
    for (let i = 0; i < REASM_SLOTS; i++) if (unchecked(this.used[i])) n++;
    return n;
  }

  /** The caller is done with `readyPtr`: its slot is free again. */
  consumed(): void {
    if (this.readySlot >= 0) {
      this.release(this.readySlot);
      this.readySlot = -1;
    }
  }

  private release(i: i32): void {
    unchecked((this.used[i] = false));
  }

  /**
   * Adds the fragment described by `ip` with payload [p, p+len). Returns
   * true when it completed its datagram (then `readyPtr`/`readyLen` hold the
   * whole payload until the next call). Returns the deadline to wake for in
   * `nextDeadline` when a new slot was opened.
   */
  add(ip: Ipv4Repr, p: usize, len: u32, now: u64): bool {
    if (this.readySlot >= 0) {
      this.release(this.readySlot);
      this.readySlot = -1;
    }
    const c = this.c;
    c.fragmentsRx++;
    const off = ip.fragOffset;
    const end = off + len;
    // Every fragment but the last carries a multiple of 8 bytes.
    if (ip.moreFrags && (len & 7) != 0) {
      c.dropBadLength++;
      return false;
    }
    if (len == 0 && ip.moreFrags) {
      c.dropBadLength++;
      return false;
    }
    const k = (ip.ident << 8) | ip.protocol;
    let s = -1;
    for (let i = 0; i < REASM_SLOTS; i++) {
      if (unchecked(this.used[i]) && unchecked(this.key[i]) == k && unchecked(this.src[i]) == ip.src && unchecked(this.dst[i]) == ip.dst) {
        s = i;
        break;
      }
    }
    if (end > REASM_MAX_BYTES) {
      c.reasmTooBig++;
      if (s >= 0) this.release(s);
      return false;
    }
    if (s < 0) {
      let oldest = u64.MAX_VALUE;
      for (let i = 0; i < REASM_SLOTS; i++) {
        if (!unchecked(this.used[i])) {
          s = i;
          break;
        }
        if (unchecked(this.expires[i]) < oldest) {
          oldest = unchecked(this.expires[i]);
          s = i;
        }
      }
      if (unchecked(this.used[s])) c.reasmEvictions++;
      unchecked((this.used[s] = true));
      unchecked((this.key[s] = k));
      unchecked((this.src[s] = ip.src));
      unchecked((this.dst[s] = ip.dst));
      unchecked((this.total[s] = 0));
      unchecked((this.expires[s] = now + REASM_TIMEOUT_NS));
      memory.fill(this.maps + <usize>s * MAP_BYTES, 0, MAP_BYTES);
    }
    const base = this.data + <usize>s * REASM_MAX_BYTES;
    const map = this.maps + <usize>s * MAP_BYTES;
    const total = unchecked(this.total[s]);
    if (!ip.moreFrags) {
      // A second "last fragment" that disagrees, or data past a known end: corrupt.
      if ((total != 0 && total != end) || this.anyFrom(map, (end + 7) >> 3)) {
        c.reasmOverlaps++;
        this.release(s);
        return false;
      }
      unchecked((this.total[s] = end));
    } else if (total != 0 && end > total) {
      c.reasmOverlaps++;
      this.release(s);
      return false;
    }
    // Blocks already present must hold the same bytes.
    let fresh = false;
    for (let b = off >> 3; b < (end + 7) >> 3; b++) {
      const has = (<u32>load<u8>(map + (b >> 3)) >> (b & 7)) & 1;
      const bo = b << 3;
      const n = min<u32>(8, end - bo);
      if (has) {
        if (memory.compare(base + bo, p + (bo - off), n) != 0) {
          c.reasmOverlaps++;
          this.release(s);
          return false;
        }
      } else fresh = true;
    }
    if (!fresh) c.reasmDuplicates++;
    memory.copy(base + off, p, len);
    for (let b = off >> 3; b < (end + 7) >> 3; b++) store<u8>(map + (b >> 3), load<u8>(map + (b >> 3)) | <u8>(<u32>1 << (b & 7)));
    const t = unchecked(this.total[s]);
    if (t == 0 || !this.complete(map, (t + 7) >> 3)) return false;
    c.reassembled++;
    this.readyPtr = base;
    this.readyLen = t;
    this.readySlot = s;
    return true;
  }

  private complete(map: usize, blocks: u32): bool {
    for (let b: u32 = 0; b < blocks; b++) if (((load<u8>(map + (b >> 3)) >> (b & 7)) & 1) == 0) return false;
    return true;
  }

  private anyFrom(map: usize, from: u32): bool {
    for (let b = from; b < BLOCKS; b++) if ((load<u8>(map + (b >> 3)) >> (b & 7)) & 1) return true;
    return false;
  }

  /** Drops datagrams past their time; returns the next expiry (u64.MAX_VALUE: none). */
  poll(now: u64): u64 {
    let next = u64.MAX_VALUE;
    for (let i = 0; i < REASM_SLOTS; i++) {
      if (!unchecked(this.used[i]) || i == this.readySlot) continue;
      const e = unchecked(this.expires[i]);
      if (e <= now) {
        this.c.reasmTimeouts++;
        this.release(i);
      } else if (e < next) next = e;
    }
    return next;
  }
}
