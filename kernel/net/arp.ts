// The ARP cache: a fixed table of IPv4 -> MAC entries, with the packets that
// wait for an address to resolve. Bounded on every axis, with two classes of
// rows that never take each other's place:
//  - resolved entries (those being confirmed past their lifetime among
//    them): at most ARP_ENTRIES; when full, the stalest is pushed out
//    (expired first, then ones we never sent to, then the oldest);
//  - pending resolutions of new addresses: at most ARP_INCOMPLETE at once;
//    when full, the oldest pending one is given up for the new one.
// So a flood that makes us resolve many addresses (SYNs from spoofed
// local-subnet sources, each answered with a SYN-ACK) only churns the
// pending rows and never pushes out a real peer's entry, and a storm of ARP
// requests from spoofed senders pushes out entries we never sent to before
// any we use. ARP_PENDING packets wait per unresolved address (more are
// dropped), ARP_RETRIES requests one ARP_RETRY_NS apart are sent before the
// waiting packets are dropped. A resolved entry lives ARP_LIFETIME_NS; one
// still in use then is confirmed, not dropped (RFC 1122 2.3.2.1, as Linux's
// STALE/PROBE states do): packets keep going to its MAC while up to
// ARP_RETRIES unicast requests ask that MAC again, and only if none is
// answered is the entry forgotten. Dropping it instead would park a busy
// server's packets behind a resolution every lifetime (at most ARP_PENDING
// of them; the rest lost and retransmitted). Only requests for our own
// address create entries, so other traffic cannot churn the cache. Nothing
// here allocates after construction.

import { ArpCounters } from "./counters";
import { SEC } from "../sched/time";

export const ARP_ENTRIES: i32 = 32;
/** Resolutions of new addresses in progress at once. */
export const ARP_INCOMPLETE: i32 = 8;
export const ARP_PENDING: i32 = 4;
export const ARP_RETRIES: i32 = 3;
export const ARP_RETRY_NS: u64 = 1 * SEC;
export const ARP_LIFETIME_NS: u64 = 60 * SEC;

const ROWS: i32 = ARP_ENTRIES + ARP_INCOMPLETE;
const FREE: u8 = 0;
const INCOMPLETE: u8 = 1;
const REACHABLE: u8 = 2;
/** Lifetime over while in use: still sent to, its MAC being asked again. */
const CONFIRMING: u8 = 3;

/** What the cache asks of its owner: transmit, send a request, free a buffer, call poll later. */
export abstract class ArpOwner {
  /** Sends the frame of `len` bytes in `buf` (consumes it) after writing `mac` as its destination. */
  abstract sendResolved(buf: usize, len: u32, mac: u64): void;
  /** Asks who has `ip`: broadcast when `mac` is 0, else unicast to `mac` (confirming an entry). */
  abstract sendRequest(ip: u32, mac: u64): void;
  abstract dropBuffer(buf: usize): void;
  /** Calls poll at `at` (ns) or sooner: a request will be due then. */
  abstract pollBy(at: u64): void;
}

export class ArpCache {
  private ip: StaticArray<u32> = new StaticArray<u32>(ROWS);
  private mac: StaticArray<u64> = new StaticArray<u64>(ROWS);
  private state: StaticArray<u8> = new StaticArray<u8>(ROWS);
  /** Looked up for sending since it was learned. */
  private used: StaticArray<bool> = new StaticArray<bool>(ROWS);
  /** REACHABLE: when it expires; INCOMPLETE, CONFIRMING: when the next request is due. */
  private deadline: StaticArray<u64> = new StaticArray<u64>(ROWS);
  /** When the row was taken (which pending resolution is the oldest). */
  private since: StaticArray<u64> = new StaticArray<u64>(ROWS);
  private tries: StaticArray<u8> = new StaticArray<u8>(ROWS);
  private pendBuf: StaticArray<usize> = new StaticArray<usize>(ROWS * ARP_PENDING);
  private pendLen: StaticArray<u32> = new StaticArray<u32>(ROWS * ARP_PENDING);
  private pendCount: StaticArray<u8> = new StaticArray<u8>(ROWS);
  /** Rows in each class. */
  private knownRows: i32 = 0;
  private newRows: i32 = 0;

