// The device side of a split virtqueue (virtio 1.2, section 2.7) over the
// machine's RAM, where a DMA address equals an offset into linear memory.
//
// Layout the driver gives us (all little-endian):
//   descriptor table  16 * size bytes, 16-aligned: { addr u64, len u32, flags u16, next u16 }
//   driver area (avail) 2-aligned: flags u16, idx u16, ring[size] u16, used_event u16
//   device area (used)  4-aligned: flags u16, idx u16, ring[size] {id u32, len u32}, avail_event u16
//
// Everything read from the rings is validated. What the spec calls a driver
// error that a real device cannot recover from (a descriptor index out of
// range, a loop, a chain longer than the queue, a buffer outside RAM, a
// zero-length buffer, a device-writable descriptor before a device-readable
// one, the avail index moving by more than the queue size) puts the device in
// DEVICE_NEEDS_RESET and stops it until the driver resets it — the same thing
// QEMU's virtio_error() does, so a driver bug looks here like it does there.
// Each such event is counted in `stats.badChains` and described in the
// device's warnings.

export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** One buffer of a descriptor chain: `len` bytes of RAM at `addr`. */
export interface Segment {
  addr: number;
  len: number;
}

/** A descriptor chain popped from the available ring. */
export class Chain {
  constructor(
    readonly queue: VirtQueue,
    /** Index of the head descriptor: the id that goes into the used ring. */
    readonly head: number,
    /** Device-readable buffers, in order. */
    readonly readable: Segment[],
    /** Device-writable buffers, in order (always after the readable ones). */
    readonly writable: Segment[],
  ) {}

  get readLength(): number {
    return this.readable.reduce((n, s) => n + s.len, 0);
  }

  get writeLength(): number {
    return this.writable.reduce((n, s) => n + s.len, 0);
  }

  /** Gathers the device-readable bytes into one copy. */
  read(): Uint8Array {
    const ram = this.queue.ram();
    const out = new Uint8Array(this.readLength);
    let o = 0;
    for (const s of this.readable) {
      out.set(ram.subarray(s.addr, s.addr + s.len), o);
      o += s.len;
    }
    return out;
  }

  /** Scatters `data` into the device-writable buffers from byte `offset`; returns bytes written. */
  write(data: Uint8Array, offset = 0): number {
    const ram = this.queue.ram();
    let src = 0;
    let skip = offset;
    for (const s of this.writable) {
      if (src >= data.length) break;
      if (skip >= s.len) {
        skip -= s.len;
        continue;
      }
      const n = Math.min(s.len - skip, data.length - src);
      ram.set(data.subarray(src, src + n), s.addr + skip);
      src += n;
      skip = 0;
    }
    return src;
  }
}

/** What a queue needs from the device that owns it. */
export interface QueueOwner {
  ram(): Uint8Array;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  readonly eventIdx: boolean;
  /** VIRTIO_F_INDIRECT_DESC negotiated. */
  readonly indirect: boolean;
  /** A driver error the device cannot recover from: DEVICE_NEEDS_RESET (ringError: found in a ring or chain). */
  fail(reason: string, ringError?: boolean): void;
  warn(message: string): void;
  /** Takes a one-shot used-element fault for queue `q`, if one is armed. */
  takeUsedFault(q: number): { idOutOfRange: boolean; lenTooLarge: boolean };
}

export interface QueueStats {
  /** Chains taken from the available ring. */
  popped: number;
  /** Used elements written. */
  used: number;
  /** Used-buffer notifications the device decided to send. */
  notified: number;
  /** ...and decided not to send (used_event or NO_INTERRUPT said so). */
  suppressed: number;
  /** QueueNotify writes for this queue. */
  kicks: number;
  /** QueueNotify writes that found nothing new in the available ring. */
  emptyKicks: number;
}

const MAX_QUEUE = 32768;

export class VirtQueue {
  /** Queue size the driver chose (QueueNum); defaults to `maxSize`. */
  size: number;
  ready = false;
  descAddr = 0n;
  driverAddr = 0n;
  deviceAddr = 0n;
  /** The next available-ring slot the device will read. */
  lastAvail = 0;
  /** The device's used index (what it last published). */
  usedIdx = 0;
  /** Used index at the last notification decision (old in vring_need_event). */
  private signalledUsed = 0;
  readonly stats: QueueStats = { popped: 0, used: 0, notified: 0, suppressed: 0, kicks: 0, emptyKicks: 0 };

