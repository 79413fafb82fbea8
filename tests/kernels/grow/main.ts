// Grows linear memory and uses the new pages; with "touch=beyond" on the
// command line it then reads one byte past the end, which must trap in
// either bounds-checking mode (a page fault on x86_64, a data abort on aarch64, in guard mode).
import { print, println, printU64 } from "../../../kernel/console";
import { cmdlineArg } from "../../../kernel/cmdline";

export function main(): i32 {
  const before = memory.size();
  if (memory.grow(40) < 0) return 2;
  const end = <usize>memory.size() << 16;
  for (let p: usize = <usize>before << 16; p < end; p += 4096) store<u32>(p, <u32>p ^ 0x5a5a5a5a);
  for (let p: usize = <usize>before << 16; p < end; p += 4096) if (load<u32>(p) != (<u32>p ^ 0x5a5a5a5a)) return 3;
  print("grew to ");
  printU64(memory.size());
  println(" pages, every new page written and read back");
  if (cmdlineArg("touch", "") == "beyond") {
    println("reading one byte past the end");
    return load<u8>(end);
  }
  return 0;
}
