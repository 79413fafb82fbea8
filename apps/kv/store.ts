// The keyspace: a chained hash table whose entries are single blocks of
// manually managed memory (heap.alloc, not GC objects), key and value inline.
// Memory in use is counted exactly (what the blocks and the bucket array
// take), so `maxmemory` and INFO memory are real figures. Expiry is lazy on
// access plus a sampling sweep (`sweepExpired`, as Redis's active expire
// cycle); eviction samples keys and drops the least recently used of them
// (Redis's approximated allkeys-lru).
//
// Entry layout (bytes):
//   0 next entry in the bucket (u32)   4 hash (u32)
//   8 expire-at in ms, 0 = none (u64)  16 last access in ms (u64)
//  24 key length (u32)  28 value length (u32)  32 value capacity (u32)
//  36 key bytes, then value bytes

const NEXT = 0;
const HASH = 4;
const EXPIRE = 8;
const ACCESS = 16;
const KLEN = 24;
const VLEN = 28;
const VCAP = 32;
const DATA = 36;
/** What one entry costs besides its bytes (the allocator's own header included). */
const OVERHEAD: usize = DATA + 16;

@inline function hashOf(p: usize, n: u32): u32 {
  let h: u32 = 0x811c9dc5; // FNV-1a, then a final mix so low bits spread
  for (let i: u32 = 0; i < n; i++) h = (h ^ load<u8>(p + i)) * 0x01000193;
  h ^= h >>> 15;
  h *= 0x2c1b3c6d;
  h ^= h >>> 12;
  return h;
}

export class Store {
  private buckets: usize;
  private mask: u32;
  /** Keys stored. */
  count: u32 = 0;
  /** Keys with an expiry. */
  volatile: u32 = 0;
  /** Bytes of memory the keyspace holds (entries and buckets). */
  used: usize = 0;
  expired: u64 = 0;
  evicted: u64 = 0;
  private rnd: u32 = 0x9e3779b9;

  constructor() {
    this.mask = 15;
    this.buckets = this.newBuckets(16);
  }

  private newBuckets(n: u32): usize {
    const b = heap.alloc(<usize>n * 4);
    memory.fill(b, 0, <usize>n * 4);
    this.used += <usize>n * 4;
    return b;
  }

  // ---- entry fields ----
  @inline static keyPtr(e: usize): usize { return e + DATA; }
  @inline static keyLen(e: usize): u32 { return load<u32>(e, KLEN); }
  @inline static valPtr(e: usize): usize { return e + DATA + load<u32>(e, KLEN); }
  @inline static valLen(e: usize): u32 { return load<u32>(e, VLEN); }
  /** Expiry in ms of the monotonic clock, 0 for none. */
  @inline static expireAt(e: usize): u64 { return load<u64>(e, EXPIRE); }

  /** The live entry for the key, or 0; an expired one is deleted on the way (lazy expiry). */
  find(kp: usize, kl: u32, now: u64): usize {
    const h = hashOf(kp, kl);
    let e = load<u32>(this.buckets + ((h & this.mask) << 2));
    while (e != 0) {
      if (load<u32>(e, HASH) == h && load<u32>(e, KLEN) == kl && memory.compare(e + DATA, kp, kl) == 0) {
        const x = load<u64>(e, EXPIRE);
        if (x != 0 && x <= now) {
          this.expired++;
          this.remove(e);
          return 0;
        }
        store<u64>(e, now, ACCESS);
        return e;
      }
      e = load<u32>(e, NEXT);
    }
    return 0;
  }

  /**
   * Sets the key's value (a copy of [vp, vp+vl)); `expireAt` 0 clears the
   * expiry unless `keepTtl`. Returns the entry (its address may change).
   */
  set(kp: usize, kl: u32, vp: usize, vl: u32, expireAt: u64, keepTtl: bool, now: u64): usize {
    let e = this.find(kp, kl, now);
    if (e != 0 && this.replace(e, vp, vl)) {
      if (!keepTtl) this.setExpire(e, expireAt);
      return e;
    }
    let keep: u64 = 0;
    if (e != 0) {
      keep = load<u64>(e, EXPIRE);
      this.remove(e);
    }
    e = this.insert(kp, kl, vl, now);
    memory.copy(e + DATA + kl, vp, vl);
    this.setExpire(e, keepTtl ? keep : expireAt);
    return e;
  }

  /**
   * Overwrites the value of entry `e` (from `find`) with [vp, vp+vl) where it
   * lies, its TTL kept; false, nothing changed, when the entry's room does
   * not suit the new length (then `set`).
   */
  replace(e: usize, vp: usize, vl: u32): bool {
    const cap = load<u32>(e, VCAP);
    if (cap < vl || cap > (vl << 1) + 64) return false;
    memory.copy(e + DATA + load<u32>(e, KLEN), vp, vl);
    store<u32>(e, vl, VLEN);
    return true;
  }

