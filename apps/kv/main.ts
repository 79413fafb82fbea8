// kv: a Redis-compatible key-value server (RESP2 on port 6379): strings with
// expiry, a memory limit with eviction, pipelining, inline commands. See
// commands.ts for the commands and their replies.
//
// Command line (all optional):
//   port=6379  maxmemory=<bytes, or with k/kb/m/mb/g/gb>  policy=noeviction|allkeys-lru
//   maxvalue=<bytes> (the largest value or argument, Redis's proto-max-bulk-len; default 8mb)
//   samples=5 (keys sampled per eviction)  max_conns=10000  run=<s> (stop after s seconds)
// plus the network's ip=/gw=/dns= (DHCP otherwise). Counters at exit.

import { Net, App, Service, Handler, Connection, Bytes, Kernel, Task, args, println, MS, SEC, textBytes } from "uniwasm";
import { KvConfig, KvServer, Policy, parseSize } from "./commands";
import { KvOutput } from "./reply";
import { KvSession } from "./session";

/** Replies stop being produced while this much is queued unsent. */
const SOFT_QUEUE: u32 = 256 * 1024;

const cfg = new KvConfig();
let server: KvServer | null = null;
let maxConns: u32 = 10000;

class ConnectionOutput extends KvOutput {
  private view: Bytes = new Bytes();
  constructor(readonly c: Connection) { super(); }
  room(): u32 { return this.c.queued >= SOFT_QUEUE ? 0 : SOFT_QUEUE - this.c.queued; }
  write(p: usize, n: u32): void {
    this.view.ptr = p;
    this.view.length = n;
    if (!this.c.write(this.view)) this.c.abort(); // out of memory for the queue: this client goes, the others stay
  }
  close(): void { this.c.close(); }
}

class KvHandler extends Handler {
  session: KvSession | null = null;
  onConnected(c: Connection): void {
    // any one reply fits (the largest value and then some); production stops at SOFT_QUEUE
    c.queueLimit = cfg.limits.maxBulk + SOFT_QUEUE + 65536;
    c.setNoDelay(true);
    this.session = new KvSession(server!, new ConnectionOutput(c));
  }
  onData(c: Connection, data: Bytes): u32 {
    return this.session!.input(data.ptr, data.length, Kernel.now() / 1000000);
  }
  onClosed(c: Connection, error: i32): void {
    this.session!.ended();
  }
}

class KvService extends Service {
  accept(c: Connection): Handler | null {
    const s = server!;
    if (s.connected >= maxConns) {
      s.stats.rejected++;
      return null;
    }
    return new KvHandler();
  }
}

/** Redis's active expiry: 10 times a second, sample keys with a TTL and drop the expired. */
class ExpireCycle extends Task {
  constructor() { super("kv-expire"); }
  run(): void {
    server!.store.sweepExpired(Kernel.now() / 1000000, 20, 16);
    Kernel.after(100 * MS, this);
  }
}

class Stop extends Task {
  constructor() { super("kv-run"); }
  run(): void { Kernel.exit(0); }
}

class KvApp extends App {
  onUp(net: Net): void {
    if (!net.serve(cfg.port, new KvService())) { Kernel.fail("port " + cfg.port.toString() + " is taken"); return; }
    println("kv: " + net.describe() + ": port " + cfg.port.toString() + ", maxmemory " + cfg.maxmemory.toString() +
      " (" + (cfg.policy == Policy.AllKeysLru ? "allkeys-lru" : "noeviction") + "), values up to " + cfg.limits.maxBulk.toString() + " bytes");
  }
}

/** A size argument ("100mb"); `def` when absent; a bad one ends the app with its name. */
function sizeArg(name: string, def: u64): u64 {
  if (!args.has(name)) return def;
  const text = args.str(name);
  const b = textBytes(text);
  const v = parseSize(b.ptr, b.length);
  if (v < 0) { Kernel.fail("argument " + name + "=" + text + ": expected bytes, or a size such as 100mb or 1gb", 2); return def; }
  return <u64>v;
}

export function main(): i32 {
  cfg.port = args.u32("port", 6379);
  cfg.maxmemory = sizeArg("maxmemory", 0);
  cfg.policy = args.oneOf("policy", ["noeviction", "allkeys-lru"], "noeviction") == "allkeys-lru" ? Policy.AllKeysLru : Policy.NoEviction;
  cfg.limits.maxBulk = <u32>min<u64>(sizeArg("maxvalue", 8 << 20), 512 << 20);
  cfg.samples = max<u32>(1, args.u32("samples", 5));
  maxConns = args.u32("max_conns", 10000);
  const run = args.u32("run", 0);
  if (Kernel.exiting) return Kernel.code;
  // Whatever maxmemory says, the keyspace may not take the machine's last
  // memory: writes are refused (OOM) before an allocation could fail.
  cfg.hardLimit = Kernel.memoryLimit / 4 * 3;
  const now = Kernel.now() / 1000000;
  server = new KvServer(cfg, now);
  Net.up(new KvApp());
  Kernel.after(100 * MS, new ExpireCycle());
  if (run > 0) Kernel.after(<u64>run * SEC, new Stop());
  const code = Kernel.run();
  const s = server!;
  println("kv: connections " + s.stats.connections.toString() + " (rejected " + s.stats.rejected.toString() + "), commands " + s.stats.commands.toString() +
    ", keys " + s.store.count.toString() + ", used_memory " + s.store.used.toString() + ", expired " + s.store.expired.toString() +
    ", evicted " + s.store.evicted.toString() + ", protocol errors " + s.stats.protocolErrors.toString());
  return code;
}
