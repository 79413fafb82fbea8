// The commands, with Redis 7.0's replies and error texts (checked against
// Debian's redis-server by tests/kv-qemu.test.ts). One KvServer holds the
// keyspace, the settings and the counters; `execute` runs one parsed
// command and encodes its reply. Names are compared in place, so running a
// command allocates nothing (INFO, CONFIG and COMMAND, which build text, are
// not on the hot path).

import { RespLimits, RespParser, parseLL, parsedLL } from "./resp";
import { Reply } from "./reply";
import { Store } from "./store";

export const enum Policy { NoEviction = 0, AllKeysLru = 1 }

export class KvConfig {
  /** Bytes the keyspace may hold (0: no limit but `hardLimit`). */
  maxmemory: u64 = 0;
  policy: Policy = Policy.NoEviction;
  /** Keys sampled per eviction (Redis: maxmemory-samples). */
  samples: u32 = 5;
  /** What the machine can hold at all: writes beyond it are refused like maxmemory (0: none). */
  hardLimit: u64 = 0;
  limits: RespLimits = new RespLimits();
  port: u32 = 6379;
}

export class KvStats {
  connections: u64 = 0;
  rejected: u64 = 0;
  commands: u64 = 0;
  hits: u64 = 0;
  misses: u64 = 0;
  protocolErrors: u64 = 0;
  inputBytes: u64 = 0;
}

/** What a command needs to know about its connection. */
export class KvClient {
  name: string = "";
  id: u64 = 0;
  /** Close after this reply (QUIT). */
  quit: bool = false;
}

const OOM = "OOM command not allowed when used memory > 'maxmemory'.";
const NOT_INT = "ERR value is not an integer or out of range";
const SYNTAX = "ERR syntax error";

// The table COMMAND reports: name, arity, flags, first key, last key, step.
const NAMES: string[] = ["ping", "echo", "get", "set", "del", "exists", "incr", "decr", "incrby", "decrby", "mget", "mset",
  "expire", "pexpire", "ttl", "pttl", "dbsize", "flushall", "info", "quit", "command", "client", "config", "select"];
// NAMES' indices, so a command is dispatched by number, not by comparing strings.
const enum Cmd { Ping = 0, Echo = 1, Get = 2, Set = 3, Del = 4, Exists = 5, Incr = 6, Decr = 7, Incrby = 8, Decrby = 9, Mget = 10, Mset = 11, Expire = 12, Pexpire = 13, Ttl = 14, Pttl = 15, Dbsize = 16, Flushall = 17, Info = 18, Quit = 19, Command = 20, Client = 21, Config = 22, Select = 23 }
const ARITY: i32[] = [-1, 2, 2, -3, -2, -2, 2, 2, 3, 3, -2, -3, -3, -3, 2, 2, 1, -1, -1, -1, -1, -2, -2, 2];
const FIRST: i32[] = [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0];
const LAST: i32[] = [0, 0, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0];
const STEP: i32[] = [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0];
const WRITE: bool[] = [false, false, false, true, true, false, true, true, true, true, false, true, true, true, false, false, false, true, false, false, false, false, false, false];
const DENYOOM: bool[] = [false, false, false, true, false, false, true, true, true, true, false, true, false, false, false, false, false, false, false, false, false, false, false, false];

@inline function lower(c: u32): u32 { return c - 65 < 26 ? c | 32 : c; }

/** Whether [p, p+n) is `s` (lower-case ASCII) in any case. */
function is(p: usize, n: u32, s: string): bool {
  if (<i32>n != s.length) return false;
  for (let i: u32 = 0; i < n; i++) if (lower(load<u8>(p + i)) != <u32>s.charCodeAt(i)) return false;
  return true;
}

export class KvServer {
  readonly store: Store = new Store();
  readonly stats: KvStats = new KvStats();
  private startMs: u64;

  constructor(readonly cfg: KvConfig, nowMs: u64) {
    this.startMs = nowMs;
  }

  /** The command's index in NAMES, or -1. */
  private lookup(p: usize, n: u32): i32 {
    for (let i = 0; i < NAMES.length; i++) if (is(p, n, unchecked(NAMES[i]))) return i;
    return -1;
  }

