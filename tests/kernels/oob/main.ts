// Reads outside what it may from functions of its own: far outside linear
// memory (a wasm trap), or past the end of an array with `what=index` (an
// abort in AssemblyScript's runtime, ~lib/array.ts, called by the app).
import { println } from "../../../kernel/console";
import { cmdlineArg } from "../../../kernel/cmdline";

export function main(): i32 {
  if (cmdlineArg("what", "load") == "index") {
    println("indexing past the end of an array");
    return pick([1, 2, 3], 2, 3);
  }
  println("reading outside linear memory");
  return checksum(0x7fff_fff0, 3);
}

// tree-recursive, so optimisation keeps it a function of its own to be named
function checksum(p: usize, n: i32): i32 {
  return n == 0 ? load<i32>(p) : checksum(p, n - 1) ^ checksum(p + 4, n - 2);
}

// the same shape, reaching xs[3] of three
function pick(xs: i32[], i: i32, n: i32): i32 {
  return n <= 0 ? xs[i] : pick(xs, i, n - 1) ^ pick(xs, i + 1, n - 2);
}
