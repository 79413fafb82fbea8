// The CLI's answers to wrong input: each a specific message and a non-zero exit.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { parsePcap } from "../host/pcap.ts";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../tools/paths.ts";
import { scratchDir } from "./helpers/kernel.ts";

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(ROOT, "tools/cli.js"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe("uniwasm CLI errors", () => {
  it("names a missing app folder", () => {
    const r = cli(["image", "apps/does-not-exist"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("uniwasm: no app folder at apps/does-not-exist");
  });

  it("names a folder without main.ts", () => {
    const dir = scratchDir("empty-app");
    const r = cli(["image", dir]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("has no main.ts");
  });

  it("shows the AssemblyScript diagnostic with file and line for a compile error", () => {
    const dir = join(scratchDir("bad-app"), "broken");
    mkdirSync(dir);
    writeFileSync(join(dir, "main.ts"), "export function main(): i32 {\n  return notDeclaredAnywhere;\n}\n");
    const r = cli(["image", dir, "--out", join(dir, "out")]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("failed to compile");
    expect(r.out).toContain("TS2304: Cannot find name 'notDeclaredAnywhere'");
    expect(r.out).toMatch(/broken\/main\.ts\(2,10\)/);
  });

  it("rejects an app without a proper main export", () => {
    const dir = join(scratchDir("no-main"), "nomain");
    mkdirSync(dir);
    writeFileSync(join(dir, "main.ts"), "export function start(): void {}\n");
    const r = cli(["node", dir, "--out", join(dir, "out")]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("main.ts must export `function main(): i32`");
  });

  it("rejects an app importing something no platform provides", () => {
    const dir = join(scratchDir("foreign"), "foreign");
    mkdirSync(dir);
    writeFileSync(join(dir, "main.ts"), '@external("wasi", "fd_write") declare function fd_write(a: i32): i32;\nexport function main(): i32 { return fd_write(1); }\n');
    const r = cli(["node", dir, "--out", join(dir, "out")]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("imports wasi.fd_write, which no platform provides");
  });

  it("says which tool is missing and how to install it", () => {
    const r = cli(["image", "apps/hello", "--out", join(scratchDir("nochain"), "out")], { PATH: scratchDir("empty-path") });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/missing toolchain: clang not found; install it with: apt-get install clang/);
  });

  it("reports a tool override that points nowhere", () => {
    const r = cli(["image", "apps/hello", "--out", join(scratchDir("nochain2"), "out")], { UNIWASM_LD: "/nonexistent/ld.lld" });
    expect(r.code).toBe(1);
    expect(r.out).toContain("UNIWASM_LD=/nonexistent/ld.lld does not name an existing program");
  });

  it("rejects unknown verbs, options and bad values", () => {
    expect(cli(["frobnicate"])).toMatchObject({ code: 2 });
    expect(cli(["frobnicate"]).out).toContain('unknown verb "frobnicate"');
    const opt = cli(["image", "apps/hello", "--colour", "red"]);
    expect(opt.code).toBe(1);
    expect(opt.out).toContain("unknown option --colour");
    const arch = cli(["image", "apps/hello", "--arch", "riscv"]);
    expect(arch.out).toContain("--arch riscv: expected one of x86_64");
    const mem = cli(["boot", "apps/hello", "--mem", "lots"]);
    expect(mem.code).toBe(1);
    expect(mem.out).toContain("--mem lots: expected a size");
  });
});

describe("uniwasm node --net sim", () => {
  it("runs a networked app on a simulated NIC shaped like QEMU's user network, with a capture", () => {
    const pcap = join(scratchDir("simnet"), "run.pcap");
    const r = cli(["node", "apps/netdemo", "--net", "sim", "--pcap", pcap, "--append", "run=2"]);
    expect(r.out).toContain("netdemo: dhcp lease 10.0.2.15/24 from 10.0.2.2");
    expect(r.out).toContain("netdemo: ping 10.0.2.2: reply seq 1 (56 bytes)");
    expect(r.code).toBe(0);
    const frames = parsePcap(readFileSync(pcap)).records;
    expect(frames.length).toBeGreaterThanOrEqual(6); // DHCP x4, ARP, ping
  });

  it("refuses a capture without the simulated network", () => {
    const r = cli(["node", "apps/hello", "--pcap", "/tmp/x.pcap"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("--pcap needs --net sim");
  });
});