  /** Runs the parsed command `c`, its reply into `r`. */
  execute(c: RespParser, r: Reply, client: KvClient, now: u64): void {
    this.stats.commands++;
    const argc = c.argc;
    const cmd = this.lookup(c.argPtr(0), c.argLen(0));
    if (cmd < 0) { this.unknown(c, r); return; }
    const arity = unchecked(ARITY[cmd]);
    if ((arity > 0 && <i32>argc != arity) || <i32>argc < -arity) { this.wrongArgs(r, unchecked(NAMES[cmd])); return; }
    if (unchecked(DENYOOM[cmd]) && !this.makeRoom()) { r.error(OOM); return; }
    const s = this.store;
    if (cmd == Cmd.Get) {
      const e = s.find(c.argPtr(1), c.argLen(1), now);
      if (e == 0) { this.stats.misses++; r.nil(); return; }
      this.stats.hits++;
      r.bulk(Store.valPtr(e), Store.valLen(e));
    } else if (cmd == Cmd.Set) this.set(c, r, now);
    else if (cmd == Cmd.Ping) {
      if (argc > 2) this.wrongArgs(r, "ping");
      else if (argc == 2) r.bulk(c.argPtr(1), c.argLen(1));
      else r.simple("PONG");
    } else if (cmd == Cmd.Incr) this.incrBy(c, r, 1, now);
    else if (cmd == Cmd.Decr) this.incrBy(c, r, -1, now);
    else if (cmd == Cmd.Incrby || cmd == Cmd.Decrby) {
      if (!parseLL(c.argPtr(2), c.argLen(2))) { r.error(NOT_INT); return; }
      if (cmd == Cmd.Decrby && parsedLL == i64.MIN_VALUE) { r.error("ERR decrement would overflow"); return; }
      this.incrBy(c, r, cmd == Cmd.Decrby ? -parsedLL : parsedLL, now);
    } else if (cmd == Cmd.Mget) {
      r.array(argc - 1);
      for (let i: u32 = 1; i < argc; i++) {
        const e = s.find(c.argPtr(i), c.argLen(i), now);
        if (e == 0) { this.stats.misses++; r.nil(); }
        else { this.stats.hits++; r.bulk(Store.valPtr(e), Store.valLen(e)); }
      }
    } else if (cmd == Cmd.Mset) {
      if ((argc & 1) == 0) { this.wrongArgs(r, "mset"); return; }
      for (let i: u32 = 1; i < argc; i += 2) s.set(c.argPtr(i), c.argLen(i), c.argPtr(i + 1), c.argLen(i + 1), 0, false, now);
      r.ok();
    } else if (cmd == Cmd.Del || cmd == Cmd.Exists) {
      let k: i64 = 0;
      for (let i: u32 = 1; i < argc; i++) {
        if (cmd == Cmd.Del ? s.del(c.argPtr(i), c.argLen(i), now) : s.find(c.argPtr(i), c.argLen(i), now) != 0) k++;
      }
      r.integer(k);
    } else if (cmd == Cmd.Echo) r.bulk(c.argPtr(1), c.argLen(1));
    else if (cmd == Cmd.Expire) this.expire(c, r, 1000, "expire", now);
    else if (cmd == Cmd.Pexpire) this.expire(c, r, 1, "pexpire", now);
    else if (cmd == Cmd.Ttl || cmd == Cmd.Pttl) {
      const e = s.find(c.argPtr(1), c.argLen(1), now);
      if (e == 0) { r.integer(-2); return; }
      const at = Store.expireAt(e);
      if (at == 0) { r.integer(-1); return; }
      const left = <i64>(at - now);
      r.integer(cmd == Cmd.Ttl ? (left + 500) / 1000 : left);
    } else if (cmd == Cmd.Dbsize) r.integer(s.count);
    else if (cmd == Cmd.Flushall) {
      if (argc > 2 || (argc == 2 && !is(c.argPtr(1), c.argLen(1), "async") && !is(c.argPtr(1), c.argLen(1), "sync"))) { r.error(SYNTAX); return; }
      s.flush();
      r.ok();
    } else if (cmd == Cmd.Select) {
      if (!parseLL(c.argPtr(1), c.argLen(1))) { r.error(NOT_INT); return; }
      if (parsedLL != 0) { r.error("ERR DB index is out of range"); return; }
      r.ok();
    } else if (cmd == Cmd.Quit) {
      client.quit = true;
      r.ok();
    } else if (cmd == Cmd.Info) this.info(c, r, now);
    else if (cmd == Cmd.Command) this.command(c, r);
    else if (cmd == Cmd.Client) this.clientCmd(c, r, client);
    else if (cmd == Cmd.Config) this.config(c, r);
  }

