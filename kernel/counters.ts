// The one counters mechanism of the kernel: a component's counters are a
// class of u64 fields (so a hot path counts with `c.rxFrames++`, one store)
// that extends CounterSet with the fields' names in one table, in the same
// order. CounterSet reads the values straight from the object's fields, which
// is what lets one printer and one snapshot serve every component:
//   - printCounterSet: "net eth: rx=.. tx=.. drop_truncated=..", the first
//     `always` counters always, the rest when non-zero; printCounterLines:
//     "tcp.rxSegments=.." a line each, for a set too long for one line;
//   - the snapshot for the platform (kernel/counters-export.ts): every
//     registered set as "component name value" lines, which the Node
//     platform turns into { component: { name: value } } (host/counters.ts).
// Declaring a set:
//   export class EthCounters extends CounterSet {
//     rxFrames: u64 = 0;   // the fields, u64 only, in the order of NAMES
//     txFrames: u64 = 0;
//     constructor() { super("eth", ["rx", "tx"], 2, offsetof<EthCounters>()); }
//   }
// The constructor checks that the names cover the fields exactly.

import { print, println, printU64 } from "./console";

/** Sets the snapshot can hold; later ones count but are left out (`unlisted`). */
export const COUNTER_SETS_MAX: i32 = 64;

// A fixed table (no growth, nothing allocated after the first set): every kernel carries it.
let registry: StaticArray<CounterSet | null> | null = null;
let registered: i32 = 0;
/** Sets created beyond COUNTER_SETS_MAX (not in the snapshot). */
export let unlistedCounterSets: u32 = 0;

export abstract class CounterSet {
  /** Where the counter fields start in the object (this base class's own fields come first). */
  private readonly first: usize;

  /**
   * `component`: a short name, a string literal ("eth", "dhcp"); the
   * snapshot lists a second set of the same name as "eth/2". `names`: one per u64 field of the subclass,
   * in declaration order. `always`: how many of the first names the printer
   * shows even at zero. `size`: offsetof<Subclass>().
   */
  constructor(readonly component: string, readonly names: StaticArray<string>, readonly always: i32, size: usize) {
    // The subclass's u64 fields are the object's last n * 8 bytes (after this class's fields and any alignment padding).
    const n = <usize>names.length;
    const first = size - n * 8;
    assert(size >= n * 8 && first >= offsetof<CounterSet>() && first - offsetof<CounterSet>() < 8, "CounterSet: the names do not match the u64 fields");
    this.first = first;
    let r = registry;
    if (r == null) registry = r = new StaticArray<CounterSet | null>(COUNTER_SETS_MAX);
    if (registered < COUNTER_SETS_MAX) unchecked((r[registered++] = this));
    else unlistedCounterSets++;
  }

  get count(): i32 {
    return this.names.length;
  }

  /** The value of counter `i` (in the order of `names`). */
  @inline value(i: i32): u64 {
    return load<u64>(changetype<usize>(this) + this.first + (<usize>i << 3));
  }

  /** The value of the counter called `name`, or 0 if there is none. */
  get(name: string): u64 {
    const ns = this.names;
    for (let i = 0; i < ns.length; i++) if (unchecked(ns[i]) == name) return this.value(i);
    return 0;
  }

  /** Sets every counter to 0. */
  reset(): void {
    memory.fill(changetype<usize>(this) + this.first, 0, <usize>this.names.length << 3);
  }
}

/** How many sets are registered (the snapshot lists them in creation order). */
export function counterSetCount(): i32 {
  return registered;
}

/** The `i`th registered set (0 <= i < counterSetCount()). */
export function counterSetAt(i: i32): CounterSet {
  return unchecked(registry![i])!;
}

/** Which of the sets named like set `i` it is: 1 for the first, 2 for the next... (the snapshot lists the Nth as "name/N"). */
export function counterSetOrdinal(i: i32): i32 {
  const c = counterSetAt(i);
  let n = 1;
  // Component names are string literals, one copy each in the module: comparing where they are is enough.
  for (let k = 0; k < i; k++) if (changetype<usize>(counterSetAt(k).component) == changetype<usize>(c.component)) n++;
  return n;
}

/** Prints `c` as one line: "`prefix` component: name=value ..." (the first `always` counters always, the rest when non-zero). */
export function printCounterSet(c: CounterSet, prefix: string = ""): void {
  if (prefix.length > 0) {
    print(prefix);
    print(" ");
  }
  print(c.component);
  print(":");
  const ns = c.names;
  for (let i = 0; i < ns.length; i++) {
    const v = c.value(i);
    if (i >= c.always && v == 0) continue;
    print(" ");
    print(unchecked(ns[i]));
    print("=");
    printU64(v);
  }
  println("");
}

/** Prints `c` one counter a line, "component.name=value", the non-zero ones only (for sets too long for one line). */
export function printCounterLines(c: CounterSet): void {
  const ns = c.names;
  for (let i = 0; i < ns.length; i++) {
    const v = c.value(i);
    if (v == 0) continue;
    print(c.component);
    print(".");
    print(unchecked(ns[i]));
    print("=");
    printU64(v);
    println("");
  }
}
