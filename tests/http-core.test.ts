// The HTTP/1.1 core of apps/http (request parser, path normalisation,
// conditional and range requests, pipelining, limits, time-outs) fed
// literal bytes in Node, no network: tests/kernels/http-core.
import { beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildAppWasm, runWasm, scratchDir } from "./helpers/kernel.ts";
import { ROOT } from "../tools/paths.ts";
import { readFolder } from "../tools/files.ts";

const KERNEL = join(ROOT, "tests/kernels/http-core");
let wasm: Uint8Array;
let etag: Record<string, string> = {};
const ABC = "abcdefghijklmnopqrstuvwxyz";

interface Exchange { out: string; closed: boolean; consumed: number; console: string }

async function http(input: string | Buffer, opts: Record<string, string | number> = {}): Promise<Exchange> {
  const hex = Buffer.from(input).toString("hex");
  const args = [`in=${hex}`, ...Object.entries(opts).map(([k, v]) => `${k}=${v}`)].join(" ");
  const r = await runWasm(wasm, { cmdline: args, memory: 64 << 20 });
  expect(r.exitCode, r.output).toBe(0);
  const out = Buffer.from(/^out=([0-9a-f]*)$/m.exec(r.output)![1], "hex").toString("latin1");
  const m = /^consumed=(\d+) closed=(\d)$/m.exec(r.output)!;
  return { out, closed: m[2] === "1", consumed: Number(m[1]), console: r.output };
}

/** Splits a byte stream of responses into status, fields and bodies (by Content-Length). */
function responses(s: string, bodiless: boolean | boolean[] = false): { status: number; headers: Record<string, string>; body: string; raw: string }[] {
  const list = [];
  while (s.length > 0) {
    const end = s.indexOf("\r\n\r\n");
    if (end < 0) throw new Error("no end of head in " + JSON.stringify(s));
    const lines = s.slice(0, end).split("\r\n");
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0])![1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(": ");
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 2);
    }
    const noBody = Array.isArray(bodiless) ? bodiless[list.length] : bodiless;
    const len = noBody || status === 304 ? 0 : Number(headers["content-length"] ?? 0);
    list.push({ status, headers, body: s.slice(end + 4, end + 4 + len), raw: s.slice(0, end + 4 + len) });
    s = s.slice(end + 4 + len);
  }
  return list;
}

const get = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

beforeAll(async () => {
  const site = scratchDir("http-core");
  mkdirSync(join(site, "sub"), { recursive: true });
  writeFileSync(join(site, "index.html"), "<h1>home</h1>\n");
  writeFileSync(join(site, "abc.txt"), ABC);
  writeFileSync(join(site, "sub", "index.html"), "<p>sub</p>\n");
  writeFileSync(join(site, "style.css"), "p{}\n");
  writeFileSync(join(site, "data.bin"), Buffer.alloc(300_000, 7));
  for (const f of readFolder(site)) etag[f.path] = f.etag;
  wasm = await buildAppWasm(KERNEL, site);
}, 300_000);

