// Shared by the network test kernels: `key=value` result lines, and the
// `key=value` words of the kernel command line.
import { println } from "../../../kernel/console";
import { cmdline } from "../../../kernel/hal";

export function out(k: string, v: string): void {
  println(k + "=" + v);
}

export function num(k: string, v: u64): void {
  out(k, v.toString());
}

let text: string | null = null;

/** The whole kernel command line. */
export function commandLine(): string {
  if (text == null) {
    const cap: u32 = 4096;
    const b = heap.alloc(cap);
    text = String.UTF8.decodeUnsafe(b, min(cmdline(b, cap), cap));
    heap.free(b);
  }
  return text!;
}

/** The value of `k=` on the command line, or `def`. */
export function arg(k: string, def: string): string {
  const words = commandLine().split(" ");
  for (let i = 0; i < words.length; i++) if (words[i].startsWith(k + "=")) return words[i].substring(k.length + 1);
  return def;
}
