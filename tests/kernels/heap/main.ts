// Heap usage as the kernel sees it: allocate, free, and report after each
// step, so the test can check that the walk follows what was done.
import { println } from "../../../kernel/console";
import { HeapUsage, heapUsage } from "../../../kernel/mem/heap";

const u = new HeapUsage();

function report(step: string): void {
  heapUsage(u);
  println(step + " valid=" + (u.valid ? "1" : "0") + " used=" + u.usedBytes.toString() + " usedBlocks=" + u.usedBlocks.toString() +
    " free=" + u.freeBytes.toString() + " linear=" + u.linearBytes.toString());
}

export function main(): i32 {
  report("start");
  const p = heap.alloc(100000);
  report("alloc100000");
  heap.free(p);
  report("free");
  const held = new Array<ArrayBuffer>();
  for (let i = 0; i < 100; i++) held.push(new ArrayBuffer(1000));
  report("gc100x1000");
  return 0;
}
