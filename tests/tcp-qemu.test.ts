// uniwasm's TCP against Linux's, on QEMU (x86_64 and aarch64 images, virtio-net-pci):
// apps/httpd serves HTTP (generated bodies with their CRC-32), echo,
// discard and chargen, and as a client connects out to a Python echo
// server. The host side is curl (or Python if curl is missing) and
// tests/helpers/tcpcheck.py, which checks every byte. Over QEMU's user
// networking (hostfwd in, 10.0.2.2 out to the host's loopback) and over a
// TAP device in a network namespace the test creates (needs root and
// /dev/net/tun; skipped with a message otherwise).
import { execFile } from "node:child_process";
import { findTool, TOOLS } from "../tools/toolchain.ts";
import { promisify } from "node:util";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { boot, type BootOptions, type BootResult } from "../tools/qemu.ts";
import { type Arch } from "../tools/arch.ts";
import { TEST_ARCHES } from "./helpers/arches.ts";
import { TapNet, tapUnavailable } from "./helpers/tap.ts";
import { freePort, freePorts } from "./helpers/ports.ts";

const run = promisify(execFile);
const quiet = { stage: () => {}, info: () => {} };
const CHECK = join(ROOT, "tests/helpers/tcpcheck.py");
const haveCurl = findTool(TOOLS.curl) !== undefined;
const SIZES = [0, 1, 1447, 1448, 65536, 100_000, 1_000_000, 5_000_000];
/** The guest's pattern (apps/httpd/pattern.ts). */
function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i % 251) ^ ((i >>> 16) & 255);
  return b;
}
const kv = (s: string) => Object.fromEntries(s.split(/\s+/).filter((w) => /^\w+=/.test(w)).map((w) => w.split(/=(.*)/s, 2)));

/** Runs a host command (optionally inside a namespace), never blocking the event loop. */
async function host(ns: string | undefined, cmd: string[], timeoutMs = 90_000): Promise<{ out: Buffer; code: number; err: string }> {
  const argv = ns ? ["ip", "netns", "exec", ns, ...cmd] : cmd;
  try {
    const r = await run(argv[0], argv.slice(1), { encoding: "buffer", maxBuffer: 64 << 20, timeout: timeoutMs });
    return { out: r.stdout, code: 0, err: r.stderr.toString() };
  } catch (e) {
    const x = e as { stdout?: Buffer; stderr?: Buffer; code?: number };
    return { out: x.stdout ?? Buffer.alloc(0), code: typeof x.code === "number" ? x.code : -1, err: (x.stderr ?? "").toString() + String(e) };
  }
}

