// Recursion far deeper than any stack: must end in a report, not a corrupted machine.
import { println } from "../../../kernel/console";
import { clock_ns } from "../../../kernel/hal";

const cell = memory.data(16);

export function main(): i32 {
  println("recursing a billion calls deep");
  return deeper(1_000_000_000 + <i32>(clock_ns() & 1));
}

// The memory traffic keeps optimisation from turning this into a loop.
function deeper(n: i32): i32 {
  if (n == 0) return 0;
  const below = deeper(n - 1);
  store<i32>(cell, below);
  return below + load<i32>(cell + <usize>(n & 4));
}
