// The level-1 apps on QEMU (x86_64 and aarch64, TCG) with real clients on the host
// through user networking: apps/echo (nc and Python over TCP, Python over
// UDP) and the key-value + HTTP + UDP demo of docs/writing-an-app.md, built
// from the block in that file (nc, curl reusing one connection for several
// requests, Python's http.client keep-alive, Python UDP). One boot each. The
// demo's TCP services also run on the Node platform with the same clients
// (tests/app-node.test.ts).
// Skipped, with a message, when QEMU, clang, curl or nc is missing.
import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { boot, type BootResult } from "../tools/qemu.ts";
import { type Arch } from "../tools/arch.ts";
import { TEST_ARCHES } from "./helpers/arches.ts";
import { DEMO_TCP_ANSWERS, demoApp, demoTcpClients } from "./helpers/demo.ts";
import { freePorts } from "./helpers/ports.ts";

const run = promisify(execFile);
const quiet = { stage: () => {}, info: () => {} };
const has = (cmd: string) => {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
const ok = has("curl") && has("nc") && has("python3");
if (!ok) console.warn("tests/app-qemu.test.ts skipped: needs curl, nc and python3");

/** Boots `image` with `fwd`; once `ready` is printed runs `drive`, then stops the guest. */
async function serve(arch: Arch, image: string, fwd: string[], ready: string, drive: () => Promise<Record<string, string>>) {
  const stop = new AbortController();
  let driven: Promise<Record<string, string>> | undefined;
  let seen = "";
  const r: BootResult = await boot({
    arch, image, memory: "64M", net: "user", hostfwd: fwd, cmdline: "ip=dhcp", timeout: 240, signal: stop.signal,
    onOutput: (s) => {
      seen += s;
      if (!driven && seen.includes(ready)) driven = drive().finally(() => stop.abort());
    },
  });
  return { r, d: driven ? await driven : { boot: "never ready: " + r.output.slice(-2000) } };
}

const py = async (code: string, ...argv: string[]) => (await run("python3", ["-c", code, ...argv], { timeout: 60_000 })).stdout.trim();

const UDP = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
got = 0
for i in range(5):
    m = ("datagram %d " % i).encode() * (i * 30 + 1)  # up to 1331 bytes: within the ports' 2048
    for attempt in range(5):
        s.sendto(m, ("127.0.0.1", int(sys.argv[1])))
        try:
            if s.recvfrom(65536)[0] == m: got += 1
            break
        except socket.timeout:
            pass
print("udp_ok=%d" % got)`;

const TCP_ECHO = `
import socket, sys
data = bytes((i * 7 + (i >> 11)) & 255 for i in range(1 << 20))
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(data); s.shutdown(socket.SHUT_WR)
got = bytearray()
while True:
    d = s.recv(1 << 16)
    if not d: break
    got += d
print("tcp_echo_ok=%d" % (bytes(got) == data))`;

describe.each(TEST_ARCHES)("level-1 apps on QEMU $arch with real clients", (a) => {
  if (!ok || !a.available) {
    it.skip(`needs qemu for ${a.arch}, clang, curl, nc and python3`, () => {});
    return;
  }
  let echoImg: string;
  let demoImg: string;
  beforeAll(async () => {
    echoImg = (await buildImage(loadApp(join(ROOT, "apps/echo")), { arch: a.arch, outDir: join(ROOT, "build", "test-qemu", a.arch, "echo") }, quiet)).image;
    demoImg = (await buildImage(loadApp(demoApp()), { arch: a.arch, outDir: join(ROOT, "build", "test-qemu", a.arch, "kv-http-udp") }, quiet)).image;
  }, 600_000);

  it("apps/echo: nc and Python over TCP, Python over UDP", async () => {
    const [t, u] = await freePorts(2);
    const { r, d } = await serve(a.arch, echoImg, [`tcp:127.0.0.1:${t}-:7`, `udp:127.0.0.1:${u}-:7`], "echo: 10.0.2.15/24", async () => {
      const nc = (await run("sh", ["-c", `printf 'hello\\nworld\\n' | nc -q 2 127.0.0.1 ${t}`], { timeout: 30_000 })).stdout;
      return { nc, tcp: await py(TCP_ECHO, String(t)), udp: await py(UDP, String(u)) };
    });
    expect(r.output).toContain("echo: 10.0.2.15/24 gateway 10.0.2.2 mtu 1500: tcp and udp port 7");
    expect(d).toEqual({ nc: "hello\nworld\n", tcp: "tcp_echo_ok=1", udp: "udp_ok=5" });
  }, 400_000);

  it("the 70-line demo from the docs: nc against the key-value server, curl and Python keep-alive, Python UDP", async () => {
    const [kv, http, udp] = await freePorts(3);
    const fwd = [`tcp:127.0.0.1:${kv}-:6000`, `tcp:127.0.0.1:${http}-:80`, `udp:127.0.0.1:${udp}-:7`];
    const { r, d } = await serve(a.arch, demoImg, fwd, "kv-http-udp: 10.0.2.15/24", async () => ({ ...(await demoTcpClients(kv, http)), udp: await py(UDP, String(udp)) }));
    expect(r.output).toContain("kv-http-udp: 10.0.2.15/24 gateway 10.0.2.2 mtu 1500: kv 6000, http 80, udp echo 7");
    expect(d).toEqual({ ...DEMO_TCP_ANSWERS, udp: "udp_ok=5" });
  }, 400_000);
});
