// `uniwasm node <app> --net sim` as a way in from the host: --hostfwd relays
// host TCP connections through the simulated gateway into the kernel (curl
// against apps/httpd running in Node), the pcap is written on any exit
// (Ctrl-C included), and --until stops at a virtual time.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parsePcap } from "../host/pcap.ts";
import { ROOT } from "../tools/paths.ts";
import { scratchDir } from "./helpers/kernel.ts";
import { freePort } from "./helpers/ports.ts";
import { startCli } from "./helpers/cli.ts";

const UNIWASM = join(ROOT, "uniwasm");

function curl(url: string): { status: number; headers: string; body: Buffer } {
  const r = spawnSync("curl", ["-s", "-m", "30", "-D", "-", url], { encoding: "buffer", timeout: 60_000 });
  const raw = r.stdout;
  const split = raw.indexOf("\r\n\r\n");
  const headers = raw.subarray(0, split).toString();
  return { status: Number(/^HTTP\/1\.\d (\d+)/.exec(headers)?.[1] ?? 0), headers, body: raw.subarray(split + 4) };
}

describe("uniwasm node --net sim", () => {
  it("--hostfwd serves curl from the host through the simulated gateway; Ctrl-C writes the pcap and exits 130", async () => {
    const dir = scratchDir("hostfwd");
    const port = await freePort();
    const pcap = join(dir, "web.pcap");
    const run = startCli(["node", "apps/httpd", "--hostfwd", `tcp:127.0.0.1:${port}-:80`, "--pcap", pcap]);
    await run.ready(/httpd: ready/);
    expect(run.out()).toContain(`forwarding host 127.0.0.1:${port} to the guest's 10.0.2.15:80`);
    expect(run.out()).toContain("httpd: address 10.0.2.15/24 gateway 10.0.2.2"); // a lease from the simulated gateway
    const small = curl(`http://127.0.0.1:${port}/100`);
    expect(small.status).toBe(200);
    expect(small.body.length).toBe(100);
    // a megabyte, checked against the CRC the server computed
    const big = curl(`http://127.0.0.1:${port}/1000000`);
    expect(big.status).toBe(200);
    expect(big.body.length).toBe(1_000_000);
    const want = /X-Crc32: *(\d+)/i.exec(big.headers)?.[1]; // decimal
    expect(want).toBeDefined();
    expect(crc32(big.body)).toBe(Number(want));
    // several connections at once
    const many = await Promise.all(Array.from({ length: 4 }, () => new Promise<number>((resolve) => {
      const c = spawn("curl", ["-s", "-m", "30", "-o", "/dev/null", "-w", "%{size_download}", `http://127.0.0.1:${port}/50000`]);
      let o = "";
      c.stdout.on("data", (d) => (o += d));
      c.on("close", () => resolve(Number(o)));
    })));
    expect(many).toEqual([50000, 50000, 50000, 50000]);
    run.child.kill("SIGINT");
    expect(await run.exit).toBe(130);
    expect(run.out()).toMatch(/stopped by SIGINT at [\d.]+ virtual s/);
    expect(run.out()).toContain(`network traffic written to ${pcap}`);
    const frames = parsePcap(readFileSync(pcap)).records;
    const text = frames.map((f) => Buffer.from(f.data).toString("latin1")).join("\n");
    expect(text).toContain("GET /100 HTTP/1.1");
    expect(text).toContain("GET /1000000 HTTP/1.1");
    expect(frames.length).toBeGreaterThan(700);
  }, 300_000);

  it("--until stops at a virtual time (exit 124) and still writes the pcap", async () => {
    const dir = scratchDir("until");
    const pcap = join(dir, "u.pcap");
    const r = spawnSync(UNIWASM, ["node", "apps/httpd", "--net", "sim", "--until", "3", "--pcap", pcap], { cwd: ROOT, encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(124);
    expect(r.stderr).toContain("stopped at the virtual time limit (--until 3)");
    expect(existsSync(pcap)).toBe(true);
    const recs = parsePcap(readFileSync(pcap)).records;
    expect(recs.length).toBeGreaterThan(3); // DHCP, ARP
    expect(recs.at(-1)!.atNs).toBeLessThanOrEqual(3_000_000_000n);
  }, 300_000);

  it("SIGTERM (143) and a kernel's trap (71) also write the pcap", async () => {
    const dir = scratchDir("sim-exits");
    const pcap = join(dir, "term.pcap");
    const run = startCli(["node", "apps/httpd", "--net", "sim", "--pcap", pcap]);
    await run.ready(/httpd: ready/);
    run.child.kill("SIGTERM");
    expect(await run.exit).toBe(143);
    expect(run.out()).toMatch(/stopped by SIGTERM at [\d.]+ virtual s/);
    expect(parsePcap(readFileSync(pcap)).records.length).toBeGreaterThanOrEqual(4); // the DHCP exchange at least
    const trapped = join(dir, "trap.pcap");
    const r = spawnSync(UNIWASM, ["node", "tests/kernels/divzero", "--net", "sim", "--pcap", trapped], { cwd: ROOT, encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(71);
    expect(r.stderr).toContain(`network traffic written to ${trapped}`);
    expect(parsePcap(readFileSync(trapped)).records).toEqual([]); // it trapped before sending anything
  }, 300_000);

  it("refuses forwarding it cannot do, saying why", async () => {
    const udp = spawnSync(UNIWASM, ["node", "apps/httpd", "--hostfwd", "udp:127.0.0.1:5353-:53"], { cwd: ROOT, encoding: "utf8" });
    expect(udp.status).not.toBe(0);
    expect(udp.stderr).toContain("only tcp is forwarded");
    const virt = spawnSync(UNIWASM, ["node", "apps/httpd", "--hostfwd", "tcp:127.0.0.1:18081-:80", "--clock", "virtual"], { cwd: ROOT, encoding: "utf8" });
    expect(virt.stderr).toContain("--hostfwd runs the simulation on the real clock");
    const busy = createServer();
    const port = await freePort();
    await new Promise<void>((r) => busy.listen(port, "127.0.0.1", () => r()));
    const taken = spawnSync(UNIWASM, ["node", "apps/httpd", "--hostfwd", `tcp:127.0.0.1:${port}-:80`], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
    busy.close();
    expect(taken.status).toBe(1);
    expect(taken.stderr).toContain(`127.0.0.1:${port} is already in use on the host`);
  }, 300_000);
});
