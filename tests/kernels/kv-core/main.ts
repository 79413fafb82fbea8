// Test kernel for tests/kv-core.test.ts: one apps/kv session fed literal
// bytes, no network. `in<k>=<hex>` (k = 0..15) arrive at `t<k>=<ms>`, each
// in pieces of `chunk=` bytes; `room=` is the output room per round;
// `maxmemory=`, `policy=lru`, `maxbulk=` configure the server; `sweep=1` runs
// the active expiry after each step. Prints the replies as hex (`out=`),
// `closed=0|1` and `keys=<n> used=<bytes> expired=<n> evicted=<n>`.
import { println, cmdlineArg } from "../../../index";
import { hex, unhex } from "../common/hex";
import { KvConfig, KvServer, Policy } from "../../../apps/kv/commands";
import { KvSession } from "../../../apps/kv/session";
import { KvOutput } from "../../../apps/kv/reply";

const CAP: u32 = 16 << 20;

class BufferOutput extends KvOutput {
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


export function main(): i32 {
  const cfg = new KvConfig();
  cfg.maxmemory = U64.parseInt(cmdlineArg("maxmemory", "0"));
  cfg.policy = cmdlineArg("policy", "noeviction") == "lru" ? Policy.AllKeysLru : Policy.NoEviction;
  cfg.limits.maxBulk = <u32>U64.parseInt(cmdlineArg("maxbulk", cfg.limits.maxBulk.toString()));
  const chunk = <u32>I32.parseInt(cmdlineArg("chunk", "1000000000"));
  const room = <u32>I32.parseInt(cmdlineArg("room", CAP.toString()));
  const sweep = cmdlineArg("sweep", "0") == "1";
  const server = new KvServer(cfg, 0);
  const out = new BufferOutput();
  out.budget = room;
  const s = new KvSession(server, out);
  const input = heap.alloc(CAP);
  for (let k = 0; k < 16 && !s.done; k++) {
    const inHex = cmdlineArg("in" + k.toString(), "");
    const now = U64.parseInt(cmdlineArg("t" + k.toString(), "0"));
    const n = unhex(inHex, input);
    // the receive buffer: what arrived and was not consumed yet
    let start: u32 = 0;
    let arrived: u32 = 0;
    for (let round = 0; round < 10000000 && !s.done; round++) {
      if (arrived < n) arrived = min<u32>(n, arrived + chunk);
      else if (start == arrived) break;
      start += s.input(input + start, arrived - start, now);
      if (arrived == n && start < arrived && out.budget > 0 && s.ready) {
        // nothing more will arrive: what is left must be a partial command
        const before = start;
        start += s.input(input + start, arrived - start, now);
        if (start == before) break;
      }
      out.budget = room; // the peer reads its replies
    }
    if (sweep) server.store.sweepExpired(now, 20, 16);
  }
  println("out=" + hex(out.buf, out.len));
  println("closed=" + (out.closed ? "1" : "0"));
  const st = server.store;
  println("keys=" + st.count.toString() + " used=" + st.used.toString() + " expired=" + st.expired.toString() + " evicted=" + st.evicted.toString());
  return 0;
}