  /**
   * Before a command that may add memory: under the limit, or brought under
   * it by eviction (allkeys-lru); false means the OOM error (noeviction, or
   * nothing left to evict).
   */
  private makeRoom(): bool {
    const s = this.store;
    const limit = this.limit();
    if (limit == 0) return true;
    while (<u64>s.used > limit) {
      if (this.cfg.policy != Policy.AllKeysLru || !s.evictOne(this.cfg.samples)) return false;
    }
    return true;
  }

  private limit(): u64 {
    const m = this.cfg.maxmemory;
    const h = this.cfg.hardLimit;
    if (m == 0) return h;
    return h == 0 ? m : min(m, h);
  }

  private unknown(c: RespParser, r: Reply): void {
    // ERR unknown command 'x', with args beginning with: 'a' 'b' (each argument up to 128 bytes, as Redis)
    r.text("-ERR unknown command '").bytes(c.argPtr(0), min<u32>(c.argLen(0), 128)).text("', with args beginning with: ");
    for (let i: u32 = 1; i < c.argc; i++) r.text("'").bytes(c.argPtr(i), min<u32>(c.argLen(i), 128)).text("' ");
    r.crlf();
  }

  private wrongArgs(r: Reply, name: string): void {
    r.text("-ERR wrong number of arguments for '").text(name).text("' command").crlf();
  }

  // SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | KEEPTTL]
  private set(c: RespParser, r: Reply, now: u64): void {
    let nx = false, xx = false, get = false, keep = false;
    let unit: u64 = 0; // 1000 for EX, 1 for PX
    let ttlArg: u32 = 0;
    for (let i: u32 = 3; i < c.argc; i++) {
      const p = c.argPtr(i);
      const n = c.argLen(i);
      if (is(p, n, "nx") && !xx) nx = true;
      else if (is(p, n, "xx") && !nx) xx = true;
      else if (is(p, n, "get")) get = true;
      else if (is(p, n, "keepttl") && unit == 0) keep = true;
      else if ((is(p, n, "ex") || is(p, n, "px")) && unit == 0 && !keep && i + 1 < c.argc) {
        unit = is(p, n, "ex") ? 1000 : 1;
        ttlArg = ++i;
      } else { r.error(SYNTAX); return; }
    }
    let at: u64 = 0;
    if (unit != 0) {
      if (!parseLL(c.argPtr(ttlArg), c.argLen(ttlArg))) { r.error(NOT_INT); return; }
      const v = parsedLL;
      if (v <= 0 || (unit == 1000 && v > i64.MAX_VALUE / 1000) || <u64>v * unit > <u64>i64.MAX_VALUE - now) { r.error("ERR invalid expire time in 'set' command"); return; }
      at = now + <u64>v * unit;
    }
    const s = this.store;
    const kp = c.argPtr(1);
    const kl = c.argLen(1);
    const old = s.find(kp, kl, now);
    if (get) {
      if (old == 0) r.nil();
      else r.bulk(Store.valPtr(old), Store.valLen(old)); // written before the value changes
    }
    if ((nx && old != 0) || (xx && old == 0)) {
      if (!get) r.nil();
      return;
    }
    s.set(kp, kl, c.argPtr(2), c.argLen(2), at, keep, now);
    if (!get) r.ok();
  }

  private incrBy(c: RespParser, r: Reply, by: i64, now: u64): void {
    const s = this.store;
    const kp = c.argPtr(1);
    const kl = c.argLen(1);
    const e = s.find(kp, kl, now);
    let v: i64 = 0;
    if (e != 0) {
      if (!parseLL(Store.valPtr(e), Store.valLen(e))) { r.error(NOT_INT); return; }
      v = parsedLL;
    }
    if ((by < 0 && v < 0 && by < i64.MIN_VALUE - v) || (by > 0 && v > 0 && by > i64.MAX_VALUE - v)) {
      r.error("ERR increment or decrement would overflow");
      return;
    }
    v += by;
    // the new value's digits, in the reply buffer's number encoder's way
    const tmp = NUMBUF;
    let u: u64 = v < 0 ? <u64>(0 - v) : <u64>v;
    let n: u32 = 0;
    do { store<u8>(tmp + 31 - n++, <u8>(48 + u % 10)); u /= 10; } while (u > 0);
    if (v < 0) store<u8>(tmp + 31 - n++, 45);
    // in place where the entry has room (the digits rarely grow): one lookup, not two
    if (e == 0 || !s.replace(e, tmp + 32 - n, n)) s.set(kp, kl, tmp + 32 - n, n, 0, true, now);
    r.integer(v);
  }

