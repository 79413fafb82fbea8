// The ARP cache: a fixed table of IPv4 -> MAC entries, with the packets that
// wait for an address to resolve. Bounded on every axis: ARP_ENTRIES entries
// (the stalest pushed out when full), ARP_PENDING packets per unresolved
// address (more are dropped), ARP_RETRIES requests one ARP_RETRY_NS apart
// before the waiting packets are dropped, and a lifetime after which a
// resolved entry is forgotten (looked up again on next use). Only requests
// for our own address create entries, so a storm of other traffic cannot
// churn the cache. Nothing here allocates after construction.

import { ArpCounters } from "./counters";
import { SEC } from "../sched/time";

export const ARP_ENTRIES: i32 = 32;
export const ARP_PENDING: i32 = 4;
export const ARP_RETRIES: i32 = 3;
export const ARP_RETRY_NS: u64 = 1 * SEC;
export const ARP_LIFETIME_NS: u64 = 60 * SEC;

const FREE: u8 = 0;
const INCOMPLETE: u8 = 1;
const REACHABLE: u8 = 2;

/** What the cache asks of its owner: transmit, send a request, free a buffer. */
export abstract class ArpOwner {
  /** Sends the frame of `len` bytes in `buf` (consumes it) after writing `mac` as its destination. */
  abstract sendResolved(buf: usize, len: u32, mac: u64): void;
  abstract sendRequest(ip: u32): void;
  abstract dropBuffer(buf: usize): void;
}

export class ArpCache {
  private ip: StaticArray<u32> = new StaticArray<u32>(ARP_ENTRIES);
  private mac: StaticArray<u64> = new StaticArray<u64>(ARP_ENTRIES);
  private state: StaticArray<u8> = new StaticArray<u8>(ARP_ENTRIES);
  /** REACHABLE: when it expires; INCOMPLETE: when the next request is due. */
  private deadline: StaticArray<u64> = new StaticArray<u64>(ARP_ENTRIES);
  private tries: StaticArray<u8> = new StaticArray<u8>(ARP_ENTRIES);
  private pendBuf: StaticArray<usize> = new StaticArray<usize>(ARP_ENTRIES * ARP_PENDING);
  private pendLen: StaticArray<u32> = new StaticArray<u32>(ARP_ENTRIES * ARP_PENDING);
  private pendCount: StaticArray<u8> = new StaticArray<u8>(ARP_ENTRIES);

  constructor(readonly owner: ArpOwner, readonly c: ArpCounters) {}

  private find(ip: u32): i32 {
    for (let i = 0; i < ARP_ENTRIES; i++) if (unchecked(this.state[i]) != FREE && unchecked(this.ip[i]) == ip) return i;
    return -1;
  }

  /** The MAC of `ip` if resolved and fresh, else -1 (as u64: all ones is never a unicast MAC we store). */
  lookup(ip: u32, now: u64): u64 {
    const i = this.find(ip);
    if (i >= 0 && unchecked(this.state[i]) == REACHABLE && unchecked(this.deadline[i]) > now) return unchecked(this.mac[i]);
    return u64.MAX_VALUE;
  }

  /** Number of entries in use (tests and apps). */
  get size(): i32 {
    let n = 0;
    for (let i = 0; i < ARP_ENTRIES; i++) if (unchecked(this.state[i]) != FREE) n++;
    return n;
  }

  /** A free slot, or the stalest one emptied (incomplete ones last: they hold packets). */
  private slot(now: u64): i32 {
    let victim = -1;
    let oldest = u64.MAX_VALUE;
    for (let i = 0; i < ARP_ENTRIES; i++) {
      const s = unchecked(this.state[i]);
      if (s == FREE) return i;
      // expired entries are as good as free
      if (s == REACHABLE && unchecked(this.deadline[i]) <= now) return i;
      const key = s == REACHABLE ? unchecked(this.deadline[i]) : unchecked(this.deadline[i]) + ARP_LIFETIME_NS * 2;
      if (key < oldest) {
        oldest = key;
        victim = i;
      }
    }
    if (victim >= 0) {
      this.c.evictions++;
      this.dropPending(victim, false);
    }
    return victim;
  }

