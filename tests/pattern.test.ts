// apps/httpd's generated data (apps/httpd/pattern.ts) checked against a
// plain reimplementation here: the pattern bytes fillPattern writes (one
// period computed, the rest copied), and the CRC-32 patternCrcOver announces
// (whole 64 KiB blocks from tables, the rest byte by byte) against zlib's
// over the same bytes, for ranges that start and end on and off block
// boundaries, cross the 251-byte period and the 64 KiB high-byte change.
import { crc32 } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { buildSourceWasm, runWasm } from "./helpers/kernel.ts";

const RANGES: [number, number][] = [
  [0, 0], [0, 1], [0, 250], [0, 251], [0, 252], [0, 65535], [0, 65536], [0, 65537], [1, 65536], [65536, 131072],
  [7, 200_003], [65536 * 3, 65536 * 9], [100, 65536 * 5 + 17], [65536 * 255, 65536 * 258 + 5], [0, 5_000_000], [0, 20_000_000],
];

function pattern(from: number, to: number): Buffer {
  const b = Buffer.alloc(to - from);
  for (let i = from; i < to; i++) b[i - from] = (i % 251) ^ ((i >>> 16) & 255);
  return b;
}

const SOURCE = `
import { println } from "../../../kernel/console";
import { fillPattern, patternCrcOver, crc32 } from "../../../apps/httpd/pattern";
const RANGES: u64[] = [${RANGES.flat().join(", ")}];
export function main(): i32 {
const scratch = heap.alloc(16384);
const big = heap.alloc(300000);
for (let i = 0; i < RANGES.length; i += 2) {
  const from = RANGES[i], to = RANGES[i + 1];
  let line = "crc " + from.toString() + " " + to.toString() + " " + patternCrcOver(0, from, to, scratch, 16384).toString();
  // the CRC continued from a start value, in two pieces split off a block boundary
  const mid = from + (to - from) / 3;
  line += " " + patternCrcOver(patternCrcOver(0, from, mid, scratch, 16384), mid, to, scratch, 16384).toString();
  if (to - from <= 300000) {
    fillPattern(big, from, <u32>(to - from));
    line += " fill " + crc32(0, big, <u32>(to - from)).toString();
  }
  println(line);
}
return 0;
}
`;

let out = "";
beforeAll(async () => {
  const r = await runWasm(await buildSourceWasm("pattern-crc", SOURCE));
  expect(r.exitCode, r.output).toBe(0);
  out = r.output;
}, 180_000);

describe("httpd's pattern and its CRC-32", () => {
  it.each(RANGES)("[%i, %i): the CRC announced is zlib's over the pattern's bytes, and fillPattern writes them", (from, to) => {
    const line = out.split("\n").find((l) => l.startsWith(`crc ${from} ${to} `));
    expect(line, out).toBeDefined();
    const [, , , whole, split, , fill] = line!.split(" ");
    const want = String(crc32(pattern(from, to)));
    expect(whole).toBe(want);
    expect(split).toBe(want);
    if (to - from <= 300000) expect(fill).toBe(want);
  });
});
