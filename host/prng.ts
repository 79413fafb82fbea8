// SplitMix64: small, fast, and good enough to drive simulated randomness
// (entropy, loss, reordering) reproducibly from one seed.
export class SplitMix64 {
  private state: bigint;
  constructor(seed: bigint) {
    this.state = BigInt.asUintN(64, seed);
  }
  next(): bigint {
    this.state = BigInt.asUintN(64, this.state + 0x9e3779b97f4a7c15n);
    let z = this.state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    return z ^ (z >> 31n);
  }
  /** A float in [0, 1). */
  float(): number {
    return Number(this.next() >> 11n) / 2 ** 53;
  }
  fill(out: Uint8Array): void {
    for (let i = 0; i < out.length; i += 8) {
      let v = this.next();
      for (let j = i; j < Math.min(i + 8, out.length); j++) {
        out[j] = Number(v & 0xffn);
        v >>= 8n;
      }
    }
  }
}
