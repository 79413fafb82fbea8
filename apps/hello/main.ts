// The smallest complete uniwasm app: it shows the machine it was given and
// how long the platform took to reach `main`, then exits with success.

import { Kernel, print, println, printU64, printFixed } from "uniwasm";

export function main(): i32 {
  const atMain = Kernel.now(); // the clock's origin is the platform's first instruction
  println("uniwasm hello: a WebAssembly kernel, up and running");
  print("memory: ");
  printU64(Kernel.memoryLimit >> 10);
  print(" KiB for linear memory, ");
  printU64(<u64>memory.size() << 6);
  println(" KiB in use");
  print("boot to main: ");
  printFixed(atMain, 1_000_000, 3);
  println(" ms");
  println("goodbye");
  return 0;
}
