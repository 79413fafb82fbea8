// The network stack on QEMU (x86_64 and aarch64 images, virtio-net-pci): apps/netdemo
// leases its address from QEMU's user-network DHCP (slirp), pings the
// gateway, resolves a name through slirp's DNS (which forwards to the host's
// resolver; without internet `localhost` comes back NXDOMAIN here, so the
// assertion is a matched answer, not an address), and echoes UDP that the
// host sends through a hostfwd. Over a TAP device in a network namespace the
// test creates, the host's ping and a Python UDP client talk to it (needs
// root and /dev/net/tun; skipped with a message otherwise).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { boot } from "../tools/qemu.ts";
import { TEST_ARCHES } from "./helpers/arches.ts";
import { TapNet, tapUnavailable } from "./helpers/tap.ts";
import { freePort } from "./helpers/ports.ts";

const quiet = { stage: () => {}, info: () => {} };

const PY_CLIENT = String.raw`
import socket, struct, sys, time
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
if mode in ("ping", "both"):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(2)
    ok = 0
    for seq in range(1, 4):
        m = struct.pack("!BBHHH", 8, 0, 0, 0x77, seq) + b"uniwasm-ping" * 4
        m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
        s.sendto(m, (host, 0))
        t = time.time()
        while time.time() - t < 2:
            try: d, a = s.recvfrom(2048)
            except socket.timeout: break
            icmp = d[(d[0] & 15) * 4:]
            if a[0] == host and icmp[0] == 0 and struct.unpack("!H", icmp[6:8])[0] == seq and icmp[8:] == m[8:]:
                ok += 1; break
    print("ping_replies=%d" % ok)
if mode in ("udp", "both"):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
    got = 0
    for i in range(3):
        msg = b"hello uniwasm %d" % i
        for attempt in range(3):
            u.sendto(msg, (host, port))
            try:
                d, _ = u.recvfrom(2048)
                if d == msg: got += 1; break
            except socket.timeout: pass
    print("udp_echoes=%d" % got)
`;

/** The UDP client, run without blocking the event loop, so QEMU's output keeps flowing. */
async function pyClient(host: string, port: number): Promise<string> {
  return (await promisify(execFile)("python3", ["-c", PY_CLIENT, host, String(port), "udp"], { encoding: "utf8", timeout: 30_000 })).stdout;
}

describe.each(TEST_ARCHES)("network stack on QEMU $arch", (a) => {
  if (!a.available) {
    it.skip(`needs qemu for ${a.arch} and clang`, () => {});
    return;
  }
  let img: string;
  beforeAll(async () => {
    img = (await buildImage(loadApp(join(ROOT, "apps/netdemo")), { arch: a.arch, outDir: join(ROOT, "build", "test-qemu", a.arch, "netdemo") }, quiet)).image;
  }, 300_000);

  it("user networking: DHCP from slirp, ping the gateway, a DNS answer from 10.0.2.3, UDP echo through hostfwd", async () => {
    const port = await freePort();
    let sent: Promise<string> | undefined;
    let seen = ""; // the console arrives in chunks that may split a word
    const r = await boot({
      arch: a.arch, image: img, net: "user", hostfwd: [`udp:127.0.0.1:${port}-:7`], cmdline: "resolve=localhost run=8", timeout: 120,
      onOutput: (s) => {
        seen += s;
        if (!sent && seen.includes("ready:")) sent = pyClient("127.0.0.1", port);
      },
    });
    expect(r.output).toContain("netdemo: dhcp lease 10.0.2.15/24 from 10.0.2.2 for 86400 s");
    expect(r.output).toContain("netdemo: address 10.0.2.15/24 gateway 10.0.2.2 dns 10.0.2.3");
    expect(r.output).toContain("netdemo: ping 10.0.2.2: reply seq 1 (56 bytes)");
    expect(r.output).toMatch(/netdemo: resolve localhost -> (\d+\.\d+\.\d+\.\d+|not found \(rcode 3), via 10\.0\.2\.3\)/);
    expect(await sent).toContain("udp_echoes=3");
    expect(r.output).toMatch(/netdemo: udp 10\.0\.2\.2:\d+ sent 15 bytes, echoed/);
    expect(r.output).toContain("netdemo: ok");
    expect(r.exitCode).toBe(0);
  }, 180_000);

  const why = tapUnavailable();
  it.skipIf(!!why)(`TAP in a network namespace: the host's ping and a Python UDP client talk to the guest${why ? ` (skipped: ${why})` : ""}`, async () => {
    const net = new TapNet("net", "10.77.0.1/24");
    try {
      let talked: Promise<[string, string]> | undefined;
      let seen = "";
      const r = await boot({
        arch: a.arch, image: img, net: "tap", tap: net.tap, netns: net.ns, cmdline: "ip=10.77.0.2/24 gw=10.77.0.1 ping=10.77.0.1 run=10", timeout: 120,
        onOutput: (s) => {
          seen += s;
          if (!talked && seen.includes("ready:")) {
            talked = Promise.all([
              net.execAsync(["ping", "-c", "3", "-W", "2", "-i", "0.3", "10.77.0.2"]),
              net.execAsync(["python3", "-c", PY_CLIENT, "10.77.0.2", "7", "udp"]),
            ]);
          }
        },
      });
      const [ping, udp] = await talked!;
      expect(ping).toMatch(/3 packets transmitted, 3 received, 0% packet loss/);
      expect(udp).toContain("udp_echoes=3");
      expect(r.output).toContain("netdemo: address 10.77.0.2/24 gateway 10.77.0.1");
      expect(r.output).toMatch(/net icmp: rx=\d+ tx=\d+ echo_req=3/);
      expect(r.exitCode).toBe(0);
    } finally {
      net.close();
    }
  }, 180_000);
});