  /** A new entry for a key not in the table, value bytes left to the caller. */
  private insert(kp: usize, kl: u32, vl: u32, now: u64): usize {
    if (this.count >= this.mask + 1) this.grow();
    const cap = vl;
    const size = <usize>DATA + kl + cap;
    const e = heap.alloc(size);
    const h = hashOf(kp, kl);
    const slot = this.buckets + ((h & this.mask) << 2);
    store<u32>(e, load<u32>(slot), NEXT);
    store<u32>(e, h, HASH);
    store<u64>(e, 0, EXPIRE);
    store<u64>(e, now, ACCESS);
    store<u32>(e, kl, KLEN);
    store<u32>(e, vl, VLEN);
    store<u32>(e, cap, VCAP);
    memory.copy(e + DATA, kp, kl);
    store<u32>(slot, <u32>e);
    this.count++;
    this.used += size + OVERHEAD - DATA;
    return e;
  }

  setExpire(e: usize, at: u64): void {
    const was = load<u64>(e, EXPIRE);
    if (was == 0 && at != 0) this.volatile++;
    else if (was != 0 && at == 0) this.volatile--;
    store<u64>(e, at, EXPIRE);
  }

  /** Deletes the key; whether it was there (and live). */
  del(kp: usize, kl: u32, now: u64): bool {
    const e = this.find(kp, kl, now);
    if (e == 0) return false;
    this.remove(e);
    return true;
  }

  private remove(e: usize): void {
    let slot = this.buckets + ((load<u32>(e, HASH) & this.mask) << 2);
    while (load<u32>(slot) != <u32>e) slot = load<u32>(slot) + NEXT;
    store<u32>(slot, load<u32>(e, NEXT));
    if (load<u64>(e, EXPIRE) != 0) this.volatile--;
    this.count--;
    this.used -= <usize>DATA + load<u32>(e, KLEN) + load<u32>(e, VCAP) + OVERHEAD - DATA;
    heap.free(e);
  }

  /** Deletes every key. */
  flush(): void {
    const n = this.mask + 1;
    for (let i: u32 = 0; i < n; i++) {
      let e = load<u32>(this.buckets + (i << 2));
      while (e != 0) {
        const next = load<u32>(e, NEXT);
        heap.free(e);
        e = next;
      }
    }
    heap.free(this.buckets);
    this.used = 0;
    this.count = 0;
    this.volatile = 0;
    this.mask = 15;
    this.buckets = this.newBuckets(16);
  }

  // Doubles the bucket array and rehashes (load factor 1).
  private grow(): void {
    const oldN = this.mask + 1;
    const old = this.buckets;
    const n = oldN << 1;
    this.buckets = this.newBuckets(n);
    this.mask = n - 1;
    for (let i: u32 = 0; i < oldN; i++) {
      let e = load<u32>(old + (i << 2));
      while (e != 0) {
        const next = load<u32>(e, NEXT);
        const slot = this.buckets + ((load<u32>(e, HASH) & this.mask) << 2);
        store<u32>(e, load<u32>(slot), NEXT);
        store<u32>(slot, e);
        e = next;
      }
    }
    heap.free(old);
    this.used -= <usize>oldN * 4;
  }

  private random(): u32 {
    let x = this.rnd; // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rnd = x;
    return x;
  }

  /** Some entry chosen at random (0 when the table is empty). */
  private sample(): usize {
    if (this.count == 0) return 0;
    for (let tries = 0; tries < 64; tries++) {
      let e = load<u32>(this.buckets + ((this.random() & this.mask) << 2));
      if (e == 0) continue;
      // a random position along the chain
      let k = this.random() & 3;
      while (k-- > 0 && load<u32>(e, NEXT) != 0) e = load<u32>(e, NEXT);
      return e;
    }
    // a sparse table: the first entry from a random start
    const start = this.random() & this.mask;
    for (let i: u32 = 0; i <= this.mask; i++) {
      const e = load<u32>(this.buckets + (((start + i) & this.mask) << 2));
      if (e != 0) return e;
    }
    return 0;
  }

  /**
   * One round of active expiry: samples up to `samples` keys with an
   * expiry and deletes the expired ones, repeating while more than a
   * quarter of a round was expired (Redis's rule), at most `rounds` times.
   */
  sweepExpired(now: u64, samples: u32, rounds: u32): u32 {
    let removed: u32 = 0;
    for (let r: u32 = 0; r < rounds && this.volatile > 0; r++) {
      let found: u32 = 0;
      let seen: u32 = 0;
      for (let s: u32 = 0; s < samples * 4 && seen < samples && this.volatile > 0; s++) {
        const e = this.sample();
        if (e == 0) break;
        const x = load<u64>(e, EXPIRE);
        if (x == 0) continue;
        seen++;
        if (x <= now) {
          this.remove(e);
          this.expired++;
          found++;
        }
      }
      removed += found;
      if (found * 4 <= seen || seen == 0) break;
    }
    return removed;
  }

  /** Evicts the least recently used of `samples` sampled keys; false when there is nothing to evict. */
  evictOne(samples: u32): bool {
    let best: usize = 0;
    let bestAt = u64.MAX_VALUE;
    for (let i: u32 = 0; i < samples; i++) {
      const e = this.sample();
      if (e == 0) break;
      const at = load<u64>(e, ACCESS);
      if (at < bestAt) { bestAt = at; best = e; }
    }
    if (best == 0) return false;
    this.remove(best);
    this.evicted++;
    return true;
  }
}