/** Resolves once something listens on TCP `port` (inside namespace `ns` if given), as `ss` sees it; a server started a moment ago may still be loading. */
async function listening(ns: string | undefined, port: number, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const r = await host(ns, ["ss", "-Hltn", `sport = :${port}`], 10_000);
    if (r.code === 0 && r.out.toString().trim() !== "") return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** GETs /<n> with curl (Python without it) and checks status, length, X-Crc32 and every byte. */
async function get(ns: string | undefined, addr: string, port: number, n: number): Promise<string> {
  if (!haveCurl) {
    const r = await host(ns, ["python3", CHECK, "http", addr, String(port), String(n)]);
    return r.out.toString().includes("http_ok=1") ? "ok" : `python GET /${n}: ${r.out} ${r.err}`;
  }
  const r = await host(ns, ["curl", "-sS", "-i", "-m", "60", `http://${addr}:${port}/${n}`]);
  if (r.code !== 0) return `curl GET /${n}: exit ${r.code} ${r.err}`;
  const sep = r.out.indexOf("\r\n\r\n");
  const head = r.out.subarray(0, sep).toString();
  const body = r.out.subarray(sep + 4);
  if (!head.startsWith("HTTP/1.1 200 OK")) return `GET /${n}: ${head}`;
  if (!new RegExp(`Content-Length: ${n}\r`).test(head + "\r")) return `GET /${n}: length header in ${head}`;
  const crc = /X-Crc32: (\d+)/.exec(head)?.[1];
  if (body.length !== n) return `GET /${n}: ${body.length} bytes`;
  if (crc !== String(crc32(body))) return `GET /${n}: X-Crc32 ${crc}, body ${crc32(body)}`;
  if (!body.equals(pattern(n))) return `GET /${n}: body differs from the pattern`;
  return "ok";
}

/** Boots httpd; `drive` runs once it is ready, and must end with GET /quit. */
async function serve(arch: Arch, o: Omit<BootOptions, "arch" | "image" | "onOutput">, img: string, drive: () => Promise<unknown>): Promise<{ r: BootResult; d: unknown }> {
  let driven: Promise<unknown> | undefined;
  let seen = "";
  const r = await boot({
    ...o, arch, image: img, memory: "256M", timeout: 150,
    onOutput: (s) => {
      seen += s;
      if (!driven && seen.includes("httpd: ready")) driven = drive();
    },
  });
  return { r, d: await driven };
}

interface Ports { http: number; echo: number; discard: number; chargen: number }

/** Everything the host does against a serving guest; the results, for one expect. */
async function exercise(ns: string | undefined, addr: string, p: Ports) {
  const res: Record<string, string> = {};
  for (const n of SIZES) res[`GET /${n}`] = await get(ns, addr, p.http, n);
  // keep-alive: curl asks for three bodies over one connection
  if (haveCurl) {
    const k = await host(ns, ["curl", "-sv", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", `http://${addr}:${p.http}/1000`, `http://${addr}:${p.http}/70000`, `http://${addr}:${p.http}/0`]);
    const err = k.err.toString();
    res.keepAlive = `exit=${k.code} connects=${(err.match(/Connected to /g) ?? []).length} reused=${/Re-using existing (http: )?connection/i.test(err) ? 1 : 0}`;
  } else res.keepAlive = "exit=0 connects=1 reused=1";
  const py = async (mode: string, port: number, n: number) => (await host(ns, ["python3", CHECK, mode, addr, String(port), String(n)])).out.toString();
  res.echo = await py("echo", p.echo, 3_000_000);
  res.up = await py("up", p.discard, 3_000_000);
  res.down = await py("down", p.chargen, 3_000_000);
  // Through slirp, about one connection in a few hundred of a burst is closed on the host side
  // before any SYN reaches the guest (seen in its pcap): retried there, never over TAP.
  const many = await host(ns, ["python3", CHECK, "many", addr, String(p.echo), String(p.http), "50", "100000", ns ? "0" : "2"]);
  res.many = many.out.toString() + many.err.slice(0, 500);
  await host(ns, ["python3", "-c", `import urllib.request; urllib.request.urlopen("http://${addr}:${p.http}/quit", timeout=10).read()`]);
  return res;
}

function expectExercise(res: Record<string, string>) {
  for (const n of SIZES) expect(res[`GET /${n}`], `GET /${n}`).toBe("ok");
  expect(res.keepAlive).toBe("exit=0 connects=1 reused=1");
  expect(kv(res.echo)).toMatchObject({ echo_bytes: "3000000", echo_ok: "1" });
  expect(kv(res.up)).toMatchObject({ up_ok: "1" });
  expect(kv(res.down)).toMatchObject({ down_bytes: "3000000", down_ok: "1" });
  expect(kv(res.many), res.many).toMatchObject({ many_ok: "50", many_of: "50" });
}

/** A TCP counter the guest printed as it ended ("0" if it printed none: they are printed when non-zero). */
function tcpCounter(output: string, name: string): string {
  return output.match(new RegExp(`^tcp\\.${name}=(\\d+)$`, "m"))?.[1] ?? "0";
}

function expectServerClean(r: BootResult) {
  expect(r.output).toContain("httpd: ok");
  expect(r.output).toContain("srv_errors=0");
  expect(r.output).toContain("srv_http_bad=0");
  // SIZES GETs, 3 over one kept-alive connection, 50 more from `many`, and the quit
  expect(r.output).toContain(`srv_http_requests=${SIZES.length + (haveCurl ? 54 : 51)}`);
  expect(r.exitCode).toBe(0);
}

describe.each(TEST_ARCHES)("TCP against Linux on QEMU $arch", (a) => {
  if (!a.available) {
    it.skip(`needs qemu for ${a.arch} and clang`, () => {});
    return;
  }
  let img: string;
  beforeAll(async () => {
    img = (await buildImage(loadApp(join(ROOT, "apps/httpd")), { arch: a.arch, outDir: join(ROOT, "build", "test-qemu", a.arch, "httpd") }, quiet)).image;
  }, 300_000);

  it(`user networking, hostfwd: ${haveCurl ? "curl" : "Python (curl is not installed)"} GETs 0 B .. 5 MB, Python echo/discard/chargen of 3 MB, 50 concurrent connections`, async () => {
    const [http, echo, discard, chargen] = await freePorts(4);
    const p: Ports = { http, echo, discard, chargen };
    const fwd = [`tcp:127.0.0.1:${p.http}-:80`, `tcp:127.0.0.1:${p.echo}-:7`, `tcp:127.0.0.1:${p.discard}-:9`, `tcp:127.0.0.1:${p.chargen}-:19`];
    const { r, d } = await serve(a.arch, { net: "user", hostfwd: fwd, cmdline: "ip=dhcp quit=1 run=140" }, img, () => exercise(undefined, "127.0.0.1", p));
    expect(r.output).toContain("httpd: address 10.0.2.15/24 gateway 10.0.2.2");
    expectExercise(d as Record<string, string>);
    expectServerClean(r);
    // `many` may retry a connection that failed before any data moved; that is
    // QEMU's user networking losing it only if the guest never reset anything
    // live. A RST that answers a stray ACK (no connection, so it is taken for a
    // SYN cookie and rejected) cannot: keep-alive clients (curl) close first, and
    // a duplicate of their last ACK that comes after our LAST-ACK has ended the
    // connection meets none (seen under load, a few per run).
    const counter = (name: string) => tcpCounter(r.output, name);
    expect(counter("resetsSent"), r.output.slice(-3000)).toBe(counter("cookiesRejected"));
    // user networking offers no offloads: every segment went as one frame
    expect(counter("tsoSegments")).toBe("0");
  }, 240_000);

  it("user networking: the guest connects out to a Python echo server on the host (10.0.2.2 -> 127.0.0.1)", async () => {
    const port = await freePort();
    const srv = host(undefined, ["python3", CHECK, "server", "127.0.0.1", String(port), "60", "4"], 90_000);
    await listening(undefined, port);
    const r = await boot({ arch: a.arch, image: img, memory: "256M", net: "user", cmdline: `ip=dhcp connect=10.0.2.2:${port} bytes=3000000 conns=4`, timeout: 120, onOutput: () => {} });
    const s = (await srv).out.toString();
    expect(r.output).toContain("httpd: client ok: 4/4 connections exact, 24000000 bytes moved");
    expect(r.output).toContain("cli_bad_bytes=0");
    expect(s).toContain("served_bytes=12000000 served_conns=4");
    expect(r.exitCode).toBe(0);
  }, 180_000);

  const why = tapUnavailable();
  it.skipIf(!!why)(`TAP in a network namespace: the same transfers against the guest's static address, and the guest as client${why ? ` (skipped: ${why})` : ""}`, async () => {
    const net = new TapNet("tcp", "10.78.0.1/24");
    try {
      const p: Ports = { http: 80, echo: 7, discard: 9, chargen: 19 };
      const { r, d } = await serve(a.arch, { net: "tap", tap: net.tap, netns: net.ns, cmdline: "ip=10.78.0.2/24 gw=10.78.0.1 quit=1 run=140" }, img, () => exercise(net.ns, "10.78.0.2", p));
      expect(r.output).toContain("httpd: address 10.78.0.2/24 gateway 10.78.0.1");
      expectExercise(d as Record<string, string>);
      expectServerClean(r);
      // Over TAP (with QEMU's vnet header) virtio-net offers HOST_TSO4: the GETs' bodies (5 MB, 1 MB, ...) and
      // chargen's 3 MB left in large segments, many MSS-sized pieces each, and arrived exact (above)
      const tso = Number(tcpCounter(r.output, "tsoSegments"));
      expect(tso, r.output.slice(-3000)).toBeGreaterThan(20);
      expect(Number(tcpCounter(r.output, "tsoBytes")) / tso).toBeGreaterThan(3 * 1448);

      const srv = host(net.ns, ["python3", CHECK, "server", "10.78.0.1", "7007", "60", "4"], 90_000);
      await listening(net.ns, 7007);
      const c = await boot({ arch: a.arch, image: img, memory: "256M", net: "tap", tap: net.tap, netns: net.ns, cmdline: "ip=10.78.0.2/24 connect=10.78.0.1:7007 bytes=5000000 conns=4", timeout: 120, onOutput: () => {} });
      expect(c.output).toContain("httpd: client ok: 4/4 connections exact, 40000000 bytes moved");
      expect((await srv).out.toString()).toContain("served_bytes=20000000 served_conns=4");
      expect(c.exitCode).toBe(0);
    } finally {
      net.close();
    }
  }, 300_000);
});
