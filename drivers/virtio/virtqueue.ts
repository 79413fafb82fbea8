// Split virtqueues (virtio 1.2, 2.7): a descriptor table, the available ring
// (driver -> device) and the used ring (device -> driver), in linear memory
// that never moves, addressed by the device at dma_base() + offset.
//
// Trust: the descriptor table and available ring are ours; the used ring is
// written by the device, so every used element is checked before it is
// believed — an id outside the table, an id that is not the head of a chain
// in flight, or a length larger than the chain's writable bytes is counted
// and skipped (a bad length still returns the chain, flagged). A used index
// that claims more completions than are in flight is counted and ignored.
//
// The driver's bookkeeping (free list, chain lengths, cookies) lives in
// private arrays, never in the shared descriptors, so a device scribbling on
// the table cannot corrupt it.
//
// Ordering: wasm loads and stores carry none, so hal.fence() sits between
// filling descriptors/ring slots and publishing avail.idx, between publishing
// and reading the device's avail_event/flags, and after reading used.idx
// before reading the elements it covers.
//
// Notifications are decided by a race those barriers settle: we publish
// avail.idx and then read avail_event, the device publishes avail_event and
// then reads avail.idx, and one of the two must see the other's write. A
// hypervisor that drops the guest's barrier lets both miss (QEMU before 8.1
// under TCG with one vCPU does: it takes the guest for a uniprocessor and
// elides the fence, though its device threads run beside the vCPU): we skip
// the notification, the device sleeps, and every later decision is made
// against the same stale avail_event, so none is ever sent again. `stalled`
// finds a queue in that state from memory, and `renotify` wakes the device.

import { fence } from "../../kernel/hal";
import { dmaAlloc, dmaAddr } from "../../kernel/mem/dma";
import { VirtioTransport } from "./transport";

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;
const AVAIL_F_NO_INTERRUPT: u16 = 1;
const USED_F_NO_NOTIFY: u16 = 1;
const NONE: u16 = 0xffff;

/** Counters of device misbehaviour and notification traffic for one queue. */
export class QueueStats {
  /** Used elements whose id is outside the descriptor table. */
  badId: u64 = 0;
  /** Used elements naming a descriptor that is not an in-flight chain head. */
  notInFlight: u64 = 0;
  /** Used elements whose length exceeds the chain's device-writable bytes. */
  badLen: u64 = 0;
  /** Times used.idx ran ahead of what is in flight. */
  badUsedIdx: u64 = 0;
  /** Notifications sent to the device. */
  kicks: u64 = 0;
  /** Notifications the device's avail_event / NO_NOTIFY flag let us skip. */
  kicksSuppressed: u64 = 0;
  /** Chains completed (valid used elements). */
  completed: u64 = 0;
  /** Notifications sent again because the device sat on published chains (`renotify`). */
  renotified: u64 = 0;
}

export class Virtqueue {
  readonly size: u32;
  readonly stats: QueueStats = new QueueStats();
  /** Descriptors not in any chain. */
  numFree: u32;
  /** Chains handed to the device and not yet returned. */
  inFlight: u32 = 0;

  // Shared memory.
  readonly desc: usize;
  readonly avail: usize;
  readonly used: usize;
  // Private bookkeeping: next link (u16), chain descriptor count (u16),
  // writable bytes of a chain (u32), cookie (u32), in-flight flag (u8).
  private nextArr: usize;
  private countArr: usize;
  private capArr: usize;
  private cookieArr: usize;
  private flightArr: usize;

  private freeHead: u16 = 0;
  private availIdx: u16 = 0; // next slot we fill (free-running)
  private kickedIdx: u16 = 0; // avail.idx at the last notification decision
  private lastUsed: u16 = 0; // next used element we read (free-running)

  // The chain being built by begin/push/submit.
  private building: u16 = NONE;
  private tail: u16 = NONE;
  private pending: u32 = 0;
  private chainCap: u32 = 0;
  private chainCount: u32 = 0;

  // What `stalled` saw at its last look, how many looks since it has been
  // so, and after how many looks it answers true again.
  private seenUsed: u16 = 0;
  private seenPublished: u16 = 0;
  private stalledLooks: u32 = 0;
  private stallAnswerAt: u32 = 1;

  /** Result of the last successful `pop`. */
  cookie: u32 = 0;
  len: u32 = 0;
  /** Whether the last popped element's length was within the chain (else `len` is 0). */
  lenValid: bool = true;

  private constructor(readonly transport: VirtioTransport, readonly index: u32, size: u32, readonly eventIdx: bool, mem: usize) {
    this.size = size;
    this.numFree = size;
    this.desc = mem;
    this.avail = mem + (<usize>size << 4);
    this.used = (this.avail + 6 + (<usize>size << 1) + 3) & ~(<usize>3);
    const priv = dmaAlloc(<usize>size * 13);
    assert(priv != 0, "virtqueue: out of memory");
    this.nextArr = priv;
    this.countArr = priv + (<usize>size << 1);
    this.capArr = priv + (<usize>size << 2);
    this.cookieArr = priv + (<usize>size << 3);
    this.flightArr = priv + (<usize>size * 12);
    for (let i: u32 = 0; i < size; i++) store<u16>(this.nextArr + (<usize>i << 1), <u16>(i + 1 < size ? i + 1 : NONE));
  }

