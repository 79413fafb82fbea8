// The Redis-compatible core of apps/kv (RESP2 parser and encoder, inline
// commands, the store with expiry and eviction, error texts) fed literal
// bytes in Node, no network: tests/kernels/kv-core. The same commands are
// checked against a real redis-server over the network in kv-qemu.test.ts.
import { beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { buildAppWasm, runWasm } from "./helpers/kernel.ts";
import { ROOT } from "../tools/paths.ts";

let wasm: Uint8Array;
interface Result { out: string; closed: boolean; keys: number; used: number; expired: number; evicted: number }

/** RESP of a command as redis-cli sends it. */
const cmd = (...args: (string | Buffer)[]) => Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.flatMap((a) => [Buffer.from(`$${Buffer.byteLength(a)}\r\n`), Buffer.from(a), Buffer.from("\r\n")])]);

async function kv(steps: (string | Buffer | [string | Buffer, number])[], opts: Record<string, string | number> = {}): Promise<Result> {
  const args = steps.map((s, k) => {
    const [data, t] = Array.isArray(s) ? s : [s, 0];
    return `in${k}=${Buffer.from(data).toString("hex")} t${k}=${t}`;
  });
  for (const [k, v] of Object.entries(opts)) args.push(`${k}=${v}`);
  const r = await runWasm(wasm, { cmdline: args.join(" "), memory: 128 << 20 });
  expect(r.exitCode, r.output.slice(-2000)).toBe(0);
  const m = /^keys=(\d+) used=(\d+) expired=(\d+) evicted=(\d+)$/m.exec(r.output)!;
  return {
    out: Buffer.from(/^out=([0-9a-f]*)$/m.exec(r.output)![1], "hex").toString("latin1"),
    closed: /^closed=1$/m.test(r.output),
    keys: Number(m[1]), used: Number(m[2]), expired: Number(m[3]), evicted: Number(m[4]),
  };
}

beforeAll(async () => {
  wasm = await buildAppWasm(join(ROOT, "tests/kernels/kv-core"));
}, 300_000);

