// Test kernel for tests/http-core.test.ts: one HTTP session (apps/http)
// fed literal bytes, no network. The command line gives the input as hex
// (`in=`), the size of the pieces it arrives in (`chunk=`), the room the
// output offers per writable call (`room=`), limits (`hdr=`, `hdrs=`,
// `uri=`, `body=`) and a time at which to run the time-outs (`tick=<µs>`);
// the kernel prints what the session wrote as hex (`out=`) and `closed=0|1`.
import { println, cmdlineArg } from "../../../index";
import { hex, unhex } from "../common/hex";
import { HttpConfig, HttpOutput, HttpSession, HttpStats } from "../../../apps/http/session";

const CAP: u32 = 8 << 20;

class BufferOutput extends HttpOutput {
  buf: usize = heap.alloc(CAP);
  len: u32 = 0;
  budget: u32 = 0;
  closed: bool = false;
  room(): u32 { return this.budget; }
  write(p: usize, n: u32): void {
    assert(this.len + n <= CAP, "test output full");
    memory.copy(this.buf + this.len, p, n);
    this.len += n;
    this.budget = n > this.budget ? 0 : this.budget - n;
  }
  close(): void { this.closed = true; }
}


function num(key: string, def: u32): u32 { return <u32>I32.parseInt(cmdlineArg(key, def.toString())); }

export function main(): i32 {
  const inHex = cmdlineArg("in", "");
  const input = heap.alloc(inHex.length / 2 + 1);
  const n = unhex(inHex, input);
  const cfg = new HttpConfig();
  cfg.limits.headerBytes = num("hdr", cfg.limits.headerBytes);
  cfg.limits.headerCount = num("hdrs", cfg.limits.headerCount);
  cfg.limits.uriBytes = num("uri", cfg.limits.uriBytes);
  cfg.limits.bodyBytes = num("body", cfg.limits.bodyBytes);
  cfg.log = cmdlineArg("log", "0") == "1";
  const chunk = max<u32>(1, num("chunk", n + 1));
  const room = num("room", CAP);
  const out = new BufferOutput();
  out.budget = room;
  const stats = new HttpStats();
  const s = new HttpSession(out, cfg, stats, 0);
  // the connection's receive buffer: what arrived and was not consumed yet
  let start: u32 = 0;
  let arrived: u32 = 0;
  let now: u64 = 1000;
  while (!s.done) {
    if (arrived < n) arrived = min<u32>(n, arrived + chunk);
    else if (s.ready) break;
    now += 10;
    start += s.input(input + start, arrived - start, now);
    // the peer reads: the output gets room again until the body is out
    for (let k = 0; k < 100000 && !s.ready && !s.done; k++) {
      out.budget = room;
      s.writable(now);
      if (s.ready && start < arrived) start += s.input(input + start, arrived - start, now);
    }
  }
  const tick = cmdlineArg("tick", "");
  if (tick.length > 0) s.tick(now + <u64>I64.parseInt(tick));
  println("out=" + hex(out.buf, out.len));
  println("consumed=" + start.toString() + " closed=" + (out.closed ? "1" : "0"));
  stats.print();
  return 0;
}