  /**
   * Sets up queue `index` with at most `want` entries (rounded down to a
   * power of two, as split rings require, and to the device's maximum).
   * Returns null if the queue does not exist, memory runs out, or the
   * transport refuses.
   */
  static create(t: VirtioTransport, index: u32, want: u32, eventIdx: bool): Virtqueue | null {
    const max = t.queueMax(index);
    if (max == 0) return null;
    let size = min(max, want);
    if (size > 32768) size = 32768;
    size = 1 << (31 - clz(size)); // power of two
    const bytes = (<usize>size << 4) + 6 + (<usize>size << 1) + 4 + 6 + (<usize>size << 3);
    const mem = dmaAlloc(bytes, 4096);
    if (mem == 0) return null;
    const q = new Virtqueue(t, index, size, eventIdx, mem);
    if (!t.setupQueue(index, size, dmaAddr(q.desc), dmaAddr(q.avail), dmaAddr(q.used))) return null;
    return q;
  }

  // ---- building and offering chains ----

  /** Starts a chain of `n` descriptors; false (nothing changes) if fewer are free. */
  begin(n: u32): bool {
    if (n == 0 || n > this.numFree || this.building != NONE) return false;
    this.building = this.freeHead;
    this.tail = NONE;
    this.pending = n;
    this.chainCap = 0;
    this.chainCount = 0;
    return true;
  }

  /** Adds a buffer to the chain; `deviceWrites` for buffers the device fills. */
  push(addr: u64, len: u32, deviceWrites: bool): void {
    assert(this.pending > 0, "virtqueue: push beyond begin(n)");
    const d = this.freeHead;
    this.freeHead = load<u16>(this.nextArr + (<usize>d << 1));
    this.numFree--;
    this.pending--;
    const p = this.desc + (<usize>d << 4);
    store<u64>(p, addr);
    store<u32>(p, len, 8);
    store<u16>(p, deviceWrites ? DESC_F_WRITE : 0, 12);
    store<u16>(p, 0, 14);
    const tail = this.tail;
    if (tail != NONE) {
      const tp = this.desc + (<usize>tail << 4);
      store<u16>(tp, load<u16>(tp, 12) | DESC_F_NEXT, 12);
      store<u16>(tp, d, 14);
      store<u16>(this.nextArr + (<usize>tail << 1), d);
    }
    this.tail = d;
    if (deviceWrites) this.chainCap += len;
    this.chainCount++;
  }

  /**
   * Puts the chain in the available ring with `cookie` (returned by `pop`).
   * The device sees it after the next `kick`.
   */
  submit(cookie: u32): u16 {
    assert(this.pending == 0 && this.building != NONE, "virtqueue: submit without a complete chain");
    const head = this.building;
    const h = <usize>head;
    store<u16>(this.countArr + (h << 1), <u16>this.chainCount);
    store<u32>(this.capArr + (h << 2), this.chainCap);
    store<u32>(this.cookieArr + (h << 2), cookie);
    store<u8>(this.flightArr + h, 1);
    const slot = <usize>(this.availIdx & <u16>(this.size - 1));
    store<u16>(this.avail + 4 + (slot << 1), head);
    this.availIdx++;
    this.inFlight++;
    this.building = NONE;
    this.tail = NONE;
    return head;
  }

  /** Chains submitted since the last kick. */
  @inline get unpublished(): u32 {
    return <u32>(<u16>(this.availIdx - this.kickedIdx));
  }

  /**
   * Publishes every submitted chain and notifies the device unless it asked
   * not to be (avail_event with EVENT_IDX, else the NO_NOTIFY flag). Returns
   * whether a notification was sent.
   */
  kick(): bool {
    const newIdx = this.availIdx;
    const old = this.kickedIdx;
    if (newIdx == old) return false;
    fence(); // ring slots and descriptors before the index that publishes them
    store<u16>(this.avail + 2, newIdx);
    this.kickedIdx = newIdx;
    fence(); // the index before reading the device's suppression state
    if (!this.deviceAsks(old, newIdx)) {
      this.stats.kicksSuppressed++;
      return false;
    }
    this.stats.kicks++;
    this.transport.notify(this.index);
    return true;
  }

  /**
   * Whether the device asked to hear of a chain made available in
   * [from, to): with EVENT_IDX, avail_event in that range (the spec's
   * vring_need_event); without, NO_NOTIFY clear.
   */
  @inline private deviceAsks(from: u16, to: u16): bool {
    if (this.eventIdx) {
      const ev = load<u16>(this.used + 4 + (<usize>this.size << 3));
      return <u16>(to - ev - 1) < <u16>(to - from);
    }
    return (load<u16>(this.used) & USED_F_NO_NOTIFY) == 0;
  }

  // ---- completions ----

  /** The device's used.idx, read once (with the barrier that makes the elements it covers visible). */
  @inline private deviceUsedIdx(): u16 {
    const i = load<u16>(this.used + 2);
    fence();
    return i;
  }