describe("kv core: commands", () => {
  it("PING, ECHO, SET, GET, DEL, EXISTS, DBSIZE, pipelined in one write", async () => {
    const x = await kv([Buffer.concat([cmd("PING"), cmd("ping", "hi"), cmd("ECHO", "e\r\ncho"), cmd("SET", "k", "v1"), cmd("GET", "k"), cmd("GET", "nokey"),
      cmd("EXISTS", "k", "k", "nokey"), cmd("DBSIZE"), cmd("DEL", "k", "nokey"), cmd("GET", "k"), cmd("DBSIZE")])]);
    expect(x.out).toBe("+PONG\r\n$2\r\nhi\r\n$6\r\ne\r\ncho\r\n+OK\r\n$2\r\nv1\r\n$-1\r\n:2\r\n:1\r\n:1\r\n$-1\r\n:0\r\n");
    expect(x.closed).toBe(false);
    expect(x.keys).toBe(0);
  });

  it("inline commands as nc users type them, quoting included", async () => {
    const x = await kv(["PING\r\nset  k \"a b\\x41\\n\"\r\nget k\nGET 'it\\'s'\r\n\r\n   \r\nEXISTS k\r\n"]);
    expect(x.out).toBe("+PONG\r\n+OK\r\n$5\r\na bA\n\r\n$-1\r\n:1\r\n");
  });

  it("SET NX, XX, GET, KEEPTTL, EX, PX and their errors", async () => {
    const x = await kv([Buffer.concat([
      cmd("SET", "k", "1", "NX"), cmd("SET", "k", "2", "NX"), cmd("SET", "k", "3", "XX"), cmd("SET", "n", "3", "XX"), cmd("SET", "k", "4", "GET"),
      cmd("SET", "k", "v", "NX", "XX"), cmd("SET", "k", "v", "EX", "0"), cmd("SET", "k", "v", "EX", "abc"), cmd("SET", "k", "v", "EX", "10", "PX", "5"),
      cmd("SET", "k", "v", "EX"), cmd("SET", "t", "v", "EX", "100"), cmd("TTL", "t"), cmd("SET", "t", "w", "KEEPTTL"), cmd("TTL", "t"),
      cmd("SET", "t", "x"), cmd("TTL", "t"), cmd("SET", "p", "v", "PX", "1500"), cmd("PTTL", "p"), cmd("TTL", "p"), cmd("TTL", "none"), cmd("GET", "k"),
    ])]);
    expect(x.out.split("\r\n")).toEqual([
      "+OK", "$-1", "+OK", "$-1", "$1", "3",
      "-ERR syntax error", "-ERR invalid expire time in 'set' command", "-ERR value is not an integer or out of range", "-ERR syntax error",
      "-ERR syntax error", "+OK", ":100", "+OK", ":100", "+OK", ":-1", "+OK", ":1500", ":2", ":-2", "$1", "4", "",
    ]);
  });

  it("INCR, DECR, INCRBY, DECRBY with Redis's overflow and type errors", async () => {
    const x = await kv([Buffer.concat([
      cmd("INCR", "c"), cmd("INCRBY", "c", "41"), cmd("DECR", "c"), cmd("DECRBY", "c", "-10"), cmd("GET", "c"), cmd("SET", "s", "x"), cmd("INCR", "s"),
      cmd("INCRBY", "c", "1.5"), cmd("SET", "m", "9223372036854775807"), cmd("INCR", "m"), cmd("SET", "z", "-9223372036854775808"), cmd("DECR", "z"),
      cmd("DECRBY", "c", "-9223372036854775808"), cmd("SET", "lz", "01"), cmd("INCR", "lz"),
    ])]);
    expect(x.out.split("\r\n")).toEqual([":1", ":42", ":41", ":51", "$2", "51", "+OK", "-ERR value is not an integer or out of range",
      "-ERR value is not an integer or out of range", "+OK", "-ERR increment or decrement would overflow", "+OK", "-ERR increment or decrement would overflow",
      "-ERR decrement would overflow", "+OK", "-ERR value is not an integer or out of range", ""]);
  });

  it("MSET, MGET, wrong arities and unknown commands in Redis's words", async () => {
    const x = await kv([Buffer.concat([cmd("MSET", "a", "1", "b", "2"), cmd("MGET", "a", "x", "b"), cmd("MSET", "a"), cmd("MSET", "a", "1", "b"), cmd("GET"),
      cmd("PING", "a", "b"), cmd("FOO", "a", "b"), cmd("foo"), cmd("FLUSHALL", "x"), cmd("FLUSHALL"), cmd("DBSIZE"), cmd("SELECT", "0"), cmd("SELECT", "3"),
      cmd("CLIENT", "SETNAME", "me"), cmd("CLIENT", "GETNAME"), cmd("CLIENT", "SETNAME"), cmd("CLIENT", "FOO"), cmd("CONFIG", "GET", "maxmemory*"),
      cmd("COMMAND", "COUNT"), cmd("COMMAND", "DOCS")])]);
    expect(x.out.split("\r\n")).toEqual(["+OK", "*3", "$1", "1", "$-1", "$1", "2", "-ERR wrong number of arguments for 'mset' command",
      "-ERR wrong number of arguments for 'mset' command", "-ERR wrong number of arguments for 'get' command", "-ERR wrong number of arguments for 'ping' command",
      "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' ", "-ERR unknown command 'foo', with args beginning with: ", "-ERR syntax error", "+OK", ":0",
      "+OK", "-ERR DB index is out of range", "+OK", "$2", "me", "-ERR wrong number of arguments for 'client|setname' command",
      "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.", "*6", "$9", "maxmemory", "$1", "0", "$16", "maxmemory-policy", "$10", "noeviction", "$17", "maxmemory-samples", "$1", "5",
      ":24", "*0", ""]);
  });

  it("EXPIRE, PEXPIRE, TTL with NX/XX/GT/LT; a key expires lazily and by the sweep", async () => {
    const x = await kv([
      [Buffer.concat([cmd("SET", "a", "1"), cmd("SET", "b", "2"), cmd("EXPIRE", "a", "10"), cmd("PEXPIRE", "b", "500"), cmd("EXPIRE", "nokey", "5"),
        cmd("EXPIRE", "a", "20", "NX"), cmd("EXPIRE", "a", "5", "GT"), cmd("EXPIRE", "a", "30", "GT"), cmd("EXPIRE", "a", "1", "XX", "LT"), cmd("EXPIRE", "a", "1", "NX", "XX"),
        cmd("EXPIRE", "a", "abc"), cmd("EXPIRE", "a", "9999999999999999"), cmd("EXPIRE", "a", "1", "FOO"), cmd("TTL", "a"), cmd("PTTL", "b")]), 1000],
      [Buffer.concat([cmd("GET", "b"), cmd("TTL", "a"), cmd("EXISTS", "a")]), 1600],
      [cmd("DBSIZE"), 3000],
      [cmd("SET", "c", "3", "EX", "-1"), 3000],
      [Buffer.concat([cmd("SET", "d", "4"), cmd("EXPIRE", "d", "-5"), cmd("EXISTS", "d")]), 3000],
    ]);
    expect(x.out.split("\r\n")).toEqual(["+OK", "+OK", ":1", ":1", ":0", ":0", ":0", ":1", ":1",
      "-ERR NX and XX, GT or LT options at the same time are not compatible", "-ERR value is not an integer or out of range",
      "-ERR invalid expire time in 'expire' command", "-ERR Unsupported option FOO", ":1", ":500", "$-1", ":0", ":1", ":1",
      "-ERR invalid expire time in 'set' command", "+OK", ":1", ":0", ""]);
    expect(x.expired).toBe(1); // b, found expired by GET; a is due but nobody asked (no sweep here)
  });

  it("the sweep removes expired keys nobody asks for", async () => {
    const keys = Array.from({ length: 200 }, (_, i) => cmd("SET", `k${i}`, "v", "PX", String(100 + (i % 2) * 100000)));
    const x = await kv([[Buffer.concat(keys), 0], ["", 1000], ["", 1100], ["", 1200], ["", 1300]], { sweep: 1 });
    expect(x.expired).toBeGreaterThan(50);
    expect(x.keys).toBe(200 - x.expired);
  });

  it("QUIT answers OK and closes", async () => {
    const x = await kv([Buffer.concat([cmd("QUIT"), cmd("PING")])]);
    expect(x.out).toBe("+OK\r\n");
    expect(x.closed).toBe(true);
  });

  it("INFO has the server, memory, stats and keyspace sections", async () => {
    const x = await kv([Buffer.concat([cmd("SET", "a", "1"), cmd("GET", "a"), cmd("GET", "b"), cmd("INFO"), cmd("INFO", "memory")])]);
    expect(x.out).toMatch(/# Server\r\nredis_version:7\.0\.15\r\n/);
    expect(x.out).toMatch(/# Memory\r\nused_memory:\d+\r\nused_memory_human:[\d.]+[BKM]\r\n/);
    expect(x.out).toMatch(/keyspace_hits:1\r\nkeyspace_misses:1\r\n/);
    expect(x.out).toMatch(/# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n/);
    expect(x.out).toMatch(/\$\d+\r\n# Memory\r\n[^#]*\r\n$/);
  });
});

describe("kv core: memory", () => {
  it("maxmemory with noeviction answers OOM to writes and still serves reads", async () => {
    const sets = Array.from({ length: 100 }, (_, i) => cmd("SET", `key${i}`, "x".repeat(100)));
    const x = await kv([Buffer.concat([...sets, cmd("GET", "key0"), cmd("DEL", "key1")])], { maxmemory: 4000 });
    expect(x.out).toContain("-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    expect(x.out.endsWith("$100\r\n" + "x".repeat(100) + "\r\n:1\r\n")).toBe(true);
    expect(x.evicted).toBe(0);
  });

  it("maxmemory with allkeys-lru evicts sampled keys and keeps the used memory near the limit", async () => {
    const sets = Array.from({ length: 500 }, (_, i) => cmd("SET", `key${i}`, "x".repeat(100)));
    const x = await kv([Buffer.concat(sets)], { maxmemory: 8000, policy: "lru" });
    expect(x.out).toBe("+OK\r\n".repeat(500));
    expect(x.evicted).toBeGreaterThan(400);
    expect(x.used).toBeLessThan(8000 + 400);
  });

  it("a 1 MB value arriving in small pieces is stored and read back whole; memory is given back by DEL", async () => {
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
    const x = await kv([Buffer.concat([cmd("SET", "big", big), cmd("GET", "big"), cmd("DEL", "big")])], { chunk: 1460 });
    expect(x.out).toBe("+OK\r\n" + `$${big.length}\r\n` + big.toString("latin1") + "\r\n:1\r\n");
    expect(x.keys).toBe(0);
  });

  it("a value over the limit is refused with Redis's error and the connection closed", async () => {
    const x = await kv([Buffer.concat([cmd("SET", "k", "x".repeat(2000)), cmd("PING")])], { maxbulk: 1000 });
    expect(x.out).toBe("-ERR Protocol error: invalid bulk length\r\n");
    expect(x.closed).toBe(true);
  });
});

describe("kv core: malformed RESP is an error and a close, never a trap", () => {
  const cases: [string, string, string][] = [
    ["a bad multibulk count", "*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
    ["a negative bulk length", "*2\r\n$3\r\nGET\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n"],
    ["a huge bulk length", "*1\r\n$99999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n"],
    ["a huge multibulk count", "*99999999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
    ["no $ where a bulk should be", "*2\r\nx\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n"],
    ["binary junk after a *", "*\x00\xff\xfe\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
    ["unbalanced quotes", "set \"a b\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"],
    ["a closing quote followed by text", "set \"a\"b c\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"],
    ["an endless inline line", "x".repeat(70000), "-ERR Protocol error: too big inline request\r\n"],
    ["an endless count line", "*" + "1".repeat(70000), "-ERR Protocol error: too big mbulk count string\r\n"],
  ];
  for (const [name, input, reply] of cases) {
    it(name, async () => {
      // nothing after an endless line: a later CR would end it (as in Redis)
      const after = /^(x+|\*1+)$/.test(input) ? Buffer.alloc(0) : cmd("PING");
      const x = await kv([Buffer.concat([cmd("PING"), Buffer.from(input, "latin1"), after])]);
      expect(x.out).toBe("+PONG\r\n" + reply);
      expect(x.closed).toBe(true);
    });
  }

  it("*0, *-1 and empty lines are skipped like Redis; a bulk's two trailing bytes are skipped unseen", async () => {
    const x = await kv(["*1\r\n$4\r\nPING\r\n*-1\r\n*0\r\n\r\n*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n"]);
    expect(x.out).toBe("+PONG\r\n+PONG\r\n+PONG\r\n");
    expect(x.closed).toBe(false);
  });

  it("byte-by-byte arrival and a tiny output room change nothing", async () => {
    const input = Buffer.concat([...Array.from({ length: 50 }, (_, i) => cmd("SET", `k${i}`, `v${i}`)), ...Array.from({ length: 50 }, (_, i) => cmd("GET", `k${i}`))]);
    const want = "+OK\r\n".repeat(50) + Array.from({ length: 50 }, (_, i) => `$${String(`v${i}`).length}\r\nv${i}\r\n`).join("");
    expect((await kv([input], { chunk: 1 })).out).toBe(want);
    expect((await kv([input], { room: 3 })).out).toBe(want);
  });
});
