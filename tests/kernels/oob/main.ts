// Reads far outside linear memory from a function of its own.
import { println } from "../../../kernel/console";

export function main(): i32 {
  println("reading outside linear memory");
  return checksum(0x7fff_fff0, 3);
}

// tree-recursive, so optimisation keeps it a function of its own to be named
function checksum(p: usize, n: i32): i32 {
  return n == 0 ? load<i32>(p) : checksum(p, n - 1) ^ checksum(p + 4, n - 2);
}