describe("http core: answers", () => {
  it("GET / is index.html with type, length, ETag and ranges offered; the connection stays open", async () => {
    const x = await http(get("/"));
    const [r] = responses(x.out);
    expect(r.status).toBe(200);
    expect(r.body).toBe("<h1>home</h1>\n");
    expect(r.headers).toMatchObject({ "content-type": "text/html; charset=utf-8", "content-length": "14", etag: etag["/index.html"], "accept-ranges": "bytes", server: "uniwasm" });
    expect(r.headers.connection).toBeUndefined();
    expect(r.headers.date).toBeUndefined();
    expect(x.closed).toBe(false);
  });

  it("HEAD has the same head and no body", async () => {
    const x = await http(`HEAD /style.css HTTP/1.1\r\nHost: t\r\n\r\n`);
    const [r] = responses(x.out, true);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/css; charset=utf-8");
    expect(r.headers["content-length"]).toBe("4");
    expect(x.out.endsWith("\r\n\r\n")).toBe(true);
  });

  it("pipelined requests are answered in order, whole or byte by byte, with little output room", async () => {
    const input = get("/abc.txt") + get("/style.css") + get("/nope") + `HEAD / HTTP/1.1\r\nHost: t\r\n\r\n` + get("/sub/");
    for (const opts of [{}, { chunk: 1 }, { room: 3 }, { chunk: 7, room: 5 }]) {
      const x = await http(input, opts);
      const rs = responses(x.out, [false, false, false, true, false]);
      expect(rs.map((r) => r.status), JSON.stringify(opts)).toEqual([200, 200, 404, 200, 200]);
      expect(rs[0].body).toBe(ABC);
      expect(rs[2].body).toBe("404 Not Found\n");
      expect(rs[4].body).toBe("<p>sub</p>\n");
      expect(x.consumed).toBe(input.length);
    }
  });

  it("a large file goes out in pieces the output has room for, byte-exact", async () => {
    const x = await http(get("/data.bin"), { room: 65536 });
    const [r] = responses(x.out);
    expect(r.body).toBe(Buffer.alloc(300_000, 7).toString("latin1"));
  });

  it("Connection: close and HTTP/1.0 close after the answer; HTTP/1.0 keep-alive stays", async () => {
    let x = await http(get("/", "Connection: close\r\n") + get("/abc.txt"));
    expect(responses(x.out).map((r) => r.headers.connection)).toEqual(["close"]);
    expect(x.closed).toBe(true);
    x = await http(`GET /abc.txt HTTP/1.0\r\n\r\n`);
    expect(responses(x.out)[0].headers.connection).toBe("close");
    expect(x.closed).toBe(true);
    x = await http(`GET /abc.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /style.css HTTP/1.0\r\n\r\n`);
    const rs = responses(x.out);
    expect(rs.map((r) => [r.status, r.headers.connection])).toEqual([[200, "keep-alive"], [200, "close"]]);
    expect(x.closed).toBe(true);
  });

  it("If-None-Match: 304 for a matching, weak or * tag; 200 otherwise", async () => {
    const e = etag["/abc.txt"];
    for (const v of [e, `W/${e}`, `"zzz", ${e}`, "*"]) {
      const [r] = responses((await http(get("/abc.txt", `If-None-Match: ${v}\r\n`))).out);
      expect(r.status, v).toBe(304);
      expect(r.headers.etag).toBe(e);
      expect(r.headers["content-length"]).toBeUndefined();
    }
    const [r] = responses((await http(get("/abc.txt", `If-None-Match: "other"\r\n`))).out);
    expect(r.status).toBe(200);
  });

  it("Range: one range is 206 with Content-Range; past the end 416; several, malformed or a stale If-Range the whole file", async () => {
    const cases: [string, number, string, string | undefined][] = [
      ["bytes=0-4", 206, "abcde", "bytes 0-4/26"],
      ["bytes=24-", 206, "yz", "bytes 24-25/26"],
      ["bytes=-3", 206, "xyz", "bytes 23-25/26"],
      ["bytes=-100", 206, ABC, "bytes 0-25/26"],
      ["bytes=20-1000", 206, "uvwxyz", "bytes 20-25/26"],
      ["bytes=26-", 416, "416 Range Not Satisfiable\n", "bytes */26"],
      ["bytes=-0", 416, "416 Range Not Satisfiable\n", "bytes */26"],
      ["bytes=0-1,3-4", 200, ABC, undefined],
      ["bytes=5-2", 200, ABC, undefined],
      ["items=0-4", 200, ABC, undefined],
      ["bytes=x-4", 200, ABC, undefined],
    ];
    for (const [range, status, body, cr] of cases) {
      const [r] = responses((await http(get("/abc.txt", `Range: ${range}\r\n`))).out);
      expect([r.status, r.body, r.headers["content-range"]], range).toEqual([status, body, cr]);
    }
    let [r] = responses((await http(get("/abc.txt", `Range: bytes=0-1\r\nIf-Range: "stale"\r\n`))).out);
    expect(r.status).toBe(200);
    [r] = responses((await http(get("/abc.txt", `Range: bytes=0-1\r\nIf-Range: ${etag["/abc.txt"]}\r\n`))).out);
    expect([r.status, r.body]).toEqual([206, "ab"]);
  });

  it("paths: decoded and normalised; a directory without / is redirected; escapes above the root are 400", async () => {
    const cases: [string, number, string?][] = [
      ["/sub", 301, "/sub/"],
      ["/sub?x=1", 301, "/sub/?x=1"],
      ["/sub/", 200],
      ["/sub/index.html", 200],
      ["//sub//index.html", 200],
      ["/sub/./../abc.txt", 200],
      ["/%61bc.txt", 200],
      ["/abc.txt?query=1#frag", 200],
      ["http://example.com/abc.txt", 200],
      ["/sub/..", 200],
      ["/..", 400],
      ["/../abc.txt", 400],
      ["/%2e%2e/abc.txt", 400],
      ["/sub/%2E%2E/%2e%2e/x", 400],
      ["/a%00b", 400],
      ["/abc%zz", 400],
      ["/abc%2", 400],
      ["*", 400],
      ["/nope.html", 404],
      ["/abc.txt/", 404],
    ];
    for (const [target, status, location] of cases) {
      const [r] = responses((await http(get(target))).out);
      expect(r.status, target).toBe(status);
      if (location) expect(r.headers.location).toBe(location);
    }
  });
});

