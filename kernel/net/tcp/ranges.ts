// A small sorted set of disjoint sequence ranges [left, right), with a fixed
// capacity chosen at construction. Two users: the receive side records which
// out-of-order bytes it holds (and reports them as SACK blocks), the send side
// keeps the SACK scoreboard of RFC 6675. Fixed capacity bounds the work a
// hostile peer can cause per segment; when full, `add` refuses (the receiver
// drops the segment) or `addLossy` forgets the highest range (the sender then
// merely retransmits something the peer already has).

import { seqLt, seqLe, seqGt, seqMax, seqMin } from "./seq";

export class SeqRanges {
  readonly lefts: StaticArray<u32>;
  readonly rights: StaticArray<u32>;
  count: i32 = 0;

  constructor(readonly capacity: i32) {
    this.lefts = new StaticArray<u32>(capacity);
    this.rights = new StaticArray<u32>(capacity);
  }

  @inline left(i: i32): u32 {
    return unchecked(this.lefts[i]);
  }
  @inline right(i: i32): u32 {
    return unchecked(this.rights[i]);
  }

  clear(): void {
    this.count = 0;
  }

  /** Total bytes covered. */
  bytes(): u32 {
    let n: u32 = 0;
    for (let i = 0; i < this.count; i++) n += this.right(i) - this.left(i);
    return n;
  }

  /**
   * Adds [l, r), merging with neighbours. Returns false (and changes nothing)
   * if the range would need a slot and none is free.
   */
  add(l: u32, r: u32): bool {
    if (!seqLt(l, r)) return true;
    // first range whose right edge reaches l
    let i = 0;
    while (i < this.count && seqLt(this.right(i), l)) i++;
    // ranges i..j-1 overlap or touch [l, r)
    let j = i;
    while (j < this.count && seqLe(this.left(j), r)) j++;
    if (i == j) {
      if (this.count == this.capacity) return false;
      for (let k = this.count; k > i; k--) {
        unchecked((this.lefts[k] = this.lefts[k - 1]));
        unchecked((this.rights[k] = this.rights[k - 1]));
      }
      unchecked((this.lefts[i] = l));
      unchecked((this.rights[i] = r));
      this.count++;
      return true;
    }
    const nl = seqMin(l, this.left(i));
    const nr = seqMax(r, this.right(j - 1));
    unchecked((this.lefts[i] = nl));
    unchecked((this.rights[i] = nr));
    const gone = j - i - 1;
    if (gone > 0) {
      for (let k = i + 1; k + gone < this.count; k++) {
        unchecked((this.lefts[k] = this.lefts[k + gone]));
        unchecked((this.rights[k] = this.rights[k + gone]));
      }
      this.count -= gone;
    }
    return true;
  }

  /** Adds [l, r); when full, forgets the highest range to make room. */
  addLossy(l: u32, r: u32): void {
    if (this.add(l, r)) return;
    if (seqGt(l, this.left(this.count - 1))) return; // the new one is the highest: forget it
    this.count--;
    this.add(l, r);
  }

  /** Removes everything below `x` (trimming a range that straddles it). */
  trimBelow(x: u32): void {
    let k = 0;
    while (k < this.count && seqLe(this.right(k), x)) k++;
    if (k > 0) {
      for (let i = k; i < this.count; i++) {
        unchecked((this.lefts[i - k] = this.lefts[i]));
        unchecked((this.rights[i - k] = this.rights[i]));
      }
      this.count -= k;
    }
    if (this.count > 0 && seqLt(this.left(0), x)) unchecked((this.lefts[0] = x));
  }

  /** Whether [l, r) is wholly covered. */
  covers(l: u32, r: u32): bool {
    for (let i = 0; i < this.count; i++) if (seqLe(this.left(i), l) && seqLe(r, this.right(i))) return true;
    return false;
  }

  /** Index of the range containing x, or -1. */
  find(x: u32): i32 {
    for (let i = 0; i < this.count; i++) if (seqLe(this.left(i), x) && seqLt(x, this.right(i))) return i;
    return -1;
  }
}
