// Divides by a zero the compiler cannot see: the length of an empty command line.
import { println } from "../../../kernel/console";
import { cmdline } from "../../../kernel/hal";

export function main(): i32 {
  println("dividing by zero");
  const zero = <i32>cmdline(0, 0);
  return 100 / zero;
}
