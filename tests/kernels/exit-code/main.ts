// Exits with a code of its own choosing, read from the command line ("code=N").
import { println } from "../../../kernel/console";
import { cmdlineArg } from "../../../kernel/cmdline";

export function main(): i32 {
  const code = I32.parseInt(cmdlineArg("code", "0"));
  println("exiting with the code from the command line");
  return code;
}
