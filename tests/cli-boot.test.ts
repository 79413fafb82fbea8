// `uniwasm boot` against real QEMU: wrong input is refused before QEMU starts,
// QEMU's own failures are failures, signals stop QEMU and free its ports, and
// every capture the CLI writes reads back in tcpdump.
import { execFileSync, spawn } from "node:child_process";
import { cpSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { chooseAccel } from "../tools/qemu.ts";
import { ROOT } from "../tools/paths.ts";
import { scratchDir } from "./helpers/kernel.ts";
import { freePort } from "./helpers/ports.ts";
import { TapNet, tapUnavailable } from "./helpers/tap.ts";

// builds and boots under TCG on a shared 2-core machine: minutes, not seconds
vi.setConfig({ testTimeout: 600_000 });

const CLI = join(ROOT, "tools/cli.js");

/** Runs the CLI without blocking the test worker (a build or boot can take minutes on a loaded machine). */
function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

/** The error line of a failed run (after any notes about the accelerator). */
function errorLine(err: string): string {
  return err.split("\n").filter((l) => l && !l.startsWith("uniwasm: running under TCG")).pop() ?? "";
}

/** tcpdump's reading of a capture, one line per frame. */
function tcpdump(pcap: string): string[] {
  return execFileSync("tcpdump", ["-n", "-r", pcap], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n");
}

async function canListen(port: number): Promise<boolean> {
  const s = createServer();
  const ok = await new Promise<boolean>((r) => {
    s.once("error", () => r(false));
    s.listen(port, "127.0.0.1", () => r(true));
  });
  if (ok) await new Promise((r) => s.close(r));
  return ok;
}

let out: string;
let img: string;
beforeAll(async () => {
  out = scratchDir("cli-boot");
  const r = await cli(["image", "apps/hello", "--out", out]);
  expect(r.code, r.err).toBe(0);
  img = join(out, "hello.img");
});

describe("boot refuses what cannot boot, before QEMU starts", () => {
  it("says what a file that is no image is", async () => {
    const wasm = join(out, "hello.wasm");
    const empty = join(out, "empty.img");
    writeFileSync(empty, "");
    const cases: [string, string][] = [
      ["apps/hello/main.ts", "uniwasm: apps/hello/main.ts is not a bootable image: source code, not an image (boot the app's folder to build and boot it)"],
      [join(out, "kernel.elf"), `uniwasm: ${join(out, "kernel.elf")} is not a bootable image: an ELF64 with a Multiboot header, which QEMU loads only as ELF32 (boot the .img the image builder wrote beside it)`],
      [wasm, `uniwasm: ${wasm} is not a bootable image: a WebAssembly module (run it with uniwasm node <app>, or build an image with uniwasm image <app>)`],
      [empty, `uniwasm: ${empty} is not a bootable image: the file is empty`],
      ["/bin/true", "uniwasm: /bin/true is not a bootable image: an ELF64 shared object or PIE for x86_64 without a Multiboot header or PVH note (not built by uniwasm image?)"],
    ];
    for (const [file, message] of cases) {
      const r = await cli(["boot", file]);
      expect(r.code, file).toBe(1);
      expect(r.err).toBe(message + "\n");
    }
  });

  it("refuses build options with an image already built, and a network namespace that does not exist", async () => {
    for (const [verb, option, value] of [["boot", "--files", "apps/http/site"], ["boot", "--profile", "dev"], ["boot", "--out", "x"], ["export", "--bounds", "explicit"]]) {
      const r = await cli([verb, img, option, value, ...(verb === "export" ? ["--libvirt"] : [])]);
      expect(r.code, option).toBe(2);
      expect(r.err).toBe(`uniwasm: ${option} applies to building an app, and ${img} is an image already built (give the app's folder with ${option}); see uniwasm ${verb} --help\n`);
    }
    const ns = `uniwasm-none-${process.pid}`;
    expect(await cli(["boot", img, "--netns", ns])).toMatchObject({ code: 1, out: "", err: `uniwasm: --netns ${ns}: no such network namespace (ip netns list shows them; ip netns add ${ns} makes one)\n` });
  });

  it("refuses less RAM than the image needs, naming the minimum, and boots with the minimum", async () => {
    const r = await cli(["boot", img, "--mem", "1M"]);
    expect(r.code).toBe(1);
    const m = /^uniwasm: --mem 1M is too little for .*hello\.img: it needs at least (\d+)M \(its code, data and initial linear memory\)$/.exec(r.err.trim());
    expect(m, r.err).not.toBeNull();
    const ok = await cli(["boot", img, "--mem", `${m![1]}M`, "--timeout", "60"]);
    expect(ok.out).toContain("goodbye");
    expect(ok.code).toBe(0);
  });

  it("names a forwarded host port that is taken", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as any).port;
    try {
      const r = await cli(["boot", img, "--hostfwd", `tcp:127.0.0.1:${port}-:80`]);
      expect(r.code).toBe(1);
      expect(errorLine(r.err)).toBe(`uniwasm: --hostfwd tcp:127.0.0.1:${port}-:80: host port tcp 127.0.0.1:${port} is already in use (another program, or a boot still running, holds it)`);
      // an app folder: said before it is built (a build would print its stages first)
      const app = join(scratchDir("cli-boot-app"), "hello");
      cpSync(join(ROOT, "apps/hello"), app, { recursive: true });
      const before = await cli(["boot", app, "--hostfwd", `tcp:127.0.0.1:${port}-:80`, "--out", join(out, "never")]);
      expect(before).toMatchObject({ code: 1, out: "", err: `uniwasm: --hostfwd tcp:127.0.0.1:${port}-:80: host port tcp 127.0.0.1:${port} is already in use (another program, or a boot still running, holds it)\n` });
      expect((await cli(["boot", app, "--gdb", String(port)])).err).toBe(`uniwasm: --gdb ${port}: host port tcp 127.0.0.1:${port} is already in use (another program, or a boot still running, holds it)\n`);
    } finally {
      blocker.close();
    }
    expect(await cli(["boot", img, "--hostfwd", "tcp:8080:80"])).toMatchObject({ code: 2, err: "uniwasm: --hostfwd tcp:8080:80: expected tcp|udp:[hostaddr]:hostport-[guestaddr]:guestport, e.g. tcp:127.0.0.1:8080-:80; see uniwasm boot --help\n" });
  });

  it("refuses KVM where it cannot run, and auto falls back to TCG saying so", async () => {
    const kvm = (() => {
      try {
        return chooseAccel("kvm").accel;
      } catch (e) {
        return (e as Error).message;
      }
    })();
    if (kvm === "kvm") return; // a host with working KVM: nothing to refuse
    const r = await cli(["boot", img, "--accel", "kvm"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`uniwasm: ${kvm}\n`);
    expect(kvm).toMatch(/^--accel kvm: KVM is not usable here: .* \(use --accel tcg\)$/);
    const auto = await cli(["boot", img, "--accel", "auto", "--timeout", "60"]);
    expect(auto.err).toMatch(/^uniwasm: running under TCG, QEMU's emulator: KVM is not usable here \(.+\)\n/);
    expect(auto.code).toBe(0);
    expect((await cli(["boot", img, "--accel", "xen"])).err).toBe("uniwasm: --accel xen: expected one of auto, kvm, tcg; see uniwasm boot --help\n");
  });
});

describe("aarch64 images: built with --arch, detected and checked by boot", () => {
  it("boots an aarch64 image without --arch, refuses it as x86_64 and under KVM on another host, and checks its RAM", async () => {
    const armOut = scratchDir("cli-boot-arm");
    expect((await cli(["image", "apps/hello", "--arch", "aarch64", "--out", armOut])).code).toBe(0);
    const arm = join(armOut, "hello.img");
    expect(await cli(["boot", arm, "--arch", "x86_64"])).toMatchObject({ code: 1, err: `uniwasm: ${arm} is a Linux arm64 Image (aarch64) image, not one for x86_64 (use --arch aarch64)\n` });
    if (process.arch !== "arm64") {
      const kvm = await cli(["boot", arm, "--accel", "kvm"]);
      expect(kvm.code).toBe(1);
      expect(errorLine(kvm.err)).toBe(`uniwasm: --accel kvm: the host is ${process.arch}, the image aarch64: KVM runs only the host's own architecture (use --accel tcg)`);
    }
    const small = await cli(["boot", arm, "--mem", "1M"]);
    const m = /^uniwasm: --mem 1M is too little for .*hello\.img: it needs at least (\d+)M/.exec(small.err.trim());
    expect(m, small.err).not.toBeNull();
    const ok = await cli(["boot", arm, "--mem", `${m![1]}M`, "--timeout", "60"]);
    expect(ok.out).toContain("goodbye");
    expect(ok.code).toBe(0);
  });
});

describe("boot reports QEMU's failures and stops on signals", () => {
  it("surfaces QEMU's own error with a non-zero exit", async () => {
    const r = await cli(["boot", img, "--accel", "tcg", "--", "-device", "no-such-device"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe("uniwasm: QEMU failed: 'no-such-device' is not a valid device model name\n");
    expect(r.out).toBe("");
  });

  for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
    it(`forwards ${signal} to QEMU, waits for it, exits ${code} and frees the forwarded port`, async () => {
      const port = await freePort();
      // -S: QEMU holds the CPU stopped, so the run lasts until the signal
      const child = spawn(process.execPath, [CLI, "boot", img, "--accel", "tcg", "--hostfwd", `tcp:127.0.0.1:${port}-:80`, "--", "-S"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      child.stderr.on("data", (d) => (err += d));
      const exited = new Promise<number | null>((r) => child.on("close", (c) => r(c)));
      // taken three times in a row: QEMU holds it (the CLI's own check binds it only for a moment)
      for (let i = 0, taken = 0; i < 1200 && taken < 3; i++) {
        taken = (await canListen(port)) ? 0 : taken + 1;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(await canListen(port), "QEMU never took the forwarded port").toBe(false);
      child.kill(signal);
      expect(await exited).toBe(code);
      expect(err).toContain(`uniwasm: stopped by signal ${signal} (exit ${code})\n`);
      expect(await canListen(port)).toBe(true);
      const again = await cli(["boot", img, "--accel", "tcg", "--hostfwd", `tcp:127.0.0.1:${port}-:80`, "--timeout", "60"]);
      expect(again.code, again.err).toBe(0);
    });
  }
});

describe("every capture the CLI writes is Ethernet that tcpdump reads", () => {
  it("QEMU user networking", async () => {
    const pcap = join(out, "user.pcap");
    const r = await cli(["boot", "apps/netdemo", "--net", "user", "--pcap", pcap, "--append", "run=1", "--out", join(out, "netdemo"), "--timeout", "120"]);
    expect(r.code, r.out + r.err).toBe(0);
    const lines = tcpdump(pcap);
    expect(lines.some((l) => /IP 0\.0\.0\.0\.68 > 255\.255\.255\.255\.67: BOOTP\/DHCP, Request/.test(l))).toBe(true);
    expect(lines.some((l) => /IP 10\.0\.2\.2\.67 > (255\.255\.255\.255|10\.0\.2\.15)\.68: BOOTP\/DHCP, Reply/.test(l))).toBe(true);
    expect(lines.some((l) => /IP 10\.0\.2\.15 > 10\.0\.2\.2: ICMP echo request/.test(l))).toBe(true);
    expect(lines.some((l) => /IP 10\.0\.2\.2 > 10\.0\.2\.15: ICMP echo reply/.test(l))).toBe(true);
  });

  const noTap = tapUnavailable();
  it.skipIf(noTap)(`a TAP device (without the virtio-net header)${noTap ? ` [skipped: ${noTap}]` : ""}`, async () => {
    const net = new TapNet("clipcap", "10.78.0.1/24");
    try {
      const pcap = join(out, "tap.pcap");
      const r = await cli(["boot", "apps/netdemo", "--netns", net.ns, "--tap", net.tap, "--pcap", pcap, "--append", "ip=10.78.0.2/24 gw=10.78.0.1 ping=10.78.0.1 run=1", "--out", join(out, "netdemo"), "--timeout", "120"]);
      expect(r.code, r.out + r.err).toBe(0);
      const lines = tcpdump(pcap);
      expect(lines.some((l) => /ARP, Request who-has 10\.78\.0\.1 tell 10\.78\.0\.2/.test(l))).toBe(true);
      expect(lines.some((l) => /ARP, Reply 10\.78\.0\.1 is-at/.test(l))).toBe(true);
      expect(lines.some((l) => /IP 10\.78\.0\.2 > 10\.78\.0\.1: ICMP echo request/.test(l))).toBe(true);
      expect(lines.some((l) => /IP 10\.78\.0\.1 > 10\.78\.0\.2: ICMP echo reply/.test(l))).toBe(true);
      expect(lines.filter((l) => /Unknown|truncated/.test(l))).toEqual([]);
    } finally {
      net.close();
    }
  });

  it("the Node platform's simulated network", async () => {
    const pcap = join(out, "sim.pcap");
    const r = await cli(["node", "apps/netdemo", "--net", "sim", "--pcap", pcap, "--append", "run=1", "--out", join(out, "netdemo-wasm")]);
    expect(r.code, r.out + r.err).toBe(0);
    const lines = tcpdump(pcap);
    expect(lines.some((l) => /IP 0\.0\.0\.0\.68 > 255\.255\.255\.255\.67: BOOTP\/DHCP, Request/.test(l))).toBe(true);
    expect(lines.some((l) => /IP 10\.0\.2\.15 > 10\.0\.2\.2: ICMP echo request/.test(l))).toBe(true);
    expect(lines.some((l) => /IP 10\.0\.2\.2 > 10\.0\.2\.15: ICMP echo reply/.test(l))).toBe(true);
  });
});

