// Exits with a code of its own choosing, read from the command line ("code=N").
import { println } from "../../../kernel/console";
import { cmdline } from "../../../kernel/hal";

const buf = memory.data(64);

export function main(): i32 {
  const n = min(cmdline(buf, 64), 64);
  let code = 0;
  for (let i: u32 = 5; i < n; i++) code = code * 10 + (load<u8>(buf + i) - 48);
  println("exiting with the code from the command line");
  return code;
}
