// A connection's send queue: the byte stream from SND.UNA's first data byte
// on, made of bytes copied into the send ring (ring.ts, pool memory) and of
// references to immutable memory (`addRef`: the image's baked-in files, say),
// in the order they were queued. Output reads any part of it with `readAt`,
// straight into the frame, whichever kind the bytes are: new data,
// retransmissions, SACK recovery, probes and offload segments alike, so a
// referenced byte is copied once, into the device's buffer, and a body sent
// by reference costs the connection no ring memory however large it is.
//
// References are few and bounded (SEND_REFS per connection, in a table made
// on the first one): a reference that continues the last one (the next
// piece of the same memory, nothing queued in between) extends it; when the
// table is full `addRef` refuses and the caller waits for ACKs to free a slot.
// The bytes they hold (`refBytes`) are bounded by the caller (TcpConfig.sndRefMax).

import { Ring } from "./ring";

/** References one connection's queue holds at most (each a slot of three words). */
export const SEND_REFS: i32 = 8;

export class SendQueue {
  /** The copied bytes, in stream order (the references' bytes are not in it). */
  readonly ring: Ring = new Ring();
  /** Bytes queued from the head: ring and referenced. */
  len: u32 = 0;
  /** References held, oldest first, and the bytes they hold. */
  refCount: i32 = 0;
  refBytes: u32 = 0;
  /** A reference was refused or cut short (no slot, or the caller's bound): cleared by `takeRefWait`. */
  refWait: bool = false;
  // Per slot: its offset from the head, address, length. Made on the first reference.
  private refs: StaticArray<u32> | null = null;

  /** Appends up to `n` bytes copied from `src` into the ring (its block sized by the caller); returns how many fit. */
  write(src: usize, n: u32): u32 {
    const k = this.ring.write(src, n);
    this.len += k;
    return k;
  }

  /**
   * Appends the `n` bytes at `p` by reference: they are read in place until
   * acknowledged, so they must not change and must outlive the queue.
   * False (nothing queued) when every slot is taken.
   */
  addRef(p: usize, n: u32): bool {
    if (n == 0) return true;
    let r = this.refs;
    if (r == null) {
      r = new StaticArray<u32>(3 * SEND_REFS);
      this.refs = r;
    }
    const c = this.refCount;
    if (c > 0) {
      const j = 3 * (c - 1);
      const end = unchecked(r[j]) + unchecked(r[j + 2]);
      if (end == this.len && <usize>unchecked(r[j + 1]) + <usize>unchecked(r[j + 2]) == p) {
        unchecked((r[j + 2] += n));
        this.len += n;
        this.refBytes += n;
        return true;
      }
    }
    if (c == SEND_REFS) {
      this.refWait = true;
      return false;
    }
    const j = 3 * c;
    unchecked((r[j] = this.len));
    unchecked((r[j + 1] = <u32>p));
    unchecked((r[j + 2] = n));
    this.refCount = c + 1;
    this.len += n;
    this.refBytes += n;
    return true;
  }

  /**
   * Whether a reference was refused or cut short and there is room again:
   * a free slot and at most three quarters of `max` referenced (then the
   * refusal is forgotten).
   */
  takeRefWait(max: u32): bool {
    if (!this.refWait || this.refCount == SEND_REFS || this.refBytes > max - max / 4) return false;
    this.refWait = false;
    return true;
  }

  /** Copies the `n` queued bytes from `off` past the head to `dst`, from the ring or referenced memory, consuming nothing. */
  readAt(off: u32, dst: usize, n: u32): void {
    const r = this.refs;
    // Referenced bytes before `off`: the ring holds the stream less those.
    let before: u32 = 0;
    for (let i = 0; i < this.refCount && n > 0; i++) {
      const j = 3 * i;
      const ro = unchecked(r![j]);
      const rl = unchecked(r![j + 2]);
      if (off >= ro + rl) {
        before += rl;
        continue;
      }
      if (off < ro) {
        const k = min(n, ro - off);
        this.ring.readAt(off - before, dst, k);
        dst += k;
        off += k;
        n -= k;
        if (n == 0) return;
      }
      const k = min(n, ro + rl - off);
      memory.copy(dst, <usize>unchecked(r![j + 1]) + <usize>(off - ro), k);
      dst += k;
      off += k;
      n -= k;
      before += rl;
    }
    if (n > 0) this.ring.readAt(off - before, dst, n);
  }

  /** Drops `n` bytes from the head (acknowledged): ring bytes leave the ring, references shrink or go. */
  consume(n: u32): void {
    n = min(n, this.len);
    const r = this.refs;
    let fromRefs: u32 = 0;
    let gone = 0;
    for (let i = 0; i < this.refCount; i++) {
      const j = 3 * i;
      const ro = unchecked(r![j]);
      if (ro >= n) {
        unchecked((r![j] = ro - n));
        continue;
      }
      const rl = unchecked(r![j + 2]);
      const k = min(rl, n - ro);
      fromRefs += k;
      if (k == rl) {
        gone++;
        continue;
      }
      unchecked((r![j] = 0));
      unchecked((r![j + 1] += k));
      unchecked((r![j + 2] = rl - k));
    }
    if (gone > 0) {
      // The references that went are the oldest: move the rest to the front.
      const c = this.refCount - gone;
      for (let i = 0; i < 3 * c; i++) unchecked((r![i] = r![i + 3 * gone]));
      this.refCount = c;
    }
    this.ring.consume(n - fromRefs);
    this.len -= n;
    this.refBytes -= fromRefs;
  }

  /** Empties the queue and returns the ring's block (0 if none). */
  drop(): usize {
    this.len = 0;
    this.refCount = 0;
    this.refBytes = 0;
    this.refWait = false;
    return this.ring.drop();
  }
}