  // EXPIRE key seconds [NX | XX | GT | LT]
  private expire(c: RespParser, r: Reply, unit: i64, name: string, now: u64): void {
    let nx = false, xx = false, gt = false, lt = false;
    for (let i: u32 = 3; i < c.argc; i++) {
      const p = c.argPtr(i);
      const n = c.argLen(i);
      if (is(p, n, "nx")) nx = true;
      else if (is(p, n, "xx")) xx = true;
      else if (is(p, n, "gt")) gt = true;
      else if (is(p, n, "lt")) lt = true;
      else { r.text("-ERR Unsupported option ").bytes(p, n).crlf(); return; }
    }
    if (nx && (xx || gt || lt)) { r.error("ERR NX and XX, GT or LT options at the same time are not compatible"); return; }
    if (gt && lt) { r.error("ERR GT and LT options at the same time are not compatible"); return; }
    if (!parseLL(c.argPtr(2), c.argLen(2))) { r.error(NOT_INT); return; }
    let when = parsedLL;
    if (when > i64.MAX_VALUE / unit || when < i64.MIN_VALUE / unit) { r.text("-ERR invalid expire time in '").text(name).text("' command").crlf(); return; }
    when *= unit;
    if (when > i64.MAX_VALUE - <i64>now) { r.text("-ERR invalid expire time in '").text(name).text("' command").crlf(); return; }
    when += <i64>now;
    const s = this.store;
    const e = s.find(c.argPtr(1), c.argLen(1), now);
    if (e == 0) { r.integer(0); return; }
    const cur = Store.expireAt(e);
    // no expiry counts as an infinite one for GT and LT
    if ((nx && cur != 0) || (xx && cur == 0) || (gt && (cur == 0 || <u64>when <= cur)) || (lt && cur != 0 && <u64>when >= cur)) {
      r.integer(0);
      return;
    }
    if (when <= <i64>now) {
      s.del(c.argPtr(1), c.argLen(1), now);
      r.integer(1);
      return;
    }
    s.setExpire(e, <u64>when);
    r.integer(1);
  }

  private info(c: RespParser, r: Reply, now: u64): void {
    const all = c.argc == 1 || is(c.argPtr(1), c.argLen(1), "all") || is(c.argPtr(1), c.argLen(1), "everything") || is(c.argPtr(1), c.argLen(1), "default");
    let text = "";
    for (let k = 0; k < 5; k++) {
      const section = k == 0 ? "server" : k == 1 ? "clients" : k == 2 ? "memory" : k == 3 ? "stats" : "keyspace";
      let asked = all;
      for (let i: u32 = 1; i < c.argc && !asked; i++) if (is(c.argPtr(i), c.argLen(i), section)) asked = true;
      if (!asked) continue;
      if (text.length > 0) text += "\r\n";
      text += this.section(k, now);
    }
    r.bulkText(text);
  }

  private section(k: i32, now: u64): string {
    const s = this.store;
    if (k == 0) {
      const up = (now - this.startMs) / 1000;
      return "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nos:uniwasm\r\narch_bits:32\r\nmultiplexing_api:uniwasm\r\n" +
        "tcp_port:" + this.cfg.port.toString() + "\r\nuptime_in_seconds:" + up.toString() + "\r\nuptime_in_days:" + (up / 86400).toString() + "\r\nhz:10\r\n";
    }
    if (k == 1) return "# Clients\r\nconnected_clients:" + this.connected.toString() + "\r\n";
    if (k == 2) {
      const limit = this.cfg.maxmemory;
      return "# Memory\r\nused_memory:" + s.used.toString() + "\r\nused_memory_human:" + human(<u64>s.used) +
        "\r\nused_memory_dataset:" + s.used.toString() + "\r\nmaxmemory:" + limit.toString() + "\r\nmaxmemory_human:" + human(limit) +
        "\r\nmaxmemory_policy:" + (this.cfg.policy == Policy.AllKeysLru ? "allkeys-lru" : "noeviction") + "\r\n";
    }
    if (k == 3) {
      const t = this.stats;
      return "# Stats\r\ntotal_connections_received:" + t.connections.toString() + "\r\ntotal_commands_processed:" + t.commands.toString() +
        "\r\ntotal_net_input_bytes:" + t.inputBytes.toString() + "\r\ntotal_net_output_bytes:" + this.outputBytes.toString() +
        "\r\nrejected_connections:" + t.rejected.toString() + "\r\nexpired_keys:" + s.expired.toString() + "\r\nevicted_keys:" + s.evicted.toString() +
        "\r\nkeyspace_hits:" + t.hits.toString() + "\r\nkeyspace_misses:" + t.misses.toString() + "\r\ntotal_error_replies:0\r\n";
    }
    return "# Keyspace\r\n" + (s.count > 0 ? "db0:keys=" + s.count.toString() + ",expires=" + s.volatile.toString() + ",avg_ttl=0\r\n" : "");
  }

