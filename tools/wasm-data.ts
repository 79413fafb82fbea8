// A kernel's wasm data section, edited at the binary level: appending the
// embedded files' segment (tools/files.ts) and merging the compiler's many
// small segments into a few. asc emits one active segment per static string
// or array (hundreds in a network kernel); wasm2c turns each into its own
// bounds-checked copy in the module's start-up code, about 70 bytes of
// machine code apiece, where one copy of a merged run costs the same once.

import { UserError } from "./errors.ts";

interface Section {
  id: number;
  body: Uint8Array;
}

/** An active data segment of memory 0 at a constant address. */
interface Segment {
  address: number;
  data: Uint8Array;
}

const DATA = 11;
const CODE = 10;
const DATA_COUNT = 12;

function sections(wasm: Uint8Array): Section[] {
  const out: Section[] = [];
  for (let p = 8; p < wasm.length; ) {
    const id = wasm[p];
    const [n, at] = readUleb(wasm, p + 1);
    out.push({ id, body: wasm.subarray(at, at + n) });
    p = at + n;
  }
  return out;
}

function assemble(wasm: Uint8Array, list: Section[]): Uint8Array {
  return Buffer.concat([wasm.subarray(0, 8), ...list.flatMap((s) => [Buffer.from([s.id]), uleb(s.body.length), s.body])]);
}

function encodeSegment(s: Segment): Buffer {
  return Buffer.concat([Buffer.from([0x00, 0x41]), sleb(s.address), Buffer.from([0x0b]), uleb(s.data.length), s.data]);
}

/**
 * Appends an active data segment putting `data` at `address` of memory 0 to
 * a wasm binary (and bumps the data-count section when there is one).
 */
export function addDataSegment(wasm: Uint8Array, address: number, data: Uint8Array): Uint8Array {
  const list = sections(wasm);
  const segment = encodeSegment({ address, data });
  const data11 = list.find((s) => s.id === DATA);
  if (data11) {
    const [count, at] = readUleb(data11.body, 0);
    data11.body = Buffer.concat([uleb(count + 1), data11.body.subarray(at), segment]);
  } else {
    // the data section follows the code section
    const code = list.findIndex((s) => s.id === CODE);
    list.splice(code < 0 ? list.length : code + 1, 0, { id: DATA, body: Buffer.concat([uleb(1), segment]) });
  }
  const dc = list.find((s) => s.id === DATA_COUNT);
  if (dc) dc.body = uleb(readUleb(dc.body, 0)[0] + 1);
  return assemble(wasm, list);
}

/**
 * The data section's segments, or undefined when any is not an active
 * segment of memory 0 at an i32.const address (a passive segment is named by
 * index from memory.init and data.drop: renumbering would break them).
 */
function activeSegments(body: Uint8Array): Segment[] | undefined {
  const [count, start] = readUleb(body, 0);
  const out: Segment[] = [];
  let p = start;
  for (let i = 0; i < count; i++) {
    if (body[p] !== 0x00 || body[p + 1] !== 0x41) return undefined;
    const [address, afterConst] = readSleb(body, p + 2);
    if (body[afterConst] !== 0x0b) return undefined;
    const [n, at] = readUleb(body, afterConst + 1);
    out.push({ address: address >>> 0, data: body.subarray(at, at + n) });
    p = at + n;
  }
  return p === body.length ? out : undefined;
}

/**
 * Merges active segments whose gap is at most `maxGap` bytes into one
 * segment each, the gaps as zeros. Linear memory starts zeroed, so the
 * memory a kernel starts with is the same byte for byte. Segments that
 * overlap, or a data section of another shape, are left as they are.
 */
export function mergeDataSegments(wasm: Uint8Array, maxGap: number): { wasm: Uint8Array; before: number; after: number } {
  const list = sections(wasm);
  const data = list.find((s) => s.id === DATA);
  const segs = data ? activeSegments(data.body) : undefined;
  if (!data || !segs || segs.length < 2) return { wasm, before: segs?.length ?? 0, after: segs?.length ?? 0 };
  const sorted = [...segs].sort((a, b) => a.address - b.address);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].address < sorted[i - 1].address + sorted[i - 1].data.length) return { wasm, before: segs.length, after: segs.length };
  }
  const merged: Segment[] = [];
  let run: Segment[] = [];
  const flush = () => {
    if (run.length === 0) return;
    const first = run[0].address;
    const last = run[run.length - 1];
    const bytes = Buffer.alloc(last.address + last.data.length - first);
    for (const s of run) bytes.set(s.data, s.address - first);
    merged.push({ address: first, data: bytes });
    run = [];
  };
  for (const s of sorted) {
    const prev = run[run.length - 1];
    if (prev && s.address - (prev.address + prev.data.length) > maxGap) flush();
    run.push(s);
  }
  flush();
  data.body = Buffer.concat([uleb(merged.length), ...merged.map(encodeSegment)]);
  const dc = list.find((s) => s.id === DATA_COUNT);
  if (dc) dc.body = uleb(merged.length);
  return { wasm: assemble(wasm, list), before: segs.length, after: merged.length };
}

/** An unsigned LEB128 at `p`: its value and the position after it. */
function readUleb(bytes: Uint8Array, p: number): [number, number] {
  let r = 0;
  for (let shift = 0; p < bytes.length && shift < 35; shift += 7) {
    const b = bytes[p++];
    r += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return [r, p];
  }
  throw new UserError("internal: malformed LEB128 in the kernel's wasm");
}

/** A signed LEB128 (an i32.const) at `p`: its value and the position after it. */
function readSleb(bytes: Uint8Array, p: number): [number, number] {
  let r = 0;
  let shift = 0;
  for (; p < bytes.length && shift < 35; ) {
    const b = bytes[p++];
    r |= (b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) {
      if (shift < 32 && b & 0x40) r |= -1 << shift;
      return [r, p];
    }
  }
  throw new UserError("internal: malformed LEB128 in the kernel's wasm");
}

function uleb(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** A signed LEB128 of an i32 address (i32.const takes signed). */
function sleb(n: number): Buffer {
  n |= 0;
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) {
      out.push(b);
      return Buffer.from(out);
    }
    out.push(b | 0x80);
  }
}
