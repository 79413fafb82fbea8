// Divides by a zero the compiler cannot see: the command line's divisor= (0 unless given).
import { println } from "../../../kernel/console";
import { cmdlineArg } from "../../../kernel/cmdline";

export function main(): i32 {
  println("dividing by zero");
  const zero = I32.parseInt(cmdlineArg("divisor", "0"));
  return 100 / zero;
}
