// Prints the boot command line between brackets, so tests can see exactly
// what the platform hands the kernel.
import { print, println } from "../../../kernel/console";
import { cmdline, console_write } from "../../../kernel/hal";

const buf = memory.data(1024);

export function main(): i32 {
  const n = cmdline(buf, 1024);
  print("cmdline [");
  console_write(buf, min(n, 1024));
  println("]");
  return 0;
}
