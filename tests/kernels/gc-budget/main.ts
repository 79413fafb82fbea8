// A small machine's heap under a stream of garbage, and the allocator's
// "would this fit" question (kernel/mem/gc.ts, kernel/mem/heap.ts):
//  1. heapCanAlloc: 64 KiB blocks taken only while it says yes fill most of
//     linear memory and never abort (a yes it cannot keep is an out-of-memory
//     exit); then all are given back.
//  2. Tasks that each make `per` bytes of garbage, far more in all than the
//     machine has, with no time passing on the virtual clock: the collector's
//     100 ms interval never comes and memory stops growing, so only the
//     allocation budget can make a collection due. Without it the heap runs
//     out (exit 75).
import { Kernel, Task, println } from "../../../kernel/index";
import { heapCanAlloc } from "../../../kernel/mem/heap";
import { mem_limit } from "../../../kernel/hal";

const BLOCK: usize = 65536;

class Churn extends Task {
  runsLeft: u32;
  last: ArrayBuffer | null = null;
  constructor(rounds: u32, readonly per: u32) {
    super("churn");
    this.runsLeft = rounds;
  }
  run(): void {
    for (let i: u32 = 0; i < this.per / 1024; i++) {
      const a = new ArrayBuffer(1024);
      store<u32>(changetype<usize>(a), i);
      this.last = a;
    }
    if (--this.runsLeft > 0) {
      Kernel.spawn(this);
      return;
    }
    const gc = Kernel.sched.gc;
    println("churn done: collections=" + gc.runs.toString() + " budget_collections=" + gc.budgetRuns.toString() + " linear=" + ((<u64>memory.size()) << 16).toString());
    Kernel.exit(0);
  }
}

export function main(): i32 {
  const limit = mem_limit();
  println("limit=" + limit.toString() + " whole=" + (heapCanAlloc(<usize>limit) ? "1" : "0") + " small=" + (heapCanAlloc(100) ? "1" : "0"));
  const held = new StaticArray<usize>(<i32>(limit / BLOCK) + 1);
  let n = 0;
  while (heapCanAlloc(BLOCK)) held[n++] = heap.alloc(BLOCK);
  println("filled=" + (<u64>n * <u64>BLOCK).toString());
  for (let i = 0; i < n; i++) heap.free(held[i]);
  Kernel.spawn(new Churn(2000, 64 * 1024)); // 125 MiB of garbage

  return Kernel.run();
}
