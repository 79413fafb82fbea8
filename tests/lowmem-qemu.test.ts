// apps/httpd in little memory on QEMU (x86_64, TCG, a TAP device in a network
// namespace): booted with -m 4M (2 MiB of linear memory once the image, its
// stacks and page tables have theirs), it serves wrk -c50 with `Connection:
// close` for 10 s, tens of thousands of connections in a burst that never
// stops, without one error: no out-of-memory exit (garbage made between two
// collections once outgrew the heap), no frame lost for want of a packet
// buffer (the device holding the pool's spare part, each loss a
// retransmission time-out), and a checked body at the end. Then 3,000 idle
// connections, more than its heap holds: those it cannot hold it does not
// make (their SYNs go unanswered, counted as tcp.memoryRefused) instead of
// running out of memory, and once they close it serves again. One boot.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { boot } from "../tools/qemu.ts";
import { findTool, TOOLS } from "../tools/toolchain.ts";
import { TEST_ARCHES } from "./helpers/arches.ts";
import { TapNet, tapUnavailable } from "./helpers/tap.ts";

const quiet = { stage: () => {}, info: () => {} };

// More idle connections than the heap holds, opened in bursts and held; a
// request while they are held; then all closed and one more request.
const IDLE = String.raw`
import socket, sys, time, resource
host, n = sys.argv[1], int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))
def opened():
    s = socket.socket(); s.setblocking(False); s.connect_ex((host, 80))
    return s
socks = []
while len(socks) < n:  # bursts of 100, 50 ms apart
    socks += [opened() for _ in range(min(100, n - len(socks)))]
    time.sleep(0.05)
time.sleep(8)
def up(s):
    try: s.getpeername(); return True
    except OSError: return False
print("idle_connected=%d" % sum(1 for s in socks if up(s)))
def get():
    try:
        f = socket.create_connection((host, 80), timeout=5); f.sendall(b"GET /612 HTTP/1.0\r\n\r\n")
        got = b""
        while True:
            d = f.recv(4096)
            if not d: break
            got += d
        return got.split(b"\r\n")[0].decode()
    except OSError as e:
        return "error " + repr(e)
print("while_held=%s" % get())
for s in socks: s.close()
time.sleep(2)
print("after=%s" % get())
`;
const IDLE_CONNS = 3000;
const x86 = TEST_ARCHES.find((a) => a.arch === "x86_64")!;
const hasWrk = findTool(TOOLS.wrk) !== undefined;
const why = tapUnavailable() ?? (hasWrk ? undefined : "no wrk (apt-get install wrk)");

describe("apps/httpd in 4 MiB on QEMU", () => {
  if (!x86.available || why) {
    it.skip(`needs qemu-system-x86_64, clang, wrk and a TAP device${why ? ` (${why})` : ""}`, () => {});
    return;
  }
  let img: string;
  beforeAll(async () => {
    img = (await buildImage(loadApp(join(ROOT, "apps/httpd")), { arch: "x86_64", outDir: join(ROOT, "build", "test-qemu", "x86_64", "httpd") }, quiet)).image;
  }, 300_000);

  it("serves 10 s of wrk -c50 (Connection: close) at -m 4M without an error, says where its memory went, and refuses the connections its heap cannot hold", async () => {
    const net = new TapNet("lowmem", "10.78.0.1/24");
    try {
      let client: Promise<string> | undefined;
      let idle = "";
      let seen = "";
      const run = async () => {
        const w = await net.execAsync(["wrk", "-t", "1", "-c", "50", "-d", "10s", "--timeout", "5s", "-H", "Connection: close", "http://10.78.0.2/612"], 60_000);
        const body = await net.execAsync(["curl", "-s", "-D", "-", "http://10.78.0.2/100000", "-o", "/dev/null"], 30_000).catch((e) => String(e));
        idle = await net.execAsync(["python3", "-c", IDLE, "10.78.0.2", String(IDLE_CONNS)], 120_000).catch((e) => String(e));
        await net.execAsync(["curl", "-s", "-m", "10", "http://10.78.0.2/quit"], 30_000).catch(() => "");
        return w + "\n" + body;
      };
      const r = await boot({
        arch: "x86_64", image: img, memory: "4M", net: "tap", tap: net.tap, netns: net.ns, timeout: 240,
        cmdline: "ip=10.78.0.2/24 gw=10.78.0.1 quit=1",
        onOutput: (s) => {
          seen += s;
          if (!client && seen.includes("httpd: ready")) client = run();
        },
      });
      const w = (await client) ?? "";
      const out = r.output;
      const tail = `${w}\n${out.slice(-3000)}`;
      expect(out, tail).not.toContain("out of memory");
      expect(r.exitCode, tail).toBe(0);
      // the memory map at boot: about 2 MiB of linear memory (the image's size moves it), every share adding up
      const map = /^memory: (\d+) KiB: static (\d+) KiB, device (\d+) KiB \((\d+) packet buffers of 2 KiB, (\d+) for receive; (\d+) TSO buffers of 64 KiB\), heap (\d+) KiB \(TCP buffers up to (\d+) KiB\)$/m.exec(out);
      expect(map, out.slice(0, 2000)).not.toBeNull();
      const [linear, statics, device, packets, receive, , heap, tcp] = map!.slice(1).map(Number);
      expect(linear).toBeGreaterThan(1800);
      expect(linear).toBeLessThan(2400);
      expect(Math.abs(statics + device + heap - linear)).toBeLessThanOrEqual(2);
      expect(packets).toBe(256);
      expect(receive * 4).toBeLessThanOrEqual(packets);
      expect(Math.abs(tcp - linear / 4)).toBeLessThanOrEqual(1);
      const requests = Number(/(\d+) requests in/.exec(w)?.[1] ?? 0);
      expect(requests, tail).toBeGreaterThan(1000);
      expect(w, tail).not.toMatch(/Socket errors|Non-2xx/);
      expect(w).toMatch(/X-Crc32: [0-9a-f]{8}/i);
      expect(w).toMatch(/Content-Length: 100000/i);
      // no frame was lost for want of a packet buffer
      expect(out).not.toMatch(/drop_no_buffer=\d/);
      expect(Number(/srv_http_requests=(\d+)/.exec(out)?.[1])).toBeGreaterThanOrEqual(requests);
      // the idle connections: some admitted (hundreds), the rest refused, the kernel alive, service back once they close
      const held = Number(/idle_connected=(\d+)/.exec(idle)?.[1] ?? -1);
      expect(held, idle).toBeGreaterThan(100);
      expect(held).toBeLessThan(IDLE_CONNS);
      expect(Number(/tcp.memoryRefused=(\d+)/.exec(out)?.[1] ?? 0)).toBeGreaterThan(0);
      expect(idle, idle).toContain("after=HTTP/1.1 200 OK");
      console.log(`idle at -m 4M: ${held} of ${IDLE_CONNS} held, ${/while_held=.*$/m.exec(idle)?.[0]}`);
      console.log(`httpd at -m 4M: ${requests} requests in 10 s (${/Requests\/sec:\s+([\d.]+)/.exec(w)?.[1]}/s), ${/^httpd: packet buffers.*$/m.exec(out)?.[0]}; ${/^httpd: heap.*$/m.exec(out)?.[0]}`);
    } finally {
      net.close();
    }
  }, 400_000);
});