  /** Set by the app: open connections, and reply bytes sent (for INFO). */
  connected: u32 = 0;
  outputBytes: u64 = 0;

  private command(c: RespParser, r: Reply): void {
    if (c.argc == 1) {
      r.array(NAMES.length);
      for (let i = 0; i < NAMES.length; i++) this.commandInfo(r, i);
      return;
    }
    const p = c.argPtr(1);
    const n = c.argLen(1);
    if (is(p, n, "count")) r.integer(NAMES.length);
    else if (is(p, n, "docs")) r.array(0); // no documentation to offer: redis-cli then shows no hints
    else if (is(p, n, "info")) {
      r.array(c.argc - 2);
      for (let i: u32 = 2; i < c.argc; i++) {
        const k = this.lookup(c.argPtr(i), c.argLen(i));
        if (k < 0) r.nil();
        else this.commandInfo(r, k);
      }
    } else r.text("-ERR unknown subcommand '").bytes(p, min<u32>(n, 128)).text("'. Try COMMAND HELP.").crlf();
  }

  private commandInfo(r: Reply, i: i32): void {
    r.array(6);
    r.bulkText(unchecked(NAMES[i]));
    r.integer(unchecked(ARITY[i]));
    const w = unchecked(WRITE[i]);
    const d = unchecked(DENYOOM[i]);
    r.array((w ? 1 : 0) + (d ? 1 : 0) + (w ? 0 : 1));
    if (w) r.simple("write");
    else r.simple("readonly");
    if (d) r.simple("denyoom");
    r.integer(unchecked(FIRST[i]));
    r.integer(unchecked(LAST[i]));
    r.integer(unchecked(STEP[i]));
  }

  private clientCmd(c: RespParser, r: Reply, client: KvClient): void {
    const p = c.argPtr(1);
    const n = c.argLen(1);
    if (is(p, n, "setname")) {
      if (c.argc != 3) { this.wrongArgs(r, "client|setname"); return; }
      for (let i: u32 = 0; i < c.argLen(2); i++) {
        const ch = load<u8>(c.argPtr(2) + i);
        if (ch <= 32 || ch > 126) { r.error("ERR Client names cannot contain spaces, newlines or special characters."); return; }
      }
      client.name = String.UTF8.decodeUnsafe(c.argPtr(2), c.argLen(2));
      r.ok();
    } else if (is(p, n, "getname")) {
      if (c.argc != 2) { this.wrongArgs(r, "client|getname"); return; }
      if (client.name.length == 0) r.nil();
      else r.bulkText(client.name);
    } else if (is(p, n, "id")) {
      if (c.argc != 2) { this.wrongArgs(r, "client|id"); return; }
      r.integer(<i64>client.id);
    } else r.text("-ERR unknown subcommand '").bytes(p, min<u32>(n, 128)).text("'. Try CLIENT HELP.").crlf();
  }