  private dropPending(i: i32, unresolved: bool): void {
    const n = <i32>unchecked(this.pendCount[i]);
    for (let k = 0; k < n; k++) {
      this.owner.dropBuffer(unchecked(this.pendBuf[i * ARP_PENDING + k]));
      if (unresolved) this.c.dropUnresolved++;
      else this.c.dropNoEntry++;
    }
    unchecked((this.pendCount[i] = 0));
    unchecked((this.state[i] = FREE));
  }

  /**
   * Records `ip` at `mac`. `create` says whether a missing entry may be made
   * (RFC 826: only when the packet was for us); an existing one is always
   * refreshed. Packets waiting for `ip` go out now.
   */
  update(ip: u32, mac: u64, now: u64, create: bool): void {
    let i = this.find(ip);
    if (i < 0) {
      if (!create) return;
      i = this.slot(now);
      if (i < 0) return;
      unchecked((this.ip[i] = ip));
      unchecked((this.pendCount[i] = 0));
    }
    unchecked((this.mac[i] = mac));
    unchecked((this.state[i] = REACHABLE));
    unchecked((this.deadline[i] = now + ARP_LIFETIME_NS));
    const n = <i32>unchecked(this.pendCount[i]);
    unchecked((this.pendCount[i] = 0));
    for (let k = 0; k < n; k++) this.owner.sendResolved(unchecked(this.pendBuf[i * ARP_PENDING + k]), unchecked(this.pendLen[i * ARP_PENDING + k]), mac);
  }

  /**
   * Parks the frame in `buf` until `ip` resolves, sending a request if none
   * is outstanding. Returns the time of the next retry if a timer is needed,
   * 0 otherwise. The buffer is always consumed (queued or dropped).
   */
  enqueue(ip: u32, buf: usize, len: u32, now: u64): u64 {
    let i = this.find(ip);
    let fresh = false;
    if (i < 0 || unchecked(this.state[i]) == REACHABLE) {
      if (i < 0) i = this.slot(now);
      if (i < 0) {
        this.c.dropNoEntry++;
        this.owner.dropBuffer(buf);
        return 0;
      }
      unchecked((this.ip[i] = ip));
      unchecked((this.state[i] = INCOMPLETE));
      unchecked((this.pendCount[i] = 0));
      unchecked((this.tries[i] = 1));
      unchecked((this.deadline[i] = now + ARP_RETRY_NS));
      fresh = true;
    }
    const n = <i32>unchecked(this.pendCount[i]);
    if (n >= ARP_PENDING) {
      this.c.dropPendingFull++;
      this.owner.dropBuffer(buf);
    } else {
      unchecked((this.pendBuf[i * ARP_PENDING + n] = buf));
      unchecked((this.pendLen[i * ARP_PENDING + n] = len));
      unchecked((this.pendCount[i] = <u8>(n + 1)));
    }
    if (fresh) {
      this.owner.sendRequest(ip);
      return unchecked(this.deadline[i]);
    }
    return 0;
  }

  /** Retries and gives up on incomplete entries; returns the next deadline (u64.MAX_VALUE: none). */
  poll(now: u64): u64 {
    let next = u64.MAX_VALUE;
    for (let i = 0; i < ARP_ENTRIES; i++) {
      if (unchecked(this.state[i]) != INCOMPLETE) continue;
      let d = unchecked(this.deadline[i]);
      if (d <= now) {
        if (<i32>unchecked(this.tries[i]) >= ARP_RETRIES) {
          this.dropPending(i, true);
          continue;
        }
        unchecked((this.tries[i] = unchecked(this.tries[i]) + 1));
        d = now + ARP_RETRY_NS;
        unchecked((this.deadline[i] = d));
        this.owner.sendRequest(unchecked(this.ip[i]));
      }
      if (d < next) next = d;
    }
    return next;
  }

  /** Forgets everything (address change); waiting packets are dropped. */
  flush(): void {
    for (let i = 0; i < ARP_ENTRIES; i++) if (unchecked(this.state[i]) != FREE) this.dropPending(i, true);
  }
}
