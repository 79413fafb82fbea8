// The TCP wire view (kernel/net/wire/tcp.ts) on literal segments: each
// parses to the expected fields and emits back byte-for-byte (options in
// Linux's order); every lying length is an error value, never a trap.
import { beforeAll, describe, expect, it } from "vitest";
import { buildSourceWasm, runWasm } from "./helpers/kernel.ts";

const SRC = `
import { cmdline } from "../../../kernel/hal";
import { println } from "../../../kernel/console";
import { TcpRepr } from "../../../kernel/net/wire/tcp";
import { WireError, wireErrorName } from "../../../kernel/net/wire/error";
const IN = heap.alloc(4096);
const OUT = heap.alloc(4096);
function hv(c: i32): i32 { return c <= 57 ? c - 48 : c - 87; }
export function main(): i32 {
  const line = heap.alloc(8192);
  const h = String.UTF8.decodeUnsafe(line, cmdline(line, 8192));
  let n: u32 = 0;
  for (let k = 0; k + 1 < h.length; k += 2) store<u8>(IN + n++, <u8>((hv(h.charCodeAt(k)) << 4) | hv(h.charCodeAt(k + 1))));
  const r = new TcpRepr();
  const e = r.parse(IN, n, 0xc0a80001, 0xc0a80002, true);
  if (e != WireError.Ok) { println("error=" + wireErrorName(e)); return 0; }
  println("ports=" + r.srcPort.toString() + "," + r.dstPort.toString() + " seq=" + r.seq.toString() + " ack=" + r.ack.toString() +
    " flags=" + r.flags.toString() + " win=" + r.window.toString() + " hl=" + r.headerLen.toString() + " plen=" + r.payloadLen.toString());
  let o = "mss=" + r.mss.toString() + " ws=" + r.wscale.toString() + " sackok=" + (r.sackPermitted ? "1" : "0");
  if (r.hasTimestamp) o += " ts=" + r.tsVal.toString() + "," + r.tsEcr.toString();
  for (let i = 0; i < r.sackCount; i++) o += " sack=" + r.sackLeft[i].toString() + "-" + r.sackRight[i].toString();
  println(o + " unknown=" + r.unknownOptions.toString());
  // Emit from the representation alone, payload copied behind the new header.
  const hl = 20 + r.optionsLen();
  memory.copy(OUT + hl, IN + r.payloadOff, r.payloadLen);
  const len = r.emit(OUT, 0xc0a80001, 0xc0a80002, true);
  let s = "";
  const d = "0123456789abcdef";
  for (let i: u32 = 0; i < len; i++) { const b = load<u8>(OUT + i); s += d.charAt(b >> 4) + d.charAt(b & 15); }
  println("emit=" + s);
  return 0;
}`;

let wasm: Uint8Array;
beforeAll(async () => {
  wasm = await buildSourceWasm("tcp-wire", SRC);
}, 120_000);

