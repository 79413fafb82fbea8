// The kernel's counters as an object: every CounterSet the kernel registered
// (kernel/counters.ts), read through the functions every kernel exports
// (kernel/counters-export.ts), as { component: { name: value } } — e.g.
// { eth: { rx: 12, ... }, ip: { drop_bad_checksum: 1, ... }, "eth/2": ... }
// (the second stack's sets carry "/2"). Values are numbers (exact below 2^53).

export type KernelCounters = Record<string, Record<string, number>>;

interface CounterExports {
  uniwasm_counter_sets: () => number;
  uniwasm_counter_sets_unlisted: () => number;
  uniwasm_counter_component: (i: number) => number;
  uniwasm_counter_ordinal: (i: number) => number;
  uniwasm_counter_count: (i: number) => number;
  uniwasm_counter_name: (i: number, k: number) => number;
  uniwasm_counter_value: (i: number, k: number) => bigint;
}

/** An AssemblyScript string at `ptr`: UTF-16LE, its byte length in the 4 bytes before. */
function asString(memory: WebAssembly.Memory, ptr: number): string {
  const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true);
  return new TextDecoder("utf-16le").decode(new Uint8Array(memory.buffer, ptr, bytes));
}

/**
 * Reads the counters of a kernel instance (between two waits, or after it
 * ended); undefined if the kernel was built without the exports.
 */
export function readKernelCounters(exports: WebAssembly.Exports, memory: WebAssembly.Memory): KernelCounters | undefined {
  const e = exports as unknown as Partial<CounterExports>;
  if (!e.uniwasm_counter_sets || !e.uniwasm_counter_value) return undefined;
  const x = e as CounterExports;
  const out: KernelCounters = {};
  const n = x.uniwasm_counter_sets();
  for (let i = 0; i < n; i++) {
    const ord = x.uniwasm_counter_ordinal(i);
    const key = asString(memory, x.uniwasm_counter_component(i) >>> 0) + (ord > 1 ? `/${ord}` : "");
    const set: Record<string, number> = (out[key] = {});
    const count = x.uniwasm_counter_count(i);
    for (let k = 0; k < count; k++) set[asString(memory, x.uniwasm_counter_name(i, k) >>> 0)] = Number(BigInt.asUintN(64, x.uniwasm_counter_value(i, k)));
  }
  const unlisted = x.uniwasm_counter_sets_unlisted() >>> 0;
  if (unlisted > 0) out.counters = { unlisted_sets: unlisted };
  return out;
}
