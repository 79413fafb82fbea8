// The TCP state machine (kernel/net/tcp) driven by literal segments: a test
// kernel (tests/kernels/tcp-script) feeds the hex segments below to one stack and
// prints every segment it sends back, its events and its state. Our ISN is
// fixed at 1000 (so our SYN is seq 1000 and our data starts at 1001); the
// peer's ISN is 5000. Each test walks one state's transitions per RFC 9293
// 3.10 (with RFC 5961 for RST/SYN/ACK validation); the last group feeds
// malformed segments and checks each is counted and answered as the RFCs say.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../tools/paths.ts";
import { buildAppWasm, runWasm } from "./helpers/kernel.ts";
import { goldenOutput } from "./helpers/golden.ts";

let wasm: Uint8Array;
beforeAll(async () => {
  wasm = await buildAppWasm(join(ROOT, "tests/kernels/tcp-script"));
}, 120_000);

const PEER = [10, 0, 0, 2];
const US = [10, 0, 0, 1];

interface Seg {
  sp?: number; dp?: number; seq: number; ack?: number; flags: string; win?: number;
  data?: string; opts?: string; doff?: number; badsum?: boolean;
}

/** A segment from the peer as hex, checksum over the IPv4 pseudo-header (10.0.0.2 -> 10.0.0.1). */
export function seg(o: Seg): string {
  const opts = Buffer.from(o.opts ?? "", "hex");
  const data = Buffer.from(o.data ?? "", "latin1");
  const hl = 20 + opts.length;
  const b = Buffer.alloc(hl + data.length);
  b.writeUInt16BE(o.sp ?? 5555, 0);
  b.writeUInt16BE(o.dp ?? 80, 2);
  b.writeUInt32BE(o.seq >>> 0, 4);
  b.writeUInt32BE((o.ack ?? 0) >>> 0, 8);
  b[12] = ((o.doff ?? hl / 4) & 15) << 4;
  let f = 0;
  for (const c of o.flags) f |= { F: 1, S: 2, R: 4, P: 8, A: 16, U: 32 }[c as "F"]!;
  b[13] = f;
  b.writeUInt16BE(o.win ?? 65535, 14);
  opts.copy(b, 20);
  data.copy(b, hl);
  let sum = PEER[0] * 256 + PEER[1] + PEER[2] * 256 + PEER[3] + US[0] * 256 + US[1] + US[2] * 256 + US[3] + 6 + b.length;
  for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) + (i + 1 < b.length ? b[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  let c = ~sum & 0xffff;
  if (o.badsum) c ^= 0x0101;
  b.writeUInt16BE(c, 16);
  return b.toString("hex");
}

async function run(steps: string[]): Promise<string[]> {
  const r = await runWasm(wasm, { cmdline: steps.join(";") });
  goldenOutput("tcp-state", steps, r.output);
  expect(r.exitCode, r.output).toBe(0);
  return r.output.split("\n").filter((l) => l.length > 0);
}

/** Lines after the step whose text starts with `step` (up to the next step). */
function after(out: string[], step: string, nth = 0): string[] {
  let seen = -1;
  for (let i = 0; i < out.length; i++) {
    if (out[i].startsWith("# " + step) && ++seen === nth) {
      const res: string[] = [];
      for (let j = i + 1; j < out.length && !out[j].startsWith("# "); j++) res.push(out[j]);
      return res;
    }
  }
  throw new Error(`no step ${step}\n${out.join("\n")}`);
}

const MSS = "020405b4";
// Passive open up to ESTABLISHED: peer ISN 5000, ours 1000.
const SYN = seg({ seq: 5000, flags: "S", opts: MSS });
const ACK3 = seg({ seq: 5001, ack: 1001, flags: "A" });
const OPEN = ["listen 80", `in ${SYN}`, `in ${ACK3}`, "state"];

describe("tcp MSS (RFC 6691: MTU - 40, options not counted)", () => {
  // The script's IP layer says 1480 bytes of IP payload (a 1500-byte link); no
  // Nagle, so the short tail goes at once too.
  const lens = (lines: string[]) => lines.filter((l) => l.startsWith(">")).map((l) => Number(/len=(\d+)/.exec(l)![1]));

  it("advertises 1460 on a 1500-byte link and sends full 1460-byte segments", async () => {
    const out = await run(["opt nodelay 1", ...OPEN, "send 3000"]);
    expect(after(out, "in " + SYN.slice(0, 50))[0]).toContain(" mss=1460");
    expect(lens(after(out, "send 3000"))).toEqual([1460, 1460, 80]);
  });

  it("with timestamps, each segment's 12 option bytes come out of the 1460 (1448 of data)", async () => {
    const syn = seg({ seq: 5000, flags: "S", opts: MSS + "0101080a0000100000000000" });
    const ack = seg({ seq: 5001, ack: 1001, flags: "A", opts: "0101080a0000100100000000" });
    const out = await run(["opt ts 1", "opt nodelay 1", "listen 80", `in ${syn}`, `in ${ack}`, "send 3000"]);
    expect(after(out, "in " + syn.slice(0, 50))[0]).toMatch(/ mss=1460 .*ts=/);
    expect(lens(after(out, "send 3000"))).toEqual([1448, 1448, 104]);
  });

  it("a data segment that carries SACK blocks carries that much less data, so it still fits the MTU", async () => {
    const syn = seg({ seq: 5000, flags: "S", opts: MSS + "01010402" });
    const ooo = seg({ seq: 5101, ack: 1001, flags: "PA", data: "hello" }); // 100 bytes missing before it
    const out = await run(["opt nodelay 1", "listen 80", `in ${syn}`, `in ${ACK3}`, `in ${ooo}`, "send 3000"]);
    const sent = after(out, "send 3000").filter((l) => l.startsWith(">"));
    expect(sent[0]).toContain("sack=5101-5106");
    expect(lens(sent)).toEqual([1448, 1448, 104]); // 1460 less one block (4 + 8 bytes)
  });

  it("a peer's smaller MSS wins", async () => {
    const syn = seg({ seq: 5000, flags: "S", opts: "02040218" }); // 536
    const out = await run(["opt nodelay 1", "listen 80", `in ${syn}`, `in ${ACK3}`, "send 1200"]);
    expect(lens(after(out, "send 1200"))).toEqual([536, 536, 128]);
  });
});

describe("tcp state machine: LISTEN and SYN-RECEIVED", () => {
  it("answers a SYN with a SYN-ACK, completes on the ACK, and accepts", async () => {
    const out = await run(OPEN);
    expect(after(out, "in " + SYN.slice(0, 50))).toEqual(["> S. seq=1000 ack=5001 win=8192 len=0 mss=1460"]);
    expect(after(out, "in " + ACK3.slice(0, 50))).toEqual(["event accepted"]);
    expect(after(out, "state")).toEqual(["state ESTABLISHED conns=1"]);
  });

  it("LISTEN: a RST is ignored, an ACK draws a RST, a segment without SYN is dropped", async () => {
    const rst = seg({ seq: 1, flags: "R" });
    const ack = seg({ seq: 7, ack: 4242, flags: "A" });
    const fin = seg({ seq: 7, flags: "F" });
    const out = await run(["listen 80", `in ${rst}`, `in ${ack}`, `in ${fin}`, "counters"]);
    expect(after(out, "in " + rst.slice(0, 50))).toEqual([]);
    expect(after(out, "in " + ack.slice(0, 50))).toEqual(["> R seq=4242 ack=0 win=0 len=0"]);
    expect(after(out, "in " + fin.slice(0, 50))).toEqual([]);
    expect(out).toContain("tcp.dropBadFlags=1");
  });

  it("SYN-RECEIVED: retransmits the SYN-ACK on timeout, gives up after the retries", async () => {
    const out = await run(["listen 80", `in ${SYN}`, "wait 1100", "wait 2100", "wait 200000", "counters"]);
    expect(after(out, "wait 1100")).toEqual(["> S. seq=1000 ack=5001 win=8192 len=0 mss=1460"]);
    expect(after(out, "wait 2100")).toEqual(["> S. seq=1000 ack=5001 win=8192 len=0 mss=1460"]);
    expect(out).toContain("tcp.synAckRetransmits=5");
    expect(out).toContain("tcp.timeouts=1");
  });

  it("SYN-RECEIVED: an unacceptable ACK draws a RST; a RST ends the half-open connection", async () => {
    const bad = seg({ seq: 5001, ack: 999, flags: "A" });
    const rst = seg({ seq: 5001, flags: "R" });
    const out = await run(["listen 80", `in ${SYN}`, `in ${bad}`, `in ${rst}`, "counters"]);
    expect(after(out, "in " + bad.slice(0, 50))).toEqual(["> R seq=999 ack=0 win=0 len=0"]);
    expect(after(out, "in " + rst.slice(0, 50))).toEqual([]);
    expect(out).toContain("tcp.rstAccepted=1");
    expect(out).toContain("tcp.closed=1");
  });

  it("a full SYN backlog answers with SYN cookies, and a cookie ACK completes the handshake", async () => {
    const syns = [0, 1, 2, 3, 4].map((i) => seg({ sp: 6000 + i, seq: 9000 + i * 100, flags: "S", opts: MSS }));
    const out = await run(["listen 80", ...syns.map((s) => `in ${s}`), "counters"]);
    const fifth = after(out, "in " + syns[4].slice(0, 50));
    expect(fifth.length).toBe(1);
    const m = /^> S\. seq=(\d+) ack=9401 win=8192 len=0 mss=1460$/.exec(fifth[0]);
    expect(m, fifth[0]).not.toBeNull();
    expect(out).toContain("tcp.cookiesSent=1");
    const cookie = Number(m![1]);
    const ack = seg({ sp: 6004, seq: 9401, ack: (cookie + 1) >>> 0, flags: "A" });
    const forged = seg({ sp: 6004, seq: 9401, ack: (cookie + 2) >>> 0, flags: "A" });
    const out2 = await run(["listen 80", ...syns.map((s) => `in ${s}`), `in ${forged}`, `in ${ack}`, "counters"]);
    expect(after(out2, "in " + forged.slice(0, 50))).toEqual([`> R seq=${(cookie + 2) >>> 0} ack=0 win=0 len=0`]);
    expect(after(out2, "in " + ack.slice(0, 50))).toEqual(["event accepted"]);
    expect(out2).toContain("tcp.cookiesAccepted=1");
    expect(out2).toContain("tcp.cookiesRejected=1");
  });
});

describe("tcp SYN cookies: the window the cookie's SYN-ACK offered", () => {
  // The script's listener has a backlog of 4: the fifth SYN is answered with a cookie.
  const syns = [0, 1, 2, 3, 4].map((i) => seg({ sp: 6000 + i, seq: 9000 + i * 100, flags: "S", opts: MSS }));
  async function cookie(): Promise<number> {
    const out = await run(["listen 80", ...syns.map((s) => `in ${s}`)]);
    const m = /^> S\. seq=(\d+) ack=9401 win=8192 /.exec(after(out, "in " + syns[4].slice(0, 50))[0]);
    return Number(m![1]);
  }
  const REQ = "GET / HTTP/1.0\r\n\r\n";

  it("data on the handshake's last ACK is taken at once", async () => {
    const c = await cookie();
    const ack = seg({ sp: 6004, seq: 9401, ack: (c + 1) >>> 0, flags: "PA", data: REQ });
    const out = await run(["listen 80", ...syns.map((s) => `in ${s}`), `in ${ack}`, "counters"]);
    const got = after(out, "in " + ack.slice(0, 50));
    expect(got).toContain(`> . seq=${(c + 1) >>> 0} ack=${9401 + REQ.length} win=${8192 - REQ.length} len=0`);
    expect(got).toContain("event accepted");
    expect(got).toContain(`event readable ${REQ.length}`);
    expect(out).not.toContain("tcp.dropOutOfWindow=1");
  });

  it("the first data segment right after a bare ACK is taken at once", async () => {
    const c = await cookie();
    const ack = seg({ sp: 6004, seq: 9401, ack: (c + 1) >>> 0, flags: "A" });
    const data = seg({ sp: 6004, seq: 9401, ack: (c + 1) >>> 0, flags: "PA", data: REQ });
    const out = await run(["listen 80", ...syns.map((s) => `in ${s}`), `in ${ack}`, `in ${data}`, "counters"]);
    expect(after(out, "in " + ack.slice(0, 50))).toEqual(["event accepted"]);
    const got = after(out, "in " + data.slice(0, 50));
    expect(got).toContain(`> . seq=${(c + 1) >>> 0} ack=${9401 + REQ.length} win=${8192 - REQ.length} len=0`);
    expect(got).toContain(`event readable ${REQ.length}`);
    expect(out).not.toContain("tcp.dropOutOfWindow=1");
  });
});

describe("tcp RTT from the handshake (RFC 6298: the first RTO follows the path)", () => {
  // 100 ms between our SYN-ACK and the peer's ACK: SRTT 100 ms, RTTVAR 50 ms,
  // RTO = 100 + 4 * 50 = 300 ms (not the initial 1 s, nor the 200 ms floor).
  const data = (out: string[], step: string) => after(out, step).filter((l) => /^> P\. seq=1001 .*len=10/.test(l)).length;

  it("without timestamps: the SYN-ACK's send time", async () => {
    const out = await run(["listen 80", `in ${SYN}`, "wait 100", `in ${ACK3}`, "send 10", "wait 290", "wait 20"]);
    expect(data(out, "send 10")).toBe(1);
    expect(data(out, "wait 290")).toBe(0);
    expect(data(out, "wait 20")).toBe(1); // the retransmission, at 300 ms
  });

  it("with timestamps: the echo of the SYN-ACK's timestamp", async () => {
    const syn = seg({ seq: 5000, flags: "S", opts: MSS + "0101080a0000100000000000" });
    // (A while after boot: the script's timestamp clock starts at 0, and a zero echo means none.)
    const first = await run(["opt ts 1", "listen 80", "wait 7", `in ${syn}`]);
    const tsv = Number(/ ts=(\d+),/.exec(after(first, "in " + syn.slice(0, 50))[0])![1]);
    const ack = seg({ seq: 5001, ack: 1001, flags: "A", opts: "0101080a00001064" + (tsv >>> 0).toString(16).padStart(8, "0") });
    const out = await run(["opt ts 1", "listen 80", "wait 7", `in ${syn}`, "wait 100", `in ${ack}`, "send 10", "wait 290", "wait 20"]);
    expect(data(out, "send 10")).toBe(1);
    expect(data(out, "wait 290")).toBe(0);
    expect(data(out, "wait 20")).toBe(1);
  });

  it("a retransmitted SYN-ACK without timestamps gives no sample (Karn): the RTO stays backed off", async () => {
    const out = await run(["listen 80", `in ${SYN}`, "wait 1100", `in ${ACK3}`, "send 10", "wait 1500"]);
    expect(after(out, "wait 1100")[0]).toMatch(/^> S\. /);
    expect(data(out, "wait 1500")).toBe(0); // 2 s after the back-off, not 300 ms
  });
});

describe("tcp state machine: the memory limit", () => {
  // A half-open connection reserves its first buffer (2 KiB) at its SYN; 3000 bytes hold one, not two.
  it("a SYN that would pass the memory limit is not answered; once the first is established (and holds nothing) the retry is", async () => {
    const syn2 = seg({ sp: 5556, seq: 7000, flags: "S", opts: MSS });
    const ack2 = seg({ sp: 5556, seq: 7001, ack: 1001, flags: "A" });
    const out = await run(["listen 80", "opt memlimit 3000", `in ${SYN}`, `in ${syn2}`, "counters", `in ${ACK3}`, "mem", `in ${syn2}`, `in ${ack2}`, "counters"]);
    expect(after(out, "in " + SYN.slice(0, 50))).toEqual(["> S. seq=1000 ack=5001 win=8192 len=0 mss=1460"]);
    expect(after(out, "in " + syn2.slice(0, 50), 0)).toEqual([]);
    expect(after(out, "counters", 0)).toContain("tcp.memoryRefused=1");
    expect(after(out, "in " + ACK3.slice(0, 50))).toEqual(["event accepted"]);
    expect(after(out, "mem")).toEqual(["mem 0"]); // established and idle: no ring memory, the reservation returned
    expect(after(out, "in " + syn2.slice(0, 50), 1)).toEqual(["> S. seq=1000 ack=7001 win=8192 len=0 mss=1460"]);
    expect(after(out, "in " + ack2.slice(0, 50))).toEqual(["event accepted"]);
    expect(after(out, "counters", 1)).toContain("tcp.memoryRefused=1");
  });

  it("a half-open connection that gives up returns its reservation", async () => {
    const syn2 = seg({ sp: 5556, seq: 7000, flags: "S", opts: MSS });
    const out = await run(["listen 80", "opt memlimit 3000", `in ${SYN}`, "wait 200000", "mem", `in ${syn2}`, "counters"]);
    expect(after(out, "mem")).toEqual(["mem 0"]);
    expect(after(out, "in " + syn2.slice(0, 50))).toEqual(["> S. seq=1000 ack=7001 win=8192 len=0 mss=1460"]);
    expect(out).not.toContain("tcp.memoryRefused=1");
  });
});

describe("tcp buffers: rings that grow with the data they hold and go back when empty", () => {
  it("an idle connection holds no ring memory; data takes a block sized to it; reading and acknowledgment give it back", async () => {
    const data = seg({ seq: 5001, ack: 1001, flags: "PA", data: "hello" });
    const big = seg({ seq: 5006, ack: 1001, flags: "PA", data: "x".repeat(1400) });
    const ackAll = seg({ seq: 5006 + 1400, ack: 1101, flags: "A" });
    const out = await run([...OPEN, "mem", `in ${data}`, "mem", `in ${big}`, "mem", "read", "mem", "send 100", "mem", `in ${ackAll}`, "mem"]);
    const mems = out.filter((l) => l.startsWith("mem ")).map((l) => Number(l.slice(4)));
    // idle 0; 5 bytes in a 256-byte block; 1405 bytes in a 2 KiB block (grown, contents moved); read: 0;
    // 100 bytes queued to send: 256; acknowledged: 0
    expect(mems).toEqual([0, 256, 2048, 0, 256, 0]);
    expect(after(out, "read")).toEqual(["read 1405"]);
  });

  it("a connection whose unread data would eat into the headroom offers a shrinking window, then stops growing, and a new handshake is still answered", async () => {
    // limit 18000: the last 2250 bytes are for first buffers, so a ring can grow to 8 KiB but not 16 KiB
    const segs: string[] = [];
    for (let k = 0; k < 7; k++) segs.push(seg({ seq: 5001 + k * 1300, ack: 1001, flags: "PA", data: String.fromCharCode(97 + k).repeat(1300) }));
    const syn2 = seg({ sp: 5556, seq: 7000, flags: "S", opts: MSS });
    const out = await run(["opt rcvbuf 16384", "opt memlimit 18000", ...OPEN, ...segs.map((x) => `in ${x}`), "mem", "counters", `in ${syn2}`, "mem"]);
    // the window offers what an 8 KiB ring still holds, not the 16 KiB configured
    const ackAfter = (l: string) => after(out, "in " + l.slice(0, 50)).find((x) => x.startsWith(">"));
    expect(ackAfter(segs[0])).toBe("> . seq=1001 ack=6301 win=6892 len=0");
    expect(ackAfter(segs[5])).toBe("> . seq=1001 ack=12801 win=392 len=0");
    // a peer that sends past it anyway: dropped for memory (it resends), and told the window again
    expect(after(out, "in " + segs[6].slice(0, 50))).toEqual(["> . seq=1001 ack=12801 win=392 len=0"]);
    expect(after(out, "mem", 0)).toEqual(["mem 8192"]);
    expect(after(out, "counters")).toContain("tcp.rcvDropNoMemory=1");
    // the new SYN finds its first buffer in the headroom
    expect(after(out, "in " + syn2.slice(0, 50))).toEqual(["> S. seq=1000 ack=7001 win=16384 len=0 mss=1460"]);
    expect(after(out, "mem", 1)).toEqual([`mem ${8192 + 2048}`]);
  });

  it("while the pool is past half full, a ring that holds a quarter of its block or less moves to a smaller one", async () => {
    const segs: string[] = [];
    for (let k = 0; k < 5; k++) segs.push(seg({ seq: 5001 + k * 1300, ack: 1001, flags: "PA", data: String.fromCharCode(97 + k).repeat(1300) }));
    // limit 18000: an 8 KiB ring is past half of the 15,750 bytes growing rings may use
    const out = await run(["opt rcvbuf 16384", "opt memlimit 18000", ...OPEN, ...segs.map((x) => `in ${x}`), "mem", "read 6000", "mem", "readtext", "mem"]);
    expect(out.filter((l) => l.startsWith("mem ")).map((l) => Number(l.slice(4)))).toEqual([8192, 1024, 0]); // 500 bytes left: a 1 KiB block
    // the 500 bytes left (the end of the fifth segment) came through the move intact
    expect(after(out, "readtext")).toEqual(["text " + "e".repeat(500)]);
    const noPressure = await run(["opt rcvbuf 16384", ...OPEN, ...segs.map((x) => `in ${x}`), "read 6000", "mem"]);
    expect(after(noPressure, "mem")).toEqual(["mem 8192"]); // with room to spare, no move
  });

  it("a send that finds no memory at all takes nothing and hears writable when memory comes back", async () => {
    const data = seg({ seq: 5001, ack: 1001, flags: "PA", data: "d".repeat(1300) });
    const syn2 = seg({ sp: 5556, seq: 7000, flags: "S", opts: MSS });
    const ack2 = seg({ sp: 5556, seq: 7001, ack: 1001, flags: "A" });
    const syn3 = seg({ sp: 5557, seq: 9000, flags: "S", opts: MSS });
    const rst3 = seg({ sp: 5557, seq: 9001, flags: "R" });
    // 4300 bytes: the first connection's 2 KiB ring and a half-open connection's 2 KiB reservation leave 204
    const out = await run(["opt memlimit 4300", "listen 80", `in ${SYN}`, `in ${ACK3}`, `in ${data}`, `in ${syn2}`, `in ${ack2}`, `in ${syn3}`, "mem", "send 100", `in ${rst3}`, "send 100", "counters"]);
    expect(after(out, "mem")).toEqual(["mem 4096"]);
    expect(after(out, "send 100", 0)).toEqual(["sent 0"]);
    expect(after(out, "in " + rst3.slice(0, 50))).toEqual(["event writable"]); // the reservation came back
    // (its window offers only the 1 KiB block the nearly full pool could still give its receive ring)
    expect(after(out, "send 100", 1)).toEqual(["> P. seq=1001 ack=7001 win=1024 len=100", "sent 100"]);
    expect(after(out, "counters")).toContain("tcp.sndMemoryWaits=1");
  });
});

describe("tcp state machine: SYN-SENT", () => {
  const SYNACK = seg({ sp: 5555, dp: 40000, seq: 5000, ack: 1001, flags: "SA", opts: MSS });
  it("sends a SYN with our options and completes on the SYN-ACK", async () => {
    const out = await run(["opt ts 1", "connect 5555 40000", `in ${seg({ sp: 5555, dp: 40000, seq: 5000, ack: 1001, flags: "SA", opts: MSS + "0402080a0000006400000000" + "01030307" })}`, "state"]);
    expect(after(out, "connect")).toEqual(["> S seq=1000 ack=0 win=8192 len=0 mss=1460 ws=0 sackok ts=0,0"]);
    expect(after(out, "in ")).toEqual(["> . seq=1001 ack=5001 win=8192 len=0 ts=0,100", "event connected", "event writable"]);
    expect(after(out, "state")).toEqual(["state ESTABLISHED conns=1"]);
  });
  it("a RST with an acceptable ACK refuses; without ACK, or a bad ACK, it is ignored", async () => {
    const rstNoAck = seg({ sp: 5555, dp: 40000, seq: 0, flags: "R" });
    const rstBadAck = seg({ sp: 5555, dp: 40000, seq: 0, ack: 5, flags: "RA" });
    const rst = seg({ sp: 5555, dp: 40000, seq: 0, ack: 1001, flags: "RA" });
    const out = await run(["connect 5555 40000", `in ${rstNoAck}`, `in ${rstBadAck}`, "state", `in ${rst}`, "state"]);
    expect(after(out, "in " + rstNoAck.slice(0, 50))).toEqual([]);
    expect(after(out, "in " + rstBadAck.slice(0, 50))).toEqual([]);
    expect(after(out, "state", 0)).toEqual(["state SYN-SENT conns=1"]);
    expect(after(out, "in " + rst.slice(0, 50))).toEqual(["event error refused"]);
    expect(after(out, "state", 1)).toEqual(["state CLOSED conns=0"]);
  });
  it("an ACK of something we never sent draws a RST", async () => {
    const bad = seg({ sp: 5555, dp: 40000, seq: 5000, ack: 77, flags: "SA" });
    const out = await run(["connect 5555 40000", `in ${bad}`, "state"]);
    expect(after(out, "in ")).toEqual(["> R seq=77 ack=0 win=0 len=0"]);
    expect(after(out, "state")).toEqual(["state SYN-SENT conns=1"]);
  });
  it("simultaneous open: a SYN in SYN-SENT goes to SYN-RECEIVED with a SYN-ACK, then ESTABLISHED", async () => {
    const syn = seg({ sp: 5555, dp: 40000, seq: 5000, flags: "S", opts: MSS });
    const ack = seg({ sp: 5555, dp: 40000, seq: 5001, ack: 1001, flags: "A" });
    const out = await run(["opt ws 0", "opt sack 0", "connect 5555 40000", `in ${syn}`, "state", `in ${ack}`, "state"]);
    expect(after(out, "in " + syn.slice(0, 50))).toEqual(["> S. seq=1000 ack=5001 win=8192 len=0 mss=1460"]);
    expect(after(out, "state", 0)).toEqual(["state SYN-RECEIVED conns=1"]);
    expect(after(out, "state", 1)).toEqual(["state ESTABLISHED conns=1"]);
  });
  it("retransmits the SYN with back-off (1 s, then 2 s) and times out", async () => {
    const out = await run(["opt ws 0", "opt sack 0", "connect 5555 40000", "wait 999", "wait 2", "wait 1998", "wait 2", "wait 300000", "state"]);
    expect(after(out, "wait 999")).toEqual([]);
    expect(after(out, "wait 2", 0)).toEqual(["> S seq=1000 ack=0 win=8192 len=0 mss=1460"]);
    expect(after(out, "wait 1998")).toEqual([]);
    expect(after(out, "wait 2", 1)).toEqual(["> S seq=1000 ack=0 win=8192 len=0 mss=1460"]);
    expect(after(out, "wait 300000").at(-1)).toBe("event error timed-out");
  });
});

describe("tcp state machine: ESTABLISHED", () => {
  it("acknowledges data (quick ACKs first, then delayed), and RST/SYN validation per RFC 5961", async () => {
    const d1 = seg({ seq: 5001, ack: 1001, flags: "PA", data: "hello" });
    const d2 = seg({ seq: 5006, ack: 1001, flags: "PA", data: "world" });
    const old = seg({ seq: 4000, ack: 1001, flags: "A", data: "x" });
    const rstIn = seg({ seq: 5100, flags: "R" });
    const synIn = seg({ seq: 5011, flags: "S" });
    const rstExact = seg({ seq: 5011, flags: "R" });
    const out = await run(["opt quickacks 1", ...OPEN, `in ${d1}`, `in ${d2}`, "wait 50", `in ${old}`, `in ${rstIn}`, `in ${synIn}`, "state", `in ${rstExact}`, "state", "counters"]);
    // quick ACK of a short segment: once the app has had its turn (its answer would have carried it)
    expect(after(out, "in " + d1.slice(0, 50))).toEqual(["event readable 5", "> . seq=1001 ack=5006 win=8187 len=0"]);
    expect(after(out, "in " + d2.slice(0, 50))).toEqual(["event readable 10"]);
    expect(after(out, "wait 50")).toEqual(["> . seq=1001 ack=5011 win=8182 len=0"]); // the delayed ACK, 40 ms later
    expect(after(out, "in " + old.slice(0, 50))).toEqual(["> . seq=1001 ack=5011 win=8182 len=0"]); // out of window: ACK
    expect(after(out, "in " + rstIn.slice(0, 50))).toEqual(["> . seq=1001 ack=5011 win=8182 len=0"]); // challenge ACK
    expect(after(out, "in " + synIn.slice(0, 50))).toEqual(["> . seq=1001 ack=5011 win=8182 len=0"]); // challenge ACK
    expect(after(out, "state", 1)).toEqual(["state ESTABLISHED conns=1"]);
    expect(after(out, "in " + rstExact.slice(0, 50))).toEqual(["event error reset"]);
    expect(after(out, "state", 2)).toEqual(["state CLOSED conns=0"]);
    expect(out).toContain("tcp.challengeAcks=2");
    expect(out).toContain("tcp.dropOutOfWindow=1");
  });

  it("quick-ACK mode: an answer the app writes carries the ACK of a short request (no pure ACK first); a full segment is ACKed at once", async () => {
    const req = seg({ seq: 5001, ack: 1001, flags: "PA", data: "GET / HTTP/1.1\r\n\r\n" });
    const full = seg({ seq: 5019, ack: 1019, flags: "A", data: "x".repeat(1460) });
    const out = await run(["opt nodelay 1", "opt echo 1", ...OPEN, `in ${req}`, `in ${full}`, "counters"]);
    expect(after(out, "in " + req.slice(0, 50))).toEqual(["event readable 18", "> P. seq=1001 ack=5019 win=8174 len=18"]);
    const f = after(out, "in " + full.slice(0, 50));
    expect(f[0]).toBe("> . seq=1019 ack=6479 win=6714 len=0"); // before the app hears of it
    expect(f[1]).toBe("event readable 1460");
    expect(out).not.toContain("tcp.delayedAcks=1");
  });

  it("after an RTO rewinds SND.NXT, a pure ACK still carries the highest sequence number sent (an older one would be dropped unread)", async () => {
    const old = seg({ seq: 4000, ack: 1001, flags: "A" }); // below RCV.NXT: answered with an ACK
    const out = await run(["opt nodelay 1", ...OPEN, "send 3000", "wait 210", `in ${old}`]);
    expect(after(out, "send 3000").filter((l) => l.startsWith(">")).length).toBe(3); // 1001..4001 in flight
    expect(after(out, "wait 210")).toEqual(["> . seq=1001 ack=5001 win=8192 len=1460"]); // go-back-N from SND.UNA
    expect(after(out, "in " + old.slice(0, 50))).toEqual(["> . seq=4001 ack=5001 win=8192 len=0"]);
  });

  it("sends data, retransmits it on RTO, and takes ACKs; an ACK above SND.NXT is challenged", async () => {
    const ackAll = seg({ seq: 5001, ack: 1101, flags: "A" });
    const ackFuture = seg({ seq: 5001, ack: 9999, flags: "A" });
    const out = await run([...OPEN, "send 100", "wait 201", `in ${ackFuture}`, `in ${ackAll}`, "wait 5000", "counters"]);
    expect(after(out, "send 100")).toEqual(["> P. seq=1001 ack=5001 win=8192 len=100", "sent 100"]);
    expect(after(out, "wait 201")).toEqual(["> P. seq=1001 ack=5001 win=8192 len=100"]);
    expect(after(out, "in " + ackFuture.slice(0, 50))).toEqual(["> . seq=1101 ack=5001 win=8192 len=0"]);
    expect(after(out, "in " + ackAll.slice(0, 50))).toEqual([]); // writable fires only after a short write
    expect(after(out, "wait 5000")).toEqual([]); // nothing outstanding: no more retransmissions
    expect(out).toContain("tcp.rtoExpirations=1");
    expect(out).toContain("tcp.dropBadAck=1");
  });

  it("holds out-of-order data, SACKs it, and delivers it when the hole fills", async () => {
    const syn = seg({ seq: 5000, flags: "S", opts: MSS + "01010402" });
    const d2 = seg({ seq: 5006, ack: 1001, flags: "A", data: "world" });
    const d1 = seg({ seq: 5001, ack: 1001, flags: "A", data: "hello" });
    const out = await run(["listen 80", `in ${syn}`, `in ${ACK3}`, `in ${d2}`, `in ${d1}`, "read"]);
    expect(after(out, "in " + syn.slice(0, 50))).toEqual(["> S. seq=1000 ack=5001 win=8192 len=0 mss=1460 sackok"]);
    expect(after(out, "in " + d2.slice(0, 50))).toEqual(["> . seq=1001 ack=5001 win=8192 len=0 sack=5006-5011"]);
    expect(after(out, "in " + d1.slice(0, 50))).toEqual(["> . seq=1001 ack=5011 win=8182 len=0", "event readable 10"]);
    expect(after(out, "read")).toEqual(["read 10"]);
  });

  it("zero window: probes with the persist timer until the window opens", async () => {
    const zero = seg({ seq: 5001, ack: 1001, flags: "A", win: 0 });
    const open = seg({ seq: 5001, ack: 1001, flags: "A", win: 1000 });
    const out = await run([...OPEN, `in ${zero}`, "send 10", "wait 250", "wait 500", `in ${open}`, "counters"]);
    expect(after(out, "send 10")).toEqual(["sent 10"]);
    expect(after(out, "wait 250")).toEqual(["> . seq=1000 ack=5001 win=8192 len=0"]);
    expect(after(out, "wait 500")).toEqual(["> . seq=1000 ack=5001 win=8192 len=0"]);
    expect(after(out, "in " + open.slice(0, 50))).toEqual(["> P. seq=1001 ack=5001 win=8192 len=10"]);
    expect(out).toContain("tcp.zeroWindowProbes=2");
  });

  it("a small open window whose update was lost: the persist timer sends what fits (RFC 1122 4.2.3.4's override)", async () => {
    // The peer's window shrinks to 1000 (under one MSS and under half its largest), and the
    // update that would reopen it never comes: sender SWS avoidance holds the data, nothing
    // is in flight, so no ACK will arrive; the persist timer must send into the window.
    const small = seg({ seq: 5001, ack: 1001, flags: "A", win: 1000 });
    const acked = seg({ seq: 5001, ack: 2001, flags: "A", win: 1000 });
    const out = await run([...OPEN, `in ${small}`, "send 3000", "wait 250", `in ${acked}`, "wait 500", "counters"]);
    expect(after(out, "send 3000")).toEqual(["sent 3000"]);
    expect(after(out, "wait 250")).toEqual(["> . seq=1001 ack=5001 win=8192 len=1000"]);
    expect(after(out, "wait 500")).toEqual(["> . seq=2001 ack=5001 win=8192 len=1000"]);
    expect(out).toContain("tcp.smallWindowSends=2");
    expect(out).not.toContain("tcp.zeroWindowProbes");
  });

  it("Nagle holds a small segment while data is unacknowledged; no-delay sends it", async () => {
    const out = await run([...OPEN, "send 10", "send 10", "state"]);
    expect(after(out, "send 10", 0)).toEqual(["> P. seq=1001 ack=5001 win=8192 len=10", "sent 10"]);
    expect(after(out, "send 10", 1)).toEqual(["sent 10"]);
    const out2 = await run(["opt nodelay 1", ...OPEN, "send 10", "send 10"]);
    expect(after(out2, "send 10", 1)).toEqual(["> P. seq=1011 ack=5001 win=8192 len=10", "sent 10"]);
  });

  it("keep-alive probes an idle peer and drops it after the probes go unanswered", async () => {
    const out = await run(["opt keepalive 1", ...OPEN, "wait 10001", "wait 1000", "wait 1000", "wait 1000", "wait 1000", "counters"]);
    expect(after(out, "wait 10001")).toEqual(["> . seq=1000 ack=5001 win=8192 len=0"]);
    expect(after(out, "wait 1000", 1)).toEqual(["> . seq=1000 ack=5001 win=8192 len=0"]);
    expect(after(out, "wait 1000", 2)).toEqual(["> . seq=1000 ack=5001 win=8192 len=0"]);
    expect(after(out, "wait 1000", 3)).toEqual(["> R. seq=1001 ack=5001 win=0 len=0", "event error timed-out"]);
    expect(out).toContain("tcp.keepaliveDrops=1");
  });
});

describe("tcp state machine: closing", () => {
  const FIN = seg({ seq: 5001, ack: 1001, flags: "FA" });
  it("peer closes first: CLOSE-WAIT, then our close sends FIN (LAST-ACK), its ACK ends it", async () => {
    const ackFin = seg({ seq: 5002, ack: 1002, flags: "A" });
    const out = await run([...OPEN, `in ${FIN}`, "state", "read", "close", "state", `in ${ackFin}`, "state"]);
    expect(after(out, "in " + FIN.slice(0, 50))).toEqual(["> . seq=1001 ack=5002 win=8191 len=0", "event readable 0 fin"]);
    expect(after(out, "state", 1)).toEqual(["state CLOSE-WAIT conns=1"]);
    expect(after(out, "read")).toEqual(["read -1"]);
    expect(after(out, "close")).toEqual(["> F. seq=1001 ack=5002 win=8191 len=0"]);
    expect(after(out, "state", 2)).toEqual(["state LAST-ACK conns=1"]);
    expect(after(out, "in " + ackFin.slice(0, 50))).toEqual(["event closed"]);
    expect(after(out, "state", 3)).toEqual(["state CLOSED conns=0"]);
  });

  it("we close first: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, then CLOSED after 2 MSL", async () => {
    const ackFin = seg({ seq: 5001, ack: 1002, flags: "A" });
    const fin = seg({ seq: 5001, ack: 1002, flags: "FA" });
    const out = await run([...OPEN, "close", "state", `in ${ackFin}`, "state", `in ${fin}`, "state", `in ${fin}`, "wait 2001", "state"]);
    expect(after(out, "close")).toEqual(["> F. seq=1001 ack=5001 win=8192 len=0"]);
    expect(after(out, "state", 1)).toEqual(["state FIN-WAIT-1 conns=1"]);
    expect(after(out, "state", 2)).toEqual(["state FIN-WAIT-2 conns=1"]);
    expect(after(out, "in " + fin.slice(0, 50), 0)).toEqual(["> . seq=1002 ack=5002 win=8191 len=0", "event readable 0 fin", "event closed"]);
    expect(after(out, "state", 3)).toEqual(["state TIME-WAIT conns=1"]);
    expect(after(out, "in " + fin.slice(0, 50), 1)).toEqual(["> . seq=1002 ack=5002 win=8191 len=0"]); // a retransmitted FIN is ACKed again
    expect(after(out, "state", 4)).toEqual(["state CLOSED conns=0"]);
  });

  it("simultaneous close: FIN-WAIT-1 -> CLOSING -> TIME-WAIT", async () => {
    const finNoAck = seg({ seq: 5001, ack: 1001, flags: "FA" });
    const ackFin = seg({ seq: 5002, ack: 1002, flags: "A" });
    const out = await run([...OPEN, "close", `in ${finNoAck}`, "state", `in ${ackFin}`, "state"]);
    expect(after(out, "state", 1)).toEqual(["state CLOSING conns=1"]);
    expect(after(out, "state", 2)).toEqual(["state TIME-WAIT conns=1"]);
  });

  it("half-close: after our FIN we still receive data", async () => {
    const ackFin = seg({ seq: 5001, ack: 1002, flags: "A" });
    const data = seg({ seq: 5001, ack: 1002, flags: "PA", data: "more" });
    const out = await run([...OPEN, "close", `in ${ackFin}`, `in ${data}`, "read"]);
    expect(after(out, "in " + data.slice(0, 50))).toContain("event readable 4");
    expect(after(out, "read")).toEqual(["read 4"]);
  });

  it("FIN-WAIT-2 gives up on a peer that never closes", async () => {
    const ackFin = seg({ seq: 5001, ack: 1002, flags: "A" });
    const out = await run([...OPEN, "close", `in ${ackFin}`, "wait 5001", "state"]);
    expect(after(out, "wait 5001")).toContain("event error timed-out");
    expect(after(out, "state", 1)).toEqual(["state CLOSED conns=0"]);
  });

  it("TIME-WAIT is reused by a newer SYN (RFC 6191) with a higher ISN", async () => {
    const fin = seg({ seq: 5001, ack: 1002, flags: "FA" });
    const syn2 = seg({ seq: 9000, flags: "S", opts: MSS });
    const out = await run([...OPEN, "close", `in ${fin}`, "state", `in ${syn2}`, "counters"]);
    expect(after(out, "state", 1)).toEqual(["state TIME-WAIT conns=1"]);
    expect(after(out, "in " + syn2.slice(0, 50))).toEqual([`> S. seq=${1002 + 131072} ack=9001 win=8192 len=0 mss=1460`]);
    expect(out).toContain("tcp.timeWaitReused=1");
  });

  it("abort sends a RST and closes at once", async () => {
    const out = await run([...OPEN, "send 5", "abort", "state"]);
    expect(after(out, "abort")).toEqual(["> R. seq=1006 ack=5001 win=0 len=0"]);
    expect(after(out, "state", 1)).toEqual(["state CLOSED conns=0"]);
  });
});

describe("tcp bad input: counted, answered per the RFCs, never a trap", () => {
  it("drops each malformed class and keeps the connection working", async () => {
    const bad = {
      synfin: seg({ seq: 5001, ack: 1001, flags: "SF" }),
      synrst: seg({ seq: 5001, ack: 1001, flags: "SR" }),
      nullflags: seg({ seq: 5001, ack: 1001, flags: "" }),
      doffTooBig: seg({ seq: 5001, ack: 1001, flags: "A", doff: 15 }),
      doffTooSmall: seg({ seq: 5001, ack: 1001, flags: "A", doff: 3 }),
      optLenLies: seg({ seq: 5001, ack: 1001, flags: "A", opts: "0228000000000000" }),
      optLenZero: seg({ seq: 5001, ack: 1001, flags: "A", opts: "08000000" }),
      mssWrongLen: seg({ seq: 5001, ack: 1001, flags: "A", opts: "02050000" }),
      sackOdd: seg({ seq: 5001, ack: 1001, flags: "A", opts: "01010507000000000000" }),
      checksum: seg({ seq: 5001, ack: 1001, flags: "A", badsum: true }),
      truncated: seg({ seq: 5001, ack: 1001, flags: "A" }).slice(0, 30),
      finNoAck: seg({ seq: 5001, flags: "F" }),
      outOfWindow: seg({ seq: 5001 + 100000, ack: 1001, flags: "A", data: "zz" }),
      unknownOpt: seg({ seq: 5001, ack: 1001, flags: "PA", opts: "fe04abcd", data: "ok" }),
    };
    const steps = [...OPEN, ...Object.values(bad).map((h) => `in ${h}`), "state", "read", "counters"];
    const out = await run(steps);
    expect(after(out, "state", 1)).toEqual(["state ESTABLISHED conns=1"]);
    expect(after(out, "read")).toEqual(["read 2"]); // only the well-formed segment's data
    expect(out).toContain("tcp.dropBadFlags=4"); // SYN+FIN, SYN+RST, no flags, FIN without ACK
    expect(out).toContain("tcp.dropBadHeaderLen=2");
    expect(out).toContain("tcp.dropBadOption=4");
    expect(out).toContain("tcp.dropBadChecksum=1");
    expect(out).toContain("tcp.dropTruncated=1");
    expect(out).toContain("tcp.dropOutOfWindow=1");
    expect(out).toContain("tcp.unknownOptions=1");
    expect(after(out, "in " + bad.outOfWindow.slice(0, 50))).toEqual(["> . seq=1001 ack=5001 win=8192 len=0"]);
  });

  it("data to a closed port draws a RST (RFC 9293 3.10.7.1), a RST to it draws nothing", async () => {
    const data = seg({ dp: 81, seq: 100, ack: 200, flags: "PA", data: "hi" });
    const syn = seg({ dp: 81, seq: 100, flags: "S" });
    const rst = seg({ dp: 81, seq: 100, flags: "R" });
    const out = await run(["listen 80", `in ${data}`, `in ${syn}`, `in ${rst}`, "counters"]);
    expect(after(out, "in " + data.slice(0, 50))).toEqual(["> R seq=200 ack=0 win=0 len=0"]);
    expect(after(out, "in " + syn.slice(0, 50))).toEqual(["> R. seq=0 ack=101 win=0 len=0"]);
    expect(after(out, "in " + rst.slice(0, 50))).toEqual([]);
    expect(out).toContain("tcp.dropNoSocket=3");
  });

  it("PAWS drops a segment with an old timestamp and ACKs it", async () => {
    const syn = seg({ seq: 5000, flags: "S", opts: MSS + "0101080a0000100000000000" });
    const ack = seg({ seq: 5001, ack: 1001, flags: "A", opts: "0101080a0000100100000000" });
    const old = seg({ seq: 5001, ack: 1001, flags: "PA", opts: "0101080a0000000100000000", data: "old" });
    const out = await run(["opt ts 1", "listen 80", `in ${syn}`, `in ${ack}`, `in ${old}`, "counters"]);
    expect(after(out, "in " + old.slice(0, 50))).toEqual(["> . seq=1001 ack=5001 win=8192 len=0 ts=0,4097"]);
    expect(out).toContain("tcp.dropPaws=1");
  });

  it("challenge ACKs are rate-limited", async () => {
    const rsts = [1, 2, 3, 4].map((i) => seg({ seq: 5001 + i, flags: "R" }));
    const out = await run(["opt challenge 2", ...OPEN, ...rsts.map((r) => `in ${r}`), "counters"]);
    expect(out).toContain("tcp.challengeAcks=2");
    expect(out).toContain("tcp.challengeAcksLimited=2");
  });
});
