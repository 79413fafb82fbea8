// The counters snapshot for the platform: a second entry file of every
// kernel build (tools/asc.ts), so each kernel exports it without the app
// doing anything. The Node platform (host/counters.ts) calls these between
// two waits, or after the kernel ended, and builds
// { component: { name: value } } from them. Names are returned as
// AssemblyScript strings (UTF-16, byte length in the 4 bytes before), which
// the platform reads in place: nothing here allocates, so a kernel that
// never counts anything pays for a few small functions only.

import { counterSetCount, counterSetAt, counterSetOrdinal, unlistedCounterSets } from "./counters";

/** Registered counter sets. */
export function uniwasm_counter_sets(): i32 {
  return counterSetCount();
}

/** Sets created beyond the table's size (not listed). */
export function uniwasm_counter_sets_unlisted(): u32 {
  return unlistedCounterSets;
}

/** Set `i`'s component name (a string). */
export function uniwasm_counter_component(i: i32): usize {
  return changetype<usize>(counterSetAt(i).component);
}

/** 1 for the first set of its component name, 2 for the second... */
export function uniwasm_counter_ordinal(i: i32): i32 {
  return counterSetOrdinal(i);
}

/** How many counters set `i` has. */
export function uniwasm_counter_count(i: i32): i32 {
  return counterSetAt(i).count;
}

/** The name of counter `k` of set `i` (a string). */
export function uniwasm_counter_name(i: i32, k: i32): usize {
  return changetype<usize>(unchecked(counterSetAt(i).names[k]));
}

/** The value of counter `k` of set `i`. */
export function uniwasm_counter_value(i: i32, k: i32): u64 {
  return counterSetAt(i).value(k);
}
