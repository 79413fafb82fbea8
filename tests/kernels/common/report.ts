// Shared by the network test kernels: `key=value` result lines; settings come
// from the command line through kernel/cmdline.ts.
import { println } from "../../../kernel/console";
export { commandLine, cmdlineArg as arg } from "../../../kernel/cmdline";

export function out(k: string, v: string): void {
  println(k + "=" + v);
}

export function num(k: string, v: u64): void {
  out(k, v.toString());
}
