// Where each function of a kernel comes from: asc's source map (v3; for
// wasm the "column" is the byte offset in the module) read against the
// module's code section and name section. The location of a function is the
// first mapped position of its body: the line where its code starts. The
// native image loses finer positions (wasm2c keeps no line information), so
// this is what gdb and the trap reports can name.

import { readWasmInfo } from "../host/wasm-info.ts";

export interface SourceLocation {
  file: string;
  line: number;
}

interface RawMap {
  sources: string[];
  mappings: string;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The mappings as [wasm offset, source index, line (1-based)], in offset order. */
function decodeMappings(mappings: string): [number, number, number][] {
  const out: [number, number, number][] = [];
  let col = 0, src = 0, line = 0;
  for (const segment of mappings.split(/[,;]/)) {
    if (!segment) continue;
    const fields: number[] = [];
    let value = 0, shift = 0;
    for (const ch of segment) {
      const d = B64.indexOf(ch);
      if (d < 0) return out; // not a mapping we understand: keep what was read
      value += (d & 31) << shift;
      if (d & 32) shift += 5;
      else {
        fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
        value = 0;
        shift = 0;
      }
    }
    col += fields[0] ?? 0;
    if (fields.length >= 4) {
      src += fields[1];
      line += fields[2];
      out.push([col, src, line + 1]);
    }
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** Byte ranges of the function bodies, by function index (imports first, as in the name section). */
function functionBodies(bytes: Uint8Array): { index: number; start: number; end: number }[] {
  let pos = 8;
  const u32 = () => {
    let result = 0, shift = 0, b: number;
    do {
      b = bytes[pos++];
      result |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    return result >>> 0;
  };
  let imported = 0;
  const bodies: { index: number; start: number; end: number }[] = [];
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = u32();
    const end = pos + size;
    if (id === 2) {
      for (let n = u32(); n > 0; n--) {
        const moduleLen = u32();
        pos += moduleLen;
        const nameLen = u32(); // (not `pos += u32()`: that reads pos before u32 moves it)
        pos += nameLen;
        const kind = bytes[pos++];
        if (kind === 0) { u32(); imported++; }
        else if (kind === 1) { pos++; const f = u32(); u32(); if (f & 1) u32(); }
        else if (kind === 2) { const f = u32(); u32(); if (f & 1) u32(); }
        else pos += 2;
      }
    } else if (id === 10) {
      const count = u32();
      for (let i = 0; i < count; i++) {
        const len = u32();
        bodies.push({ index: imported + i, start: pos, end: pos + len });
        pos += len;
      }
    }
    pos = end;
  }
  return bodies;
}

/** Each named function's source location, from a module and its source map. */
export function functionLocations(wasm: Uint8Array, mapJson: string): Map<string, SourceLocation> {
  const map = JSON.parse(mapJson) as RawMap;
  const names = readWasmInfo(wasm).functionNames;
  const mappings = decodeMappings(map.mappings);
  const out = new Map<string, SourceLocation>();
  let m = 0;
  for (const body of functionBodies(wasm)) {
    while (m < mappings.length && mappings[m][0] < body.start) m++;
    const name = names.get(body.index);
    if (!name || m >= mappings.length || mappings[m][0] >= body.end) continue;
    // code inlined from other files (the runtime's stack checks, helpers) comes
    // first in many bodies: prefer the first position in the function's own
    // file, which its name starts with ("apps/echo/main/Echo#onData" <- apps/echo/main.ts)
    let pick = m;
    for (let k = m; k < mappings.length && mappings[k][0] < body.end; k++) {
      const file = map.sources[mappings[k][1]].replace(/\.ts$/, "/");
      if (name.startsWith(file)) {
        pick = k;
        break;
      }
    }
    out.set(name, { file: map.sources[mappings[pick][1]], line: mappings[pick][2] });
  }
  return out;
}
