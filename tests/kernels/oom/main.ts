// Keeps allocating 64 KiB buffers and holding them until the heap cannot
// grow: the platform must report out of memory (exit 75), not a bare trap.
import { print, println, printU64 } from "../../../kernel/console";

const held = new Array<ArrayBuffer>();

export function main(): i32 {
  println("oom: allocating until memory runs out");
  for (let i = 0; ; i++) {
    held.push(new ArrayBuffer(65536));
    if (i % 64 == 0) {
      print("oom: held ");
      printU64(<u64>held.length * 64);
      println(" KiB");
    }
  }
  return 0;
}
