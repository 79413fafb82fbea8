// The slow-client and SYN-cookie cases of tests/tcp-memory.test.ts against
// Linux's TCP on QEMU (x86_64 and aarch64, TCG, a TAP device in a network
// namespace): tests/kernels/tcp-trickle as the server, with a SYN backlog of
// 2 and a 1 MiB memory limit; Python in the namespace opens 200 connections
// in one burst (most handshakes end with a cookie), sends each one's first
// byte as soon as it is connected, trickles a never-finished request on all
// of them, then asks as a new client. One boot per architecture.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { boot } from "../tools/qemu.ts";
import { TEST_ARCHES } from "./helpers/arches.ts";
import { TapNet, tapUnavailable } from "./helpers/tap.ts";

const quiet = { stage: () => {}, info: () => {} };
const kv = (output: string) => Object.fromEntries(output.split("\n").filter((l) => /^[\w.]+=/.test(l.trim())).map((l) => l.trim().split(/=(.*)/s, 2)));

const SLOW = 200;

const CLIENTS = String.raw`
# SLOW clients that trickle never-finished requests, opened in one burst (so
# a SYN backlog of 2 answers most with cookies), then a new client's whole
# request. Reports what Linux's side of each connection saw.
import socket, sys, time, fcntl, termios, struct, select
host, n = sys.argv[1], int(sys.argv[2])
REQ = b"GET /index.html HTTP/1.1\r\nHost: server\r\nUser-Agent: slow\r\n\r\n"
socks = []
for i in range(n):
    s = socket.socket(); s.setblocking(False)
    try: s.connect((host, 80))
    except BlockingIOError: pass
    socks.append(s)
pending, deadline = set(socks), time.time() + 90
while pending and time.time() < deadline:
    _, w, _ = select.select([], list(pending), [], 1)
    for s in w:
        pending.discard(s)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0: s.send(REQ[:1])  # the first data, at once
est = [s for s in socks if s not in pending and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0]
print("established=%d" % len(est))
sent = 1
for r in range(20):  # 2 s of one byte per connection every 100 ms, never the request's end
    time.sleep(0.1)
    for s in est: s.send(REQ[sent:sent + 1])
    sent += 1
outq = lambda s: struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\0\0\0\0"))[0]
deadline = time.time() + 60
while time.time() < deadline and any(outq(s) for s in est): time.sleep(0.2)
print("unacked_bytes=%d" % sum(outq(s) for s in est))
t0 = time.time()
got = b""
try:
    f = socket.create_connection((host, 80), timeout=60); f.sendall(REQ)
    while True:
        d = f.recv(4096)
        if not d: break
        got += d
    f.close()
except OSError as e:
    got += b" (then %s)" % repr(e).encode()
print("fast=%s" % got.decode(errors="replace").replace("\r\n", "|"))
print("fast_ms=%d" % ((time.time() - t0) * 1000))
retrans = sum(struct.unpack("I", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[100:104])[0] for s in est)
print("client_retrans=%d" % retrans)
for s in socks: s.close()
`;

const why = tapUnavailable();

describe.each(TEST_ARCHES)("slow clients and SYN cookies against Linux on QEMU $arch", (a) => {
  if (!a.available || why) {
    it.skip(`needs qemu for ${a.arch}, clang and a TAP device${why ? ` (${why})` : ""}`, () => {});
    return;
  }
  let img: string;
  beforeAll(async () => {
    img = (await buildImage(loadApp(join(ROOT, "tests/kernels/tcp-trickle")), { arch: a.arch, outDir: join(ROOT, "build", "test-qemu", a.arch, "tcp-trickle") }, quiet)).image;
  }, 300_000);

  it(`${SLOW} trickling connections, most from cookies: all admitted, every byte acknowledged, none of their first bytes dropped, a new client served`, async () => {
    const net = new TapNet("slow", "10.79.0.1/24");
    try {
      let client: Promise<string> | undefined;
      let seen = "";
      const r = await boot({
        arch: a.arch, image: img, memory: "64M", net: "tap", tap: net.tap, netns: net.ns, timeout: 240,
        cmdline: "ip=10.79.0.2/24 role=server mem=1048576 buf=65536 backlog=2 deadline_ms=200000",
        onOutput: (s) => {
          seen += s;
          if (!client && seen.includes("listening=80")) client = net.execAsync(["python3", "-c", CLIENTS, "10.79.0.2", String(SLOW)], 200_000);
        },
      });
      const c = kv((await client) ?? "");
      const s = kv(r.output);
      expect(c.established, r.output.slice(-2000)).toBe(String(SLOW));
      // Linux's send queues are empty: the guest acknowledged every trickled byte
      expect(c.unacked_bytes).toBe("0");
      expect(c.fast, r.output.slice(-2000)).toBe("HTTP/1.0 200 OK|Content-Length: 2||ok");
      expect(s.served).toBe("1");
      expect(s.served_conns).toBe(String(SLOW + 1));
      expect(Number(s.served_mem)).toBeLessThan((SLOW + 1) * 2048);
      // the cookie path was taken, and no cookie connection dropped its first data as outside a zero window
      expect(Number(s["tcp.cookiesAccepted"])).toBeGreaterThan(SLOW / 2);
      expect(s["tcp.dropOutOfWindow"]).toBeUndefined();
      expect(s["tcp.memoryRefused"]).toBeUndefined();
      expect(r.exitCode).toBe(0);
      console.log(`slow clients on ${a.arch}: new client ${c.fast_ms} ms, ${s["tcp.cookiesAccepted"]} cookie handshakes, server buffer memory ${s.served_mem} bytes for ${s.served_conns} connections, Linux retransmissions ${c.client_retrans}`);
    } finally {
      net.close();
    }
  }, 400_000);
});