describe("http core: errors from literal bad requests", () => {
  const cases: [string, string, number, Record<string, number>?][] = [
    ["POST is 405 with Allow", `POST /abc.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc`, 405],
    ["an unknown method is 501", `BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n`, 501],
    ["HTTP/2.0 is 505", `GET / HTTP/2.0\r\nHost: t\r\n\r\n`, 505],
    ["HTTP/0.9-style version is 400", `GET / HTTP/0.9\r\n\r\n`, 400],
    ["a bad version token is 400", `GET / HTTX/1.1\r\nHost: t\r\n\r\n`, 400],
    ["no Host in HTTP/1.1 is 400", `GET / HTTP/1.1\r\n\r\n`, 400],
    ["two Host fields are 400", `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, 400],
    ["a field without a colon is 400", `GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n`, 400],
    ["space before the colon is 400", `GET / HTTP/1.1\r\nHost : t\r\n\r\n`, 400],
    ["obs-fold is 400", `GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n`, 400],
    ["a NUL in a field is 400", `GET / HTTP/1.1\r\nHost: t\x00\r\n\r\n`, 400],
    ["binary junk is 400", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400],
    ["a request line with two spaces is 400", `GET  / HTTP/1.1\r\nHost: t\r\n\r\n`, 400],
    ["conflicting Content-Length is 400", `GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n`, 400],
    ["a non-numeric Content-Length is 400", `GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n`, 400],
    ["a body over the limit is 413", `GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n`, 413],
    ["a chunked request body is 501", `GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n`, 501],
    ["a long target is 414", `GET /${"a".repeat(5000)} HTTP/1.1\r\nHost: t\r\n\r\n`, 414],
    ["a long target still arriving is 414", `GET /${"a".repeat(6000)}`, 414],
    ["too many fields is 431", `GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n`, 431, { hdrs: 3 }],
    ["a head over the limit is 431", `GET / HTTP/1.1\r\nHost: t\r\nX: ${"x".repeat(300)}\r\n\r\n`, 431, { hdr: 256 }],
    ["a head over the limit still arriving is 431", `GET / HTTP/1.1\r\nHost: t\r\nX: ${"x".repeat(300)}`, 431, { hdr: 256 }],
  ];
  for (const [name, input, status, opts] of cases) {
    it(name, async () => {
      const x = await http(input, opts ?? {});
      const [r] = responses(x.out);
      expect(r.status).toBe(status);
      expect(r.body).toMatch(new RegExp(`^${status} [A-Za-z ]+\\n$`));
      if (status === 405) {
        expect(r.headers.allow).toBe("GET, HEAD");
        expect(x.closed).toBe(false);
        expect(x.consumed).toBe(input.length); // the body was read past
      } else {
        expect(r.headers.connection).toBe("close");
        expect(x.closed).toBe(true);
      }
    });
  }

  it("a GET body is read past and the next request answered", async () => {
    const x = await http(`GET /abc.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello` + get("/style.css"), { chunk: 3 });
    expect(responses(x.out).map((r) => r.status)).toEqual([200, 200]);
  });
});

describe("http core: time-outs and log", () => {
  it("a head not complete within the header time-out is 408 and closed", async () => {
    const x = await http(`GET / HTTP/1.1\r\nHost: t\r\nX-Slow: a`, { tick: 11_000_000 });
    const [r] = responses(x.out);
    expect(r.status).toBe(408);
    expect(x.closed).toBe(true);
    expect(x.console).toMatch(/header time-outs 1/);
    const early = await http(`GET / HTTP/1.1\r\nHost: t\r\nX-Slow: a`, { tick: 1_000_000 });
    expect(early.out).toBe("");
    expect(early.closed).toBe(false);
  });

  it("an idle keep-alive connection is closed without an answer", async () => {
    const x = await http(get("/abc.txt"), { tick: 6_000_000 });
    expect(responses(x.out).length).toBe(1);
    expect(x.closed).toBe(true);
    expect(x.console).toMatch(/idle closes 1/);
  });

  it("log=1 prints method, path, status, bytes and µs per request; counters add up", async () => {
    const x = await http(get("/abc.txt") + get("/nope") + `HEAD / HTTP/1.1\r\nHost: t\r\n\r\n`, { log: 1 });
    expect(x.console).toMatch(/^http: GET \/abc\.txt 200 26 \d+us$/m);
    expect(x.console).toMatch(/^http: GET \/nope 404 14 \d+us$/m);
    expect(x.console).toMatch(/^http: HEAD \/ 200 0 \d+us$/m);
    expect(x.console).toMatch(/requests 3 \(2xx 2, 3xx 0, 4xx 1, 5xx 0\)/);
    const quiet = await http(get("/abc.txt"));
    expect(quiet.console).not.toMatch(/http: GET/);
  });
});