  constructor(readonly owner: ArpOwner, readonly c: ArpCounters) {}

  private find(ip: u32): i32 {
    for (let i = 0; i < ROWS; i++) if (unchecked(this.state[i]) != FREE && unchecked(this.ip[i]) == ip) return i;
    return -1;
  }

  /**
   * The MAC of `ip` if resolved, else -1 (as u64: all ones is never a
   * unicast MAC we store). An entry past its lifetime is still answered,
   * and its confirmation begins: a unicast request now, poll for the rest.
   */
  lookup(ip: u32, now: u64): u64 {
    const i = this.find(ip);
    if (i < 0) return u64.MAX_VALUE;
    const st = unchecked(this.state[i]);
    if (st == REACHABLE && unchecked(this.deadline[i]) <= now) {
      unchecked((this.state[i] = CONFIRMING));
      this.ask(i, now, 1);
    } else if (st != REACHABLE && st != CONFIRMING) {
      return u64.MAX_VALUE;
    }
    unchecked((this.used[i] = true));
    return unchecked(this.mac[i]);
  }

  /** Sends row `i`'s request number `tries` (unicast when confirming) and has poll called when the next is due. */
  private ask(i: i32, now: u64, tries: u8): void {
    unchecked((this.tries[i] = tries));
    const d = now + ARP_RETRY_NS;
    unchecked((this.deadline[i] = d));
    this.owner.sendRequest(unchecked(this.ip[i]), unchecked(this.state[i]) == CONFIRMING ? unchecked(this.mac[i]) : 0);
    this.owner.pollBy(d);
  }

  /** Number of entries in use, both classes (tests and apps). */
  get size(): i32 {
    return this.knownRows + this.newRows;
  }

  /** Pending resolutions of new addresses now. */
  get pending(): i32 {
    return this.newRows;
  }

  /** Whether `ip` has a resolved entry that lookup would answer with its MAC (one past its lifetime too). */
  has(ip: u32): bool {
    const i = this.find(ip);
    if (i < 0) return false;
    const st = unchecked(this.state[i]);
    return st == REACHABLE || st == CONFIRMING;
  }

  private freeRow(): i32 {
    for (let i = 0; i < ROWS; i++) if (unchecked(this.state[i]) == FREE) return i;
    return -1;
  }

  /**
   * A row for a resolved entry, never taken from the pending class: a free
   * one while the class has room, else the stalest resolved entry emptied
   * (expired, then never used, then the soonest to expire), or -1 when the
   * class has no other row to give. `keep` is a row that must not be chosen
   * (the one being promoted).
   */
  private resolvedRow(now: u64, keep: i32): i32 {
    if (this.knownRows < ARP_ENTRIES) return this.freeRow();
    let victim = -1;
    let best = u64.MAX_VALUE;
    for (let i = 0; i < ROWS; i++) {
      const st = unchecked(this.state[i]);
      if (i == keep || (st != REACHABLE && st != CONFIRMING)) continue;
      const d = unchecked(this.deadline[i]);
      // expired < unused < used (a confirming entry is in use); within a rank, the soonest to expire
      const rank: u64 = st == CONFIRMING ? 2 : d <= now ? 0 : unchecked(this.used[i]) ? 2 : 1;
      const key = (rank << 62) | min<u64>(d, (<u64>1 << 62) - 1);
      if (key < best) {
        best = key;
        victim = i;
      }
    }
    if (victim >= 0) {
      if (unchecked(this.state[victim]) == CONFIRMING || unchecked(this.deadline[victim]) > now) this.c.evictions++;
      this.release(victim, false);
      return this.freeRow();
    }
    return -1;
  }

  /** A row for a new pending resolution: free while the class has room, else the oldest pending one given up. */
  private pendingRow(): i32 {
    if (this.newRows < ARP_INCOMPLETE) return this.freeRow();
    let victim = -1;
    let oldest = u64.MAX_VALUE;
    for (let i = 0; i < ROWS; i++) {
      if (unchecked(this.state[i]) == INCOMPLETE && unchecked(this.since[i]) < oldest) {
        oldest = unchecked(this.since[i]);
        victim = i;
      }
    }
    if (victim < 0) return -1;
    this.c.pendingEvictions++;
    this.release(victim, false);
    return this.freeRow();
  }

