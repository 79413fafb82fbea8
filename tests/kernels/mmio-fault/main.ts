// Reads a device register that was never mapped: a kernel bug the platform
// must catch (a page fault on x86_64, a data abort on aarch64) and report, not a silent garbage value.
import { println } from "../../../kernel/console";
import { mmio_read32 } from "../../../kernel/hal";

export function main(): i32 {
  println("reading unmapped device memory");
  return <i32>mmio_read32(0xdead_0000);
}