  constructor(
    readonly owner: QueueOwner,
    readonly index: number,
    /** QueueNumMax. */
    readonly maxSize: number,
  ) {
    if (maxSize < 1 || maxSize > MAX_QUEUE || (maxSize & (maxSize - 1)) !== 0) throw new Error(`queue size ${maxSize}: must be a power of 2 up to 32768`);
    this.size = maxSize;
  }

  ram(): Uint8Array {
    return this.owner.ram();
  }

  /** Back to the state after a device reset. */
  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descAddr = this.driverAddr = this.deviceAddr = 0n;
    this.lastAvail = this.usedIdx = this.signalledUsed = 0;
  }

  /** Whether the queue can be used now: enabled, and its rings lie in RAM. */
  usable(): boolean {
    if (!this.ready) return false;
    const ram = this.ram();
    const n = this.size;
    const rings: [string, bigint, number][] = [
      ["descriptor table", this.descAddr, 16 * n],
      ["driver area", this.driverAddr, 6 + 2 * n],
      ["device area", this.deviceAddr, 6 + 8 * n],
    ];
    for (const [what, addr, len] of rings) {
      if (addr + BigInt(len) > BigInt(ram.length)) {
        this.owner.fail(`queue ${this.index}: ${what} at 0x${addr.toString(16)} (+${len}) lies outside RAM (${ram.length} bytes)`, true);
        return false;
      }
    }
    return true;
  }

  // ---- ring field access ---------------------------------------------------

  private view(): DataView {
    const ram = this.ram();
    return new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  }
  private get drv(): number {
    return Number(this.driverAddr);
  }
  private get dev(): number {
    return Number(this.deviceAddr);
  }
  availFlags(): number {
    return this.view().getUint16(this.drv, true);
  }
  availIdx(): number {
    return this.view().getUint16(this.drv + 2, true);
  }
  /** used_event: avail->ring[size]. */
  usedEvent(): number {
    return this.view().getUint16(this.drv + 4 + 2 * this.size, true);
  }
  /** Writes avail_event (used->ring[size]): "notify me when avail idx passes this". */
  setAvailEvent(v: number): void {
    this.view().setUint16(this.dev + 4 + 8 * this.size, v & 0xffff, true);
  }
  usedFlags(): number {
    return this.view().getUint16(this.dev, true);
  }
  setUsedFlags(v: number): void {
    this.view().setUint16(this.dev, v, true);
  }

  /**
   * Buffers the driver has made available that the device has not taken yet,
   * or -1 after a driver error (the avail index moved by more than the size).
   */
  pending(): number {
    if (!this.usable()) return -1;
    const idx = this.availIdx();
    const n = (idx - this.lastAvail) & 0xffff;
    if (n > this.size) {
      this.owner.fail(`queue ${this.index}: the driver moved the avail index from ${this.lastAvail} to ${idx} (queue size ${this.size})`, true);
      return -1;
    }
    return n;
  }

  /**
   * Takes the next available chain, validated. `undefined` when the ring is
   * empty or the device just failed (check the owner's status to tell apart).
   * `want` says which directions this queue's chains may contain: a chain with
   * a descriptor of the wrong direction is a driver error.
   */
  pop(want: "any" | "readable" | "writable" = "any"): Chain | undefined {
    if (this.pending() <= 0) return undefined;
    const v = this.view();
    const head = v.getUint16(this.drv + 4 + 2 * (this.lastAvail % this.size), true);
    if (head >= this.size) {
      this.owner.fail(`queue ${this.index}: the driver made descriptor ${head} available, but the queue has ${this.size}`, true);
      return undefined;
    }
    const chain = this.walk(v, head, want);
    if (!chain) return undefined;
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    this.stats.popped++;
    return chain;
  }

  /** Puts the last `n` popped chains back (the device could not use them after all). */
  unpop(n: number): void {
    this.lastAvail = (this.lastAvail - n) & 0xffff;
    this.stats.popped -= n;
  }

  private walk(v: DataView, head: number, want: "any" | "readable" | "writable"): Chain | undefined {
    const fail = (why: string) => {
      this.owner.fail(`queue ${this.index}, chain at descriptor ${head}: ${why}`, true);
      return undefined;
    };
    const ramLen = v.byteLength;
    const readable: Segment[] = [];
    const writable: Segment[] = [];
    let total = 0;
    // the table being walked: the queue's own, or an indirect one
    let table = Number(this.descAddr);
    let tableSize = this.size;
    let i = head;
    let count = 0;
    let indirect = false;
    for (;;) {
      if (++count > tableSize) return fail(indirect ? "the indirect table loops" : `the chain loops or is longer than the queue size (${this.size})`);
      const d = table + 16 * i;
      const addrLo = v.getUint32(d, true);
      const addrHi = v.getUint32(d + 4, true);
      const len = v.getUint32(d + 8, true);
      const flags = v.getUint16(d + 12, true);
      const next = v.getUint16(d + 14, true);
      const addr = addrHi * 2 ** 32 + addrLo;
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        if (!this.owner.indirect) return fail(`descriptor ${i} is INDIRECT but VIRTIO_F_INDIRECT_DESC was not negotiated`);
        if (indirect) return fail("an indirect table contains an INDIRECT descriptor");
        if (flags & VIRTQ_DESC_F_NEXT) return fail(`descriptor ${i} has both INDIRECT and NEXT`);
        if (len === 0 || len % 16 !== 0) return fail(`indirect table length ${len} is not a non-zero multiple of 16`);
        if (addr + len > ramLen) return fail(`indirect table at 0x${addr.toString(16)} (+${len}) lies outside RAM`);
        if (readable.length + writable.length > 0) return fail("an INDIRECT descriptor follows other descriptors in the chain");
        indirect = true;
        table = addr;
        tableSize = len / 16;
        i = 0;
        count = 0;
        continue;
      }
      if (len === 0) return fail(`descriptor ${i} has length 0`);
      if (addr + len > ramLen) return fail(`descriptor ${i}: buffer at 0x${addr.toString(16)} (+${len}) lies outside RAM (${ramLen} bytes)`);
      total += len;
      if (total > 0xffff_ffff) return fail("the chain is longer than 2^32 bytes");
      if (flags & VIRTQ_DESC_F_WRITE) {
        if (want === "readable") return fail(`descriptor ${i} is device-writable on a queue whose buffers the device only reads`);
        writable.push({ addr, len });
      } else {
        if (want === "writable") return fail(`descriptor ${i} is device-readable on a queue whose buffers the device only writes`);
        if (writable.length) return fail(`descriptor ${i} is device-readable but follows a device-writable one`);
        readable.push({ addr, len });
      }
      if (!(flags & VIRTQ_DESC_F_NEXT)) break;
      if (next >= tableSize) return fail(`descriptor ${i} links to ${next}, beyond the ${indirect ? "indirect table" : "queue"} (${tableSize})`);
      i = next;
    }
    return new Chain(this, head, readable, writable);
  }

  /**
   * Returns a chain to the driver: writes the used element and publishes the
   * used index. `len` is the number of bytes written into its writable part.
   */
  push(chain: Chain | number, len: number): void {
    const head = typeof chain === "number" ? chain : chain.head;
    const capacity = typeof chain === "number" ? len : chain.writeLength;
    const fault = this.owner.takeUsedFault(this.index);
    const id = fault.idOutOfRange ? this.size + head : head;
    const ulen = fault.lenTooLarge ? capacity + 1 : len;
    const v = this.view();
    const slot = this.dev + 4 + 8 * (this.usedIdx % this.size);
    v.setUint32(slot, id >>> 0, true);
    v.setUint32(slot + 4, ulen >>> 0, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    v.setUint16(this.dev + 2, this.usedIdx, true);
    this.stats.used++;
  }

  /**
   * Decides whether the used elements published since the last decision need a
   * used-buffer notification: used_event with VIRTIO_F_EVENT_IDX (2.7.10), the
   * avail ring's NO_INTERRUPT flag without it. Counts the decision.
   */
  needsNotification(): boolean {
    const old = this.signalledUsed;
    const now = this.usedIdx;
    this.signalledUsed = now;
    if (old === now) return false;
    let need: boolean;
    if (this.owner.eventIdx) need = vringNeedEvent(this.usedEvent(), now, old);
    else need = (this.availFlags() & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    if (need) this.stats.notified++;
    else this.stats.suppressed++;
    return need;
  }

  /** With VIRTIO_F_EVENT_IDX: ask to be notified as soon as anything new is made available. */
  publishAvailEvent(): void {
    if (this.owner.eventIdx) this.setAvailEvent(this.lastAvail);
  }
}

/** The spec's vring_need_event: whether `event` lies in (old, new]. */
export function vringNeedEvent(event: number, newIdx: number, old: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - old) & 0xffff);
}