  /** Empties row `i`, dropping its waiting packets (`unresolved`: because the address never answered). */
  private release(i: i32, unresolved: bool): void {
    const n = <i32>unchecked(this.pendCount[i]);
    for (let k = 0; k < n; k++) {
      this.owner.dropBuffer(unchecked(this.pendBuf[i * ARP_PENDING + k]));
      if (unresolved) this.c.dropUnresolved++;
      else this.c.dropNoEntry++;
    }
    unchecked((this.pendCount[i] = 0));
    // a row's class is its state: pending while INCOMPLETE, resolved after
    if (unchecked(this.state[i]) == INCOMPLETE) this.newRows--;
    else this.knownRows--;
    unchecked((this.state[i] = FREE));
  }

  /** Takes free row `i` for `ip` in state `st`: INCOMPLETE (the pending class) or REACHABLE (the resolved one). */
  private take(i: i32, ip: u32, st: u8, now: u64): void {
    unchecked((this.ip[i] = ip));
    unchecked((this.state[i] = st));
    unchecked((this.used[i] = false));
    unchecked((this.pendCount[i] = 0));
    unchecked((this.since[i] = now));
    if (st == INCOMPLETE) this.newRows++;
    else this.knownRows++;
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
      i = this.resolvedRow(now, -1);
      if (i < 0) return;
      this.take(i, ip, REACHABLE, now);
    } else if (unchecked(this.state[i]) == INCOMPLETE) {
      // A pending resolution answered: it joins the resolved class (making room there if it must).
      if (this.knownRows >= ARP_ENTRIES && this.resolvedRow(now, i) < 0) {
        this.release(i, false);
        return;
      }
      this.newRows--;
      this.knownRows++;
    }
    unchecked((this.mac[i] = mac));
    unchecked((this.state[i] = REACHABLE));
    unchecked((this.deadline[i] = now + ARP_LIFETIME_NS));
    const n = <i32>unchecked(this.pendCount[i]);
    unchecked((this.pendCount[i] = 0));
    if (n > 0) unchecked((this.used[i] = true));
    for (let k = 0; k < n; k++) this.owner.sendResolved(unchecked(this.pendBuf[i * ARP_PENDING + k]), unchecked(this.pendLen[i * ARP_PENDING + k]), mac);
  }

  /**
   * Parks the frame in `buf` until `ip` resolves (for an address lookup had
   * no MAC for), sending a request if none is outstanding. The buffer is
   * always consumed (queued or dropped).
   */
  enqueue(ip: u32, buf: usize, len: u32, now: u64): void {
    let i = this.find(ip);
    let fresh = false;
    if (i < 0) {
      i = this.pendingRow();
      if (i < 0) {
        this.c.dropNoEntry++;
        this.owner.dropBuffer(buf);
        return;
      }
      this.take(i, ip, INCOMPLETE, now);
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
    if (fresh) this.ask(i, now, 1);
  }

  /**
   * Retries incomplete and confirming entries, and gives up on those that
   * had ARP_RETRIES requests unanswered (a confirming one is forgotten: the
   * next packet to it starts a resolution). Returns the next deadline
   * (u64.MAX_VALUE: none).
   */
  poll(now: u64): u64 {
    let next = u64.MAX_VALUE;
    for (let i = 0; i < ROWS; i++) {
      const st = unchecked(this.state[i]);
      if (st != INCOMPLETE && st != CONFIRMING) continue;
      let d = unchecked(this.deadline[i]);
      if (d <= now) {
        if (<i32>unchecked(this.tries[i]) >= ARP_RETRIES) {
          if (st == CONFIRMING) this.c.unconfirmed++;
          this.release(i, true);
          continue;
        }
        this.ask(i, now, unchecked(this.tries[i]) + 1);
        d = unchecked(this.deadline[i]);
      }
      if (d < next) next = d;
    }
    return next;
  }

  /** Forgets everything (address change); waiting packets are dropped. */
  flush(): void {
    for (let i = 0; i < ROWS; i++) if (unchecked(this.state[i]) != FREE) this.release(i, true);
  }
}
