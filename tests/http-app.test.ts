// apps/http served to real clients: curl (keep-alive reuse, HEAD, ranges,
// conditional GET), Python's http.client with pipelined requests, every
// error status from a literal bad request, slow clients cut at the header
// time-out while others are served, a 5 MB file byte-exact. On QEMU over
// user networking (everything) and over a TAP device in a network
// namespace, on both architectures (aarch64: one boot of the client paths,
// see below), and on the Node platform's simulated network.
import { beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { readFolder } from "../tools/files.ts";
import { ROOT } from "../tools/paths.ts";
import { scratchDir } from "./helpers/kernel.ts";
import { nodeSim, qemuTap, qemuUser, type Guest } from "./helpers/guest.ts";
import { freePort } from "./helpers/ports.ts";
import { connectionLimit } from "./helpers/conn-limit.ts";
import { TEST_ARCHES } from "./helpers/arches.ts";
import { TapNet, tapUnavailable } from "./helpers/tap.ts";

const APP = join(ROOT, "apps/http");
const CHECK = join(ROOT, "tests/helpers/http_check.py");
const HEADER_TIMEOUT_S = 3;
const quiet = { stage: () => {}, info: () => {} };

const INDEX = "<!doctype html><title>t</title><p>home</p>\n";
const STYLE = "p { color: #333 }\n";
const DOCS = "<p>docs</p>\n";
let site: string;
let big: Buffer;
let etags: Record<string, string>;

function makeSite(): void {
  site = scratchDir("http-site");
  mkdirSync(join(site, "docs"), { recursive: true });
  writeFileSync(join(site, "index.html"), INDEX);
  writeFileSync(join(site, "style.css"), STYLE);
  writeFileSync(join(site, "docs", "index.html"), DOCS);
  big = Buffer.alloc(5 * 1024 * 1024);
  let x = 12345;
  for (let i = 0; i < big.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    big[i] = x >>> 24;
  }
  writeFileSync(join(site, "big.bin"), big);
  etags = Object.fromEntries(readFolder(site).map((f) => [f.path, f.etag]));
}

async function python(g: Guest, checks: string): Promise<any> {
  const sha = createHash("sha256").update(big).digest("hex");
  const out = await g.exec(["python3", CHECK, g.host, String(g.port), "/big.bin", sha, String(HEADER_TIMEOUT_S), checks], 180_000);
  return JSON.parse(out);
}

function expectPython(r: any, checks: string): void {
  if (checks.includes("keepalive")) expect(r.keepalive).toEqual({ statuses: [200, 200, 200], one_socket: true });
  if (checks.includes("pipeline")) {
    // GET /, HEAD /style.css, GET /nope, GET /style.css, GET /docs: in order
    expect(r.pipeline).toEqual([[200, INDEX.length, null], [200, 0, null], [404, 14, null], [200, STYLE.length, null], [301, 22, "/docs/"]]);
  }
  if (checks.includes("errors")) {
    const e = r.errors;
    for (const [k, status] of Object.entries({ "400": 400, "400-nohost": 400, "400-dotdot": 400, "404": 404, "405": 405, "413": 413, "414": 414, "416": 416, "431": 431, "501": 501, "505": 505 })) {
      expect(e[k].status, k).toBe(status);
      expect(e[k].body, k).toMatch(new RegExp(`^${status} `));
    }
    expect(e["405"].allow).toBe("GET, HEAD");
    // framing errors close the connection; well-formed requests answered with an error do not
    for (const k of ["400", "400-nohost", "413", "414", "431", "501", "505"]) expect(e[k].closed, k).toBe(true);
    for (const k of ["404", "405", "416", "400-dotdot"]) expect(e[k].closed, k).toBe(false);
  }
  if (checks.includes("slow")) {
    expect(r.slow.served_meanwhile).toBeGreaterThan(0);
    for (const c of r.slow.cut) {
      expect(c.status).toBe("HTTP/1.1 408 Request Timeout");
      expect(c.after).toBeGreaterThanOrEqual(HEADER_TIMEOUT_S - 0.5);
      expect(c.after).toBeLessThan(HEADER_TIMEOUT_S + 10);
    }
  }
  if (checks.includes("big")) expect(r.big).toMatchObject({ status: 200, bytes: big.length, exact: true });
}

/** curl: keep-alive reuse, HEAD, a range, a conditional GET, and the 5 MB file. */
async function curl(g: Guest): Promise<void> {
  const base = `http://${g.host}:${g.port}`;
  const reuse = await g.exec(["sh", "-c", `curl -sv --max-time 60 ${base}/ ${base}/style.css -o /dev/null -o /dev/null 2>&1`]);
  expect(reuse).toMatch(/Re-using existing connection/);
  expect(reuse.match(/< HTTP\/1\.1 200 OK/g)?.length).toBe(2);
  const head = await g.exec(["curl", "-sI", "--max-time", "60", `${base}/docs/`]);
  expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(head).toContain(`Content-Length: ${DOCS.length}\r\n`);
  expect(head).toContain(`ETag: ${etags["/docs/index.html"]}\r\n`);
  const range = await g.exec(["curl", "-s", "--max-time", "60", "-r", "1000-1099", "-w", "\n%{http_code} %{size_download}", `${base}/big.bin`, "-o", "/dev/null"]);
  expect(range.trim()).toBe("206 100");
  const cond = await g.exec(["curl", "-s", "--max-time", "60", "-H", `If-None-Match: ${etags["/style.css"]}`, "-w", "%{http_code}", "-o", "/dev/null", `${base}/style.css`]);
  expect(cond).toBe("304");
  const bigSum = await g.exec(["sh", "-c", `curl -s --max-time 120 ${base}/big.bin | sha256sum`], 180_000);
  expect(bigSum.split(" ")[0]).toBe(createHash("sha256").update(big).digest("hex"));
}

// x86_64 runs every client check, over user networking and TAP. aarch64 runs
// one boot over user networking with what differs there -- the shim, the
// GIC and the NIC's interrupts, the same kernel code above them: curl's
// paths (keep-alive reuse, HEAD, a range, a conditional GET, the 5 MB file
// byte-exact), pipelined requests, the access log and the power button. Its
// NIC sits behind a PCIe root port, so that boot is also TCP through a bridge
// the shim numbered and opened (INTx swizzled, DMA forwarded); the root-bus
// NIC is apps/kv's and tcp-qemu's. The
// error statuses, slow clients and TAP exercise apps/http's and the stack's
// architecture-neutral code, already run on x86_64 and in Node; repeated here
// they would add their fixed time-outs (the slow clients alone wait out the
// header time-out several times) and a second TAP boot, for no new path.
describe.each(TEST_ARCHES)("apps/http on QEMU $arch", (a) => {
  if (!a.available) {
    it.skip(`needs qemu for ${a.arch} and clang`, () => {});
    return;
  }
  let img: string;
  beforeAll(async () => {
    if (!site) makeSite();
    const r = await buildImage(loadApp(APP), { arch: a.arch, outDir: join(ROOT, "build", "test-qemu", a.arch, "http"), files: site }, quiet);
    img = r.image;
  }, 600_000);

  const full = a.arch === "x86_64";
  it(full
    ? "user networking: curl, Python (keep-alive, pipelining, every error status, slow clients, 5 MB), access log and counters"
    : "user networking, the NIC behind a PCIe root port: curl (keep-alive, HEAD, range, conditional GET, 5 MB), pipelining, access log, the power button", async () => {
    const port = await freePort();
    const g = qemuUser(img, 80, port, `header_timeout=${HEADER_TIMEOUT_S * 1000} idle_timeout=30000 log=1`, "64M", 600, a.arch, !full);
    try {
      await g.waitFor(/http: .*port 80, 4 files/);
      await curl(g);
      const checks = full ? "keepalive,pipeline,errors,slow,big" : "pipeline";
      expectPython(await python(g, checks), checks);
      await g.powerButton!();
      const r = await g.done;
      expect(r.exitCode, r.output.slice(-3000)).toBe(0);
      // the access log: method, path, status, bytes, µs
      expect(r.output).toMatch(/^http: GET \/style\.css 304 0 \d+us\r?$/m);
      expect(r.output).toMatch(/^http: GET \/big\.bin 206 100 \d+us\r?$/m);
      expect(r.output).toMatch(/^http: GET \/big\.bin 200 5242880 \d+us\r?$/m);
      if (full) {
        expect(r.output).toMatch(/^http: POST \/ 405 23 \d+us\r?$/m);
        expect(r.output).toMatch(/^http: header time-outs 3, idle closes \d+, bytes sent \d+/m);
        expect(r.output).toMatch(/^http: connections \d+ \(refused 0\), requests \d+ \(2xx \d+, 3xx [1-9]\d*, 4xx \d+, 5xx 2\)/m);
      } else {
        expect(r.output).toMatch(/^http: GET \/nope 404 14 \d+us\r?$/m); // pipelined
        expect(r.output).toMatch(/^http: connections \d+ \(refused 0\), requests \d+ \(2xx \d+, 3xx [1-9]\d*, 4xx 1, 5xx 0\)/m);
      }
    } finally {
      g.stop();
    }
  }, 700_000);

  const why = full ? tapUnavailable() : "aarch64 runs user networking only (above)";
  it.skipIf(!!why)(`TAP in a network namespace: curl and Python from the namespace${why ? ` (skipped: ${why})` : ""}`, async () => {
    const net = new TapNet("http", "10.78.0.1/24");
    const g = qemuTap(img, net, "10.78.0.2", 80, `ip=10.78.0.2/24 gw=10.78.0.1 header_timeout=${HEADER_TIMEOUT_S * 1000} idle_timeout=30000`, "64M", 150, a.arch);
    try {
      await g.waitFor(/http: 10\.78\.0\.2\/24 .*port 80/);
      await curl(g);
      const checks = "keepalive,pipeline,big";
      expectPython(await python(g, checks), checks);
    } finally {
      g.stop();
      await g.done;
      net.close();
    }
  }, 300_000);
});

const MAX_CONNS = 8;

describe("apps/http on the Node platform's simulated network", () => {
  beforeAll(() => {
    if (!site) makeSite();
  });

  it("curl and Python through the simulated gateway's port forward; max_conns: the connections beyond it refused, service resumed", async () => {
    const port = await freePort();
    // the clients above use at most a few connections at once
    const g = nodeSim(APP, site, 80, port, `header_timeout=${HEADER_TIMEOUT_S * 1000} idle_timeout=30000 log=1 max_conns=${MAX_CONNS}`, "64M", 280);
    try {
      await g.waitFor(/http: .*port 80, 4 files/, 240_000);
      await curl(g);
      const checks = "keepalive,pipeline,errors,slow,big";
      expectPython(await python(g, checks), checks);
      expect(g.output()).toMatch(/^http: GET \/big\.bin 200 5242880 \d+us$/m);
      await connectionLimit(g, MAX_CONNS, "HEAD /style.css HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n", "HTTP/1.1 200 OK", "\\r\\n\\r\\n");
    } finally {
      g.stop();
      await g.done;
    }
  }, 300_000);
});