  /** Whether the device has returned chains we have not popped. */
  hasUsed(): bool {
    return this.deviceUsedIdx() != this.lastUsed;
  }

  /**
   * Takes the next completed chain: its cookie and written length land in
   * `cookie`/`len`/`lenValid`, its descriptors go back to the free list.
   * Invalid elements are counted and skipped. False when none is left.
   */
  pop(): bool {
    for (;;) {
      const idx = this.deviceUsedIdx();
      const ahead = <u32>(<u16>(idx - this.lastUsed));
      if (ahead == 0) return false;
      if (ahead > this.size) {
        // More completions than the ring can hold: the index is garbage.
        this.stats.badUsedIdx++;
        return false;
      }
      const e = this.used + 4 + (<usize>(this.lastUsed & <u16>(this.size - 1)) << 3);
      const id = load<u32>(e);
      const len = load<u32>(e, 4);
      this.lastUsed++;
      if (id >= this.size) {
        this.stats.badId++;
        continue;
      }
      if (load<u8>(this.flightArr + id) == 0) {
        this.stats.notInFlight++;
        continue;
      }
      const cap = load<u32>(this.capArr + (<usize>id << 2));
      this.lenValid = len <= cap;
      if (!this.lenValid) this.stats.badLen++;
      this.len = this.lenValid ? len : 0;
      this.cookie = load<u32>(this.cookieArr + (<usize>id << 2));
      this.release(<u16>id);
      this.stats.completed++;
      return true;
    }
  }

  /** Returns chain `head` to the free list. */
  private release(head: u16): void {
    const n = <u32>load<u16>(this.countArr + (<usize>head << 1));
    store<u8>(this.flightArr + <usize>head, 0);
    let d = head;
    for (let i: u32 = 1; i < n; i++) d = load<u16>(this.nextArr + (<usize>d << 1));
    store<u16>(this.nextArr + (<usize>d << 1), this.freeHead);
    this.freeHead = head;
    this.numFree += n;
    this.inFlight--;
  }

  // ---- lost notifications ----

  /**
   * Whether the device is asleep on chains we published: it has returned
   * none of them since the last call, and it says it waits to be notified
   * (with EVENT_IDX, avail_event names a chain we published, so a
   * notification for it was due; without, NO_NOTIFY is clear). The
   * interrupt watchdog asks once a period, so the first true answer comes
   * when the state has held a whole period; while it goes on holding, the
   * answer is true again after 2, 4, ... 64 more looks, so a device that
   * lost that notification too is still woken, and one that is merely idle
   * in that state (a receive queue with nothing arriving, say) costs little.
   * Reads memory only.
   */
  stalled(): bool {
    const used = this.deviceUsedIdx();
    const published = this.kickedIdx;
    const waiting = published != used && this.deviceAsks(used, published);
    const same = used == this.seenUsed && published == this.seenPublished;
    this.seenUsed = used;
    this.seenPublished = published;
    if (!waiting || !same) {
      this.stalledLooks = 0;
      this.stallAnswerAt = 1;
      return false;
    }
    if (++this.stalledLooks < this.stallAnswerAt) return false;
    this.stalledLooks = 0;
    this.stallAnswerAt = min<u32>(this.stallAnswerAt << 1, 64);
    return true;
  }

  /** Notifies the device whatever its suppression state says (see `stalled`). */
  renotify(): void {
    this.stats.renotified++;
    this.stats.kicks++;
    this.transport.notify(this.index);
  }

  // ---- interrupt suppression ----

  /** Where the driver writes used_event (EVENT_IDX): the word after the avail ring's entries. */
  @inline private get usedEventAt(): usize {
    return this.avail + 4 + (<usize>this.size << 1);
  }

  /**
   * Asks for an interrupt at the next completion, then re-checks: returns
   * true if completions arrived meanwhile (the caller polls again rather
   * than waiting for an interrupt that may have been decided before it saw
   * the request).
   */
  enableInterrupts(): bool {
    if (this.eventIdx) store<u16>(this.usedEventAt, this.lastUsed);
    else store<u16>(this.avail, 0);
    fence();
    return this.hasUsed();
  }

  /**
   * Asks for an interrupt only once about 3/4 of what is in flight has
   * completed (for transmit: one interrupt per batch when the ring is full).
   * Without EVENT_IDX, the same as `enableInterrupts`.
   */
  enableInterruptsDelayed(): bool {
    if (!this.eventIdx) return this.enableInterrupts();
    const delta = <u16>((this.inFlight * 3) >> 2);
    store<u16>(this.usedEventAt, this.lastUsed + delta);
    fence();
    return <u32>(<u16>(this.deviceUsedIdx() - this.lastUsed)) > <u32>delta;
  }

  /** Asks the device not to interrupt for this queue (a hint it may ignore). */
  disableInterrupts(): void {
    if (this.eventIdx) {
      // An event index just behind the one we read is crossed only after a full wrap.
      store<u16>(this.usedEventAt, this.lastUsed - 1);
    } else store<u16>(this.avail, AVAIL_F_NO_INTERRUPT);
  }
}