const SRCIP = [192, 168, 0, 1], DSTIP = [192, 168, 0, 2];
/** Fills in the checksum of a segment given as hex with 0000 in the checksum field. */
function withSum(hex: string): string {
  const b = Buffer.from(hex.replace(/\s+/g, ""), "hex");
  b.writeUInt16BE(0, 16);
  let sum = SRCIP[0] * 256 + SRCIP[1] + SRCIP[2] * 256 + SRCIP[3] + DSTIP[0] * 256 + DSTIP[1] + DSTIP[2] * 256 + DSTIP[3] + 6 + b.length;
  for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) + (i + 1 < b.length ? b[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(~sum & 0xffff, 16);
  return b.toString("hex");
}

async function parse(hex: string) {
  const r = await runWasm(wasm, { cmdline: hex });
  expect(r.exitCode, r.output).toBe(0);
  return r.output.trim().split("\n");
}

// A SYN as Linux 6.x sends it: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
const LINUX_SYN = withSum(`a0c4 0050 3b9aca00 00000000 a002 faf0 0000 0000
  020405b4 0402 080a 0012d687 00000000 01 030307`);
// A SYN-ACK with the same options answering it.
const LINUX_SYNACK = withSum(`0050 a0c4 77359400 3b9aca01 a012 fe88 0000 0000
  020405b4 0402 080a 0a0b0c0d 0012d687 01 030307`);
// An ACK with timestamps and two SACK blocks (NOP NOP TS, NOP NOP SACK).
const SACK_ACK = withSum(`0050 a0c4 77359401 3b9ad000 d010 01f5 0000 0000
  0101080a 0a0b0c0e 0012d690 0101 0512 3b9ad5b4 3b9adb68 3b9ae11c 3b9ae6d0`);
// Data with PSH: 5 bytes of payload, options NOP NOP TS.
const DATA = withSum(`a0c4 0050 3b9aca01 77359401 8018 01f6 0000 0000 0101080a 0012d688 0a0b0c0d 68656c6c6f`);

describe("tcp wire: literal segments round-trip", () => {
  it("a Linux SYN", async () => {
    const out = await parse(LINUX_SYN);
    expect(out[0]).toBe("ports=41156,80 seq=1000000000 ack=0 flags=2 win=64240 hl=40 plen=0");
    expect(out[1]).toBe("mss=1460 ws=7 sackok=1 ts=1234567,0 unknown=0");
    expect(out[2]).toBe("emit=" + LINUX_SYN);
  });
  it("a SYN-ACK", async () => {
    const out = await parse(LINUX_SYNACK);
    expect(out[0]).toBe("ports=80,41156 seq=2000000000 ack=1000000001 flags=18 win=65160 hl=40 plen=0");
    expect(out[2]).toBe("emit=" + LINUX_SYNACK);
  });
  it("an ACK with SACK blocks", async () => {
    const out = await parse(SACK_ACK);
    expect(out[1]).toBe("mss=0 ws=-1 sackok=0 ts=168496142,1234576 sack=1000002996-1000004456 sack=1000005916-1000007376 unknown=0");
    expect(out[2]).toBe("emit=" + SACK_ACK);
  });
  it("a data segment", async () => {
    const out = await parse(DATA);
    expect(out[0]).toBe("ports=41156,80 seq=1000000001 ack=2000000001 flags=24 win=502 hl=32 plen=5");
    expect(out[2]).toBe("emit=" + DATA);
  });
});

describe("tcp wire: lies are errors", () => {
  const base = "a0c4 0050 3b9aca00 00000000 %DOFF 02 faf0 0000 0000 ";
  const mk = (doff: string, opts: string, extra = "") => withSum(base.replace("%DOFF", doff) + opts + extra);
  const cases: [string, string, string][] = [
    ["shorter than a header", withSum("a0c4 0050 3b9aca00 00000000 5002 faf0 0000 0000").slice(0, 36), "truncated"],
    ["data offset below 5", mk("40", ""), "bad-header-len"],
    ["data offset past the end", mk("f0", ""), "bad-header-len"],
    ["option length past the options", mk("60", "0208 0000"), "bad-option"],
    ["option length 0", mk("60", "0800 0000"), "bad-option"],
    ["option length 1", mk("60", "0801 0000"), "bad-option"],
    ["kind without length byte", mk("60", "0101 0102"), "bad-option"],
    ["MSS of length 3", mk("60", "0203 0000"), "bad-option"],
    ["window scale of length 4", mk("60", "0304 0700"), "bad-option"],
    ["SACK-permitted of length 3", mk("60", "0403 0000"), "bad-option"],
    ["timestamp of length 8", mk("80", "0808 000000000000 00000000"), "bad-option"],
    ["SACK with a partial block", mk("80", "0506 00000000 0000 00000000"), "bad-option"],
    ["SACK with five blocks", mk("f0", "052a" + "00".repeat(40)), "bad-option"],
    ["bad checksum", (() => { const s = mk("50", ""); return s.slice(0, 32) + "dead" + s.slice(36); })(), "bad-checksum"],
  ];
  for (const [name, hex, err] of cases) {
    it(name, async () => {
      expect(await parse(hex.replace(/\s+/g, ""))).toEqual([`error=${err}`]);
    });
  }
  it("skips unknown options by their length and stops at EOL; window scale above 14 reads as 14", async () => {
    const out = await parse(mk("80", "fe06 aabbccdd 030310 00 0000"));
    expect(out[1]).toBe("mss=0 ws=14 sackok=0 unknown=1");
  });
});
