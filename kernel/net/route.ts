// The routing table: longest prefix wins; an on-link route (gateway 0) means
// "ARP for the destination itself", any other route "ARP for the gateway".
// The IPv4 layer keeps the on-link route of its own address and the default
// route of its gateway here; apps may add more.

import { prefixMask } from "./wire/ipv4";
export { prefixMask } from "./wire/ipv4";

export const MAX_ROUTES: i32 = 8;

export class RouteTable {
  private dest: StaticArray<u32> = new StaticArray<u32>(MAX_ROUTES);
  private len: StaticArray<i32> = new StaticArray<i32>(MAX_ROUTES);
  private gw: StaticArray<u32> = new StaticArray<u32>(MAX_ROUTES);
  count: i32 = 0;

  /** Adds or replaces the route for `dest`/`prefixLen`; false when the table is full. */
  add(dest: u32, prefixLen: i32, gateway: u32): bool {
    const m = prefixMask(prefixLen);
    dest &= m;
    for (let i = 0; i < this.count; i++) {
      if (unchecked(this.dest[i]) == dest && unchecked(this.len[i]) == prefixLen) {
        unchecked((this.gw[i] = gateway));
        return true;
      }
    }
    if (this.count == MAX_ROUTES) return false;
    const i = this.count++;
    unchecked((this.dest[i] = dest));
    unchecked((this.len[i] = prefixLen));
    unchecked((this.gw[i] = gateway));
    return true;
  }

  remove(dest: u32, prefixLen: i32): void {
    dest &= prefixMask(prefixLen);
    for (let i = 0; i < this.count; i++) {
      if (unchecked(this.dest[i]) == dest && unchecked(this.len[i]) == prefixLen) {
        const last = --this.count;
        unchecked((this.dest[i] = this.dest[last]));
        unchecked((this.len[i] = this.len[last]));
        unchecked((this.gw[i] = this.gw[last]));
        return;
      }
    }
  }

  clear(): void {
    this.count = 0;
  }

  /** The next hop for `dst`: `dst` itself on-link, the gateway otherwise, 0 without a route. */
  nextHop(dst: u32): u32 {
    let best = -1;
    let bestLen = -1;
    for (let i = 0; i < this.count; i++) {
      const l = unchecked(this.len[i]);
      if (l > bestLen && (dst & prefixMask(l)) == unchecked(this.dest[i])) {
        best = i;
        bestLen = l;
      }
    }
    if (best < 0) return 0;
    const g = unchecked(this.gw[best]);
    return g ? g : dst;
  }
}
