// Two edits of wasm2c's kernel-impl.h, each a macro the generated code uses
// everywhere, replaced by one that relies on what a uniwasm kernel
// guarantees (boot/runtime/include/wasm-rt.h has the other half of each):
//
// - Loads and stores take linear memory's base from wasm_rt_linear_base(), a
//   value the compiler reads once per function, instead of
//   instance->memory->data, which it reloads (two dependent loads) after
//   every store. The memory never moves, so both are the same address. This
//   took a fifth to a quarter off the generated machine code and 27-30% off
//   a TCP transfer's instructions.
// - Recursion ends at the stack's floor: each function compares its frame
//   address with __wasm_stack_floor on entry, instead of incrementing a
//   global depth counter on entry and decrementing it on every return.
//
// -DUNIWASM_MEMORY_BASE_RELOAD and -DUNIWASM_CALL_DEPTH_COUNT give wasm2c's
// own forms back, for measuring the difference (docs/benchmarks.md).
import { UserError } from "./errors.ts";

interface Edit { wasm2c: string; uniwasm: string }

const edit = (wasm2c: string, flag: string, why: string, uniwasm: string): Edit =>
  ({ wasm2c, uniwasm: `#ifndef ${flag}\n/* uniwasm: ${why} (wasm-rt.h) */\n${uniwasm}\n#else\n${wasm2c}\n#endif` });

/** What replaces wasm2c 1.0.39's macros (with Segue off), in order. */
export const WASM2C_EDITS: readonly Edit[] = [
  edit("#define MEM_ADDR_MEMOP(mem, addr, n) MEM_ADDR(mem, addr, n)", "UNIWASM_MEMORY_BASE_RELOAD",
    "the memory never moves, its base is a constant",
    "#define MEM_ADDR_MEMOP(mem, addr, n) (wasm_rt_linear_base() + (addr))"),
  edit(`#define FUNC_PROLOGUE                                            \\
  if (++wasm_rt_call_stack_depth > WASM_RT_MAX_CALL_STACK_DEPTH) \\
    TRAP(EXHAUSTION);

#define FUNC_EPILOGUE --wasm_rt_call_stack_depth`, "UNIWASM_CALL_DEPTH_COUNT",
    "a frame below the stack's floor is too deep",
    `#define FUNC_PROLOGUE \\
  if (UNLIKELY(WASM_RT_BELOW_STACK_FLOOR())) TRAP(EXHAUSTION);
#define FUNC_EPILOGUE`),
];

/** kernel-impl.h as uniwasm compiles it: each of WASM2C_EDITS applied once. */
export function editWasm2cOutput(implHeader: string): string {
  let out = implHeader;
  for (const e of WASM2C_EDITS) {
    if (out.includes(e.uniwasm)) continue;
    const at = out.indexOf(e.wasm2c);
    if (at < 0 || out.indexOf(e.wasm2c, at + 1) >= 0) {
      throw new UserError(`internal: wasm2c's kernel-impl.h has not exactly one "${e.wasm2c.split("\n")[0]}" (another wasm2c version?)`);
    }
    out = out.slice(0, at) + e.uniwasm + out.slice(at + e.wasm2c.length);
  }
  return out;
}
