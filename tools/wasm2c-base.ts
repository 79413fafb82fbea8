// One edit of wasm2c's output: loads and stores take linear memory's base
// from wasm_rt_linear_base() (boot/runtime/include/wasm-rt.h), a value the
// compiler reads once per function, instead of instance->memory->data, which
// it reloads (two dependent loads) after every store. The memory of a uniwasm
// kernel never moves, so both are the same address. This took a fifth to a
// quarter off the generated machine code and is faster too (docs/benchmarks.md).
// Compiling with -DUNIWASM_MEMORY_BASE_RELOAD gives wasm2c's own form back,
// for measuring the difference.
import { UserError } from "./errors.ts";

/** wasm2c 1.0.39's address of a load or store when Segue is off (kernel-impl.h). */
const WASM2C_MEMOP = "#define MEM_ADDR_MEMOP(mem, addr, n) MEM_ADDR(mem, addr, n)";

/** What replaces it (part of the wasm2c stage's cache key). */
export const FIXED_MEMOP = `#ifndef UNIWASM_MEMORY_BASE_RELOAD
/* uniwasm: the memory never moves, its base is a constant (wasm-rt.h) */
#define MEM_ADDR_MEMOP(mem, addr, n) (wasm_rt_linear_base() + (addr))
#else
${WASM2C_MEMOP}
#endif`;

/** kernel-impl.h with loads and stores based on wasm_rt_linear_base(). */
export function withFixedMemoryBase(implHeader: string): string {
  if (implHeader.includes(FIXED_MEMOP)) return implHeader;
  const at = implHeader.indexOf(WASM2C_MEMOP);
  if (at < 0 || implHeader.indexOf(WASM2C_MEMOP, at + 1) >= 0) {
    throw new UserError(`internal: wasm2c's kernel-impl.h has not exactly one "${WASM2C_MEMOP}" (another wasm2c version?)`);
  }
  return implHeader.slice(0, at) + FIXED_MEMOP + implHeader.slice(at + WASM2C_MEMOP.length);
}