  // CONFIG GET pattern... (the settings there are) / CONFIG SET maxmemory|maxmemory-policy value
  private config(c: RespParser, r: Reply): void {
    const p = c.argPtr(1);
    const n = c.argLen(1);
    if (is(p, n, "get")) {
      if (c.argc < 3) { this.wrongArgs(r, "config|get"); return; }
      const names = ["maxmemory", "maxmemory-policy", "maxmemory-samples", "proto-max-bulk-len", "save", "appendonly", "databases", "port"];
      const values = [this.cfg.maxmemory.toString(), this.cfg.policy == Policy.AllKeysLru ? "allkeys-lru" : "noeviction", this.cfg.samples.toString(),
        this.cfg.limits.maxBulk.toString(), "", "no", "1", this.cfg.port.toString()];
      let count = 0;
      for (let k = 0; k < names.length; k++) {
        for (let i: u32 = 2; i < c.argc; i++) if (glob(c.argPtr(i), c.argLen(i), names[k])) { count++; break; }
      }
      r.array(count * 2);
      for (let k = 0; k < names.length; k++) {
        for (let i: u32 = 2; i < c.argc; i++) {
          if (glob(c.argPtr(i), c.argLen(i), names[k])) { r.bulkText(names[k]); r.bulkText(values[k]); break; }
        }
      }
    } else if (is(p, n, "set")) {
      if (c.argc < 4 || (c.argc & 1) != 0) { this.wrongArgs(r, "config|set"); return; }
      const kp = c.argPtr(2);
      const kl = c.argLen(2);
      const vp = c.argPtr(3);
      const vl = c.argLen(3);
      if (is(kp, kl, "maxmemory")) {
        const v = parseSize(vp, vl);
        if (v < 0) { r.text("-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value").crlf(); return; }
        this.cfg.maxmemory = <u64>v;
        r.ok();
      } else if (is(kp, kl, "maxmemory-policy")) {
        if (is(vp, vl, "allkeys-lru")) this.cfg.policy = Policy.AllKeysLru;
        else if (is(vp, vl, "noeviction")) this.cfg.policy = Policy.NoEviction;
        else { r.text("-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: noeviction, allkeys-lru").crlf(); return; }
        r.ok();
      } else r.text("-ERR Unknown option or number of arguments for CONFIG SET - '").bytes(kp, min<u32>(kl, 128)).text("'").crlf();
    } else if (is(p, n, "resetstat")) {
      r.ok();
    } else r.text("-ERR unknown subcommand '").bytes(p, min<u32>(n, 128)).text("'. Try CONFIG HELP.").crlf();
  }
}

const NUMBUF = heap.alloc(32);

/** "1.25M" as Redis's bytesToHuman writes it. */
function human(n: u64): string {
  if (n < 1024) return n.toString() + "B";
  const units = ["K", "M", "G", "T"];
  let div: u64 = 1024;
  let u = 0;
  while (u < 3 && n >= div * 1024) { div *= 1024; u++; }
  const hundredths = (n * 100 + div / 2) / div;
  const frac = hundredths % 100;
  return (hundredths / 100).toString() + "." + (frac < 10 ? "0" : "") + frac.toString() + units[u];
}

/** A memory value as CONFIG SET takes it: bytes, or with k/kb/m/mb/g/gb; -1 when malformed. */
export function parseSize(p: usize, n: u32): i64 {
  let i: u32 = 0;
  let v: i64 = 0;
  while (i < n && <u32>load<u8>(p + i) - 48 < 10) {
    v = v * 10 + (<i64>load<u8>(p + i) - 48);
    if (v > (<i64>1 << 50)) return -1;
    i++;
  }
  if (i == 0) return -1;
  const rest = n - i;
  if (rest == 0) return v;
  const q = p + i;
  if (is(q, rest, "b")) return v;
  if (is(q, rest, "k")) return v * 1000;
  if (is(q, rest, "kb")) return v * 1024;
  if (is(q, rest, "m")) return v * 1000000;
  if (is(q, rest, "mb")) return v * 1024 * 1024;
  if (is(q, rest, "g")) return v * 1000000000;
  if (is(q, rest, "gb")) return v * 1024 * 1024 * 1024;
  return -1;
}

/** Redis's glob match (stringmatchlen) of the pattern [p, p+n) against a lower-case name, without case: * ? and literals. */
function glob(p: usize, n: u32, name: string): bool {
  return globAt(p, n, 0, name, 0);
}

function globAt(p: usize, n: u32, i: u32, name: string, j: i32): bool {
  while (i < n) {
    const c = lower(load<u8>(p + i));
    if (c == 42) { // '*'
      if (i + 1 == n) return true;
      for (let k = j; k <= name.length; k++) if (globAt(p, n, i + 1, name, k)) return true;
      return false;
    }
    if (j >= name.length) return false;
    if (c != 63 && c != <u32>name.charCodeAt(j)) return false; // '?' matches any one
    i++;
    j++;
  }
  return j == name.length;
}
