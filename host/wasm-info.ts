// A reader for the parts of a wasm binary the toolchain and the Node platform
// need to know about before instantiating: imports (with memory limits),
// exports, and function names from the "name" section for trap reports.
// Malformed input is a WasmFormatError naming the offset, never a crash.

export class WasmFormatError extends Error {}

export type ExternKind = "func" | "table" | "memory" | "global" | "tag";
const KINDS: ExternKind[] = ["func", "table", "memory", "global", "tag"];

export interface MemoryLimits {
  initial: number;
  maximum?: number;
}

export interface WasmImport {
  module: string;
  name: string;
  kind: ExternKind;
  memory?: MemoryLimits;
}

export interface WasmExport {
  name: string;
  kind: ExternKind;
  index: number;
}

export interface WasmInfo {
  imports: WasmImport[];
  exports: WasmExport[];
  /** Function index (imports included) -> name, from the name section. */
  functionNames: Map<number, string>;
  /** "file:line" where each named function's source starts (the builder's "uniwasm.sources" section). */
  sourceOf: Map<string, string>;
  /** Per defined function: its type's param and result counts, for checks. */
  exportSignature(name: string): { params: string[]; results: string[] } | undefined;
}

const VALTYPES: Record<number, string> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128", 0x70: "funcref", 0x6f: "externref" };

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array, readonly end = bytes.length) {}
  fail(what: string): never {
    throw new WasmFormatError(`malformed wasm at offset ${this.pos}: ${what}`);
  }
  byte(): number {
    if (this.pos >= this.end) this.fail("unexpected end");
    return this.bytes[this.pos++];
  }
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
    }
    this.fail("LEB128 too long");
  }
  take(n: number): Uint8Array {
    if (n > this.end - this.pos) this.fail("length runs past the end");
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  name(): string {
    return new TextDecoder("utf-8", { fatal: false }).decode(this.take(this.u32()));
  }
  limits(): MemoryLimits {
    const flags = this.byte();
    const initial = this.u32();
    return flags & 1 ? { initial, maximum: this.u32() } : { initial };
  }
}

/** The custom section in which the builder (tools/wasm-build.ts) records function locations. */
export const SOURCES_SECTION = "uniwasm.sources";

export function readWasmInfo(bytes: Uint8Array): WasmInfo {
  const r = new Reader(bytes);
  const magic = r.take(4);
  if (magic[0] !== 0 || magic[1] !== 0x61 || magic[2] !== 0x73 || magic[3] !== 0x6d) r.fail("not a wasm binary (bad magic)");
  r.take(4); // version
  const imports: WasmImport[] = [];
  const exports: WasmExport[] = [];
  const functionNames = new Map<number, string>();
  const sourceOf = new Map<string, string>();
  const types: { params: string[]; results: string[] }[] = [];
  const funcTypes: number[] = []; // type index per function, imports first
  while (r.pos < r.end) {
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    const s = new Reader(r.take(size).slice());
    switch (id) {
      case 1: { // types
        for (let n = s.u32(); n > 0; n--) {
          if (s.byte() !== 0x60) s.fail("unsupported type form");
          const params = Array.from({ length: s.u32() }, () => VALTYPES[s.byte()] ?? "?");
          const results = Array.from({ length: s.u32() }, () => VALTYPES[s.byte()] ?? "?");
          types.push({ params, results });
        }
        break;
      }
      case 2: { // imports
        for (let n = s.u32(); n > 0; n--) {
          const module = s.name();
          const name = s.name();
          const k = s.byte();
          const kind = KINDS[k] ?? s.fail(`unknown import kind ${k}`);
          const imp: WasmImport = { module, name, kind };
          if (kind === "func") funcTypes.push(s.u32());
          else if (kind === "table") { s.byte(); s.limits(); }
          else if (kind === "memory") imp.memory = s.limits();
          else if (kind === "global") { s.byte(); s.byte(); }
          else s.take(2);
          imports.push(imp);
        }
        break;
      }
      case 3: // functions
        for (let n = s.u32(); n > 0; n--) funcTypes.push(s.u32());
        break;
      case 7: // exports
        for (let n = s.u32(); n > 0; n--) {
          const name = s.name();
          const k = s.byte();
          exports.push({ name, kind: KINDS[k] ?? s.fail(`unknown export kind ${k}`), index: s.u32() });
        }
        break;
      case 0: { // custom: the name section, and the builder's source locations
        const section = s.name();
        if (section === SOURCES_SECTION) {
          try {
            for (const [k, v] of Object.entries(JSON.parse(new TextDecoder().decode(s.take(s.end - s.pos))))) sourceOf.set(k, String(v));
          } catch {} // a malformed table only costs the locations
          break;
        }
        if (section !== "name") break;
        while (s.pos < s.end) {
          const sub = s.byte();
          const len = s.u32();
          const body = new Reader(s.take(len).slice());
          if (sub !== 1) continue;
          for (let n = body.u32(); n > 0; n--) {
            const index = body.u32();
            functionNames.set(index, body.name());
          }
        }
        break;
      }
    }
    if (r.pos !== start + size) r.fail("section size mismatch");
  }
  return {
    imports,
    exports,
    functionNames,
    sourceOf,
    exportSignature(name) {
      const e = exports.find((x) => x.name === name && x.kind === "func");
      if (!e) return undefined;
      return types[funcTypes[e.index]];
    },
  };
}
