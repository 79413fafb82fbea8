// Ending a kernel the ways a host sees it: the stop request (the ACPI power
// button that `virsh shutdown` and QEMU's `system_powerdown` press; Node's
// Machine.requestStop) reaching the scheduler's StopHandler, and the exit
// methods of the shims without their exit device (x86_64: ACPI soft-off for 0,
// pvpanic for a failure; aarch64: pvpanic-pci for a failure, PSCI power-off;
// `exit code N` on the console always). Node first, then QEMU, one boot per
// case, then the power button on every architecture.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { ARCH } from "../tools/arch.ts";
import { boot, qemuArgs } from "../tools/qemu.ts";
import { findTool, requireTool, TOOLS } from "../tools/toolchain.ts";
import { Machine } from "../host/machine.ts";
import { buildSourceWasm, scratchDir } from "./helpers/kernel.ts";
import { TEST_ARCHES } from "./helpers/arches.ts";
import { freePort } from "./helpers/ports.ts";

const haveQemu = !!findTool(TOOLS.qemuX86) && !!findTool(TOOLS.clang);
const quiet = { stage: () => {}, info: () => {} };

// A kernel with a periodic tick and nothing else; `handler=count` installs a
// handler that stops the loop at the second request, else the default one.
const KERNEL = `
import { println } from "../../../kernel/console";
import { commandLine } from "../../../kernel/cmdline";
import { Scheduler, Task, StopHandler, MS } from "../../../kernel/sched/index";

let sched!: Scheduler;
class Tick extends Task { run(): void {} }
class Count extends StopHandler {
  onStopRequest(n: u32): void {
    println("stop request " + n.toString());
    if (n == 2) sched.stop();
  }
}
export function main(): i32 {
  sched = new Scheduler();
  if (commandLine().indexOf("handler=count") >= 0) sched.onStopRequest(new Count());
  sched.every(new Tick("tick"), MS);
  println("running");
  sched.run();
  println("loop ended after " + sched.stopRequests.toString() + " requests");
  return 7;
}
`;

describe("stop requests on the Node platform", () => {
  let wasm: Uint8Array;
  beforeAll(async () => {
    wasm = await buildSourceWasm("stop-request", KERNEL);
  }, 120_000);

  it("the default handler ends the kernel with exit code 0", async () => {
    const m = new Machine({ console: () => {} });
    let armed: boolean | undefined;
    m.events.schedule(5_000_000n, () => { armed = m.requestStop(); });
    const r = await m.run(wasm);
    expect(armed).toBe(true);
    expect(r.output).toContain("running\nstop requested: exiting\n");
    expect(r.output).not.toContain("loop ended");
    expect(r.exitCode).toBe(0);
  });

  it("an app's handler hears every request and decides: here the loop ends at the second", async () => {
    const m = new Machine({ console: () => {}, cmdline: "handler=count" });
    m.events.schedule(5_000_000n, () => m.requestStop());
    m.events.schedule(9_000_000n, () => m.requestStop());
    const r = await m.run(wasm);
    expect(r.output).toContain("stop request 1\nstop request 2\nloop ended after 2 requests\n");
    expect(r.exitCode).toBe(7);
  });

  it("a kernel that never asked for the stop line gets no request", async () => {
    const m = new Machine({ console: () => {} });
    expect(m.requestStop()).toBe(false);
  });
});

/** QMP commands in order; resolves to every reply and event line. */
function qmp(sock: string, cmds: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(sock);
    let buf = "";
    let sent = 0;
    c.setEncoding("utf8");
    c.on("data", (d: string) => {
      buf += d;
      const replies = (buf.match(/"return"/g) ?? []).length;
      if (buf.includes('"QMP"') && sent === replies) {
        if (sent === cmds.length) return c.end();
        c.write(JSON.stringify({ execute: cmds[sent++] }) + "\n");
      }
    });
    c.on("end", () => resolve(buf));
    c.on("close", () => resolve(buf));
    // QEMU may reset the socket as it acts on the last command (quit): that is its answer
    c.on("error", (e) => (sent === cmds.length ? resolve(buf) : reject(e)));
  });
}

/** Polls until `sock` accepts a connection (QEMU creates it at start). */
async function waitSocket(sock: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((res) => {
      const c = connect(sock);
      c.on("connect", () => { c.destroy(); res(true); });
      c.on("error", () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`QEMU's QMP socket ${sock} never appeared`);
}

/** `args` without the run of arguments `seq` (e.g. an exit device: "-device", "isa-debug-exit,..."). */
function withoutRun(args: string[], seq: readonly string[]): string[] {
  for (let i = 0; i + seq.length <= args.length; i++) {
    if (seq.every((a, k) => args[i + k] === a)) return [...args.slice(0, i), ...args.slice(i + seq.length)];
  }
  return args;
}

/** QEMU as a host without the exit device (isa-debug-exit, semihosting) sees it (libvirt's view): status and console. */
function plainQemu(image: string, extra: string[], cmdline?: string, during?: () => Promise<void>, arch: "x86_64" | "aarch64" = "x86_64"): Promise<{ status: number | null; console: string }> {
  // without the exit device, and without -no-reboot: a reset would reboot, not end QEMU
  const args = withoutRun(qemuArgs({ arch, image, cmdline, memory: "32M" }), ARCH[arch].exitArgs).filter((a) => a !== "-no-reboot");
  return new Promise((resolve) => {
    const q = spawn(requireTool(ARCH[arch].qemu), [...args, ...extra], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    q.stdout.setEncoding("utf8");
    q.stdout.on("data", (d: string) => { out += d.replace(/\r/g, ""); });
    const kill = setTimeout(() => q.kill("SIGKILL"), 60_000);
    during?.().finally(() => {});
    q.on("close", (status) => { clearTimeout(kill); resolve({ status, console: out }); });
  });
}

describe.skipIf(!haveQemu)("stop and exit on QEMU without isa-debug-exit (x86_64, ACPI)", () => {
  let hello: string, exitCode: string;
  const dir = scratchDir("stop-exit");
  beforeAll(async () => {
    const b = (p: string, name: string) => buildImage(loadApp(join(ROOT, p)), { arch: "x86_64", outDir: join(ROOT, "build", "test-qemu", name) }, quiet).then((r) => r.image);
    [hello, exitCode] = [await b("apps/hello", "hello"), await b("tests/kernels/exit-code", "exit-code")];
  }, 600_000);

  it("exit 0 is an ACPI power-off: QEMU ends by itself, the console says `exit code 0`", async () => {
    const r = await plainQemu(hello, []);
    expect(r.console).toContain("goodbye\nexit code 0\n");
    expect(r.status).toBe(0); // powered off (without -no-reboot, a reset would loop until killed)
  }, 90_000);

  it("a failure is a pvpanic event: QEMU reports the guest panicked, the console says `exit code 3`", async () => {
    const r = await panicked(exitCode, ["-device", "pvpanic"], join(dir, "panic.sock"));
    expect(r.status).toContain('"status": "guest-panicked"');
    expect(r.console).toContain("exit code 3\n");
  }, 90_000);
});

/** Boots `image` with code=3 and `device` under -no-shutdown, polling QEMU's status until it panicked (or 10 s). */
async function panicked(image: string, device: string[], sock: string, arch: "x86_64" | "aarch64" = "x86_64"): Promise<{ status: string; console: string }> {
  let status = "";
  const r = await plainQemu(image, [...device, "-no-shutdown", "-qmp", `unix:${sock},server=on,wait=off`], "code=3", async () => {
    await waitSocket(sock);
    for (let i = 0; i < 100 && !status.includes("guest-panicked"); i++) {
      status = await qmp(sock, ["qmp_capabilities", "query-status"]);
      await new Promise((res) => setTimeout(res, 100));
    }
    await qmp(sock, ["qmp_capabilities", "quit"]);
  }, arch);
  return { status, console: r.console };
}

// aarch64 without semihosting (libvirt's view): a failure raises a
// pvpanic-pci where the machine has one (the shim finds it on the PCIe bus),
// exit 0 never does; without the device every exit is a PSCI power-off.
describe.skipIf(!findTool(TOOLS.qemuArm) || !findTool(TOOLS.clang))("exit on aarch64 without semihosting", () => {
  let exitCode: string, hello: string;
  const dir = scratchDir("stop-exit-arm");
  beforeAll(async () => {
    const b = (p: string, name: string) => buildImage(loadApp(join(ROOT, p)), { arch: "aarch64", outDir: join(ROOT, "build", "test-qemu", `${name}-aarch64`) }, quiet).then((r) => r.image);
    [hello, exitCode] = [await b("apps/hello", "hello"), await b("tests/kernels/exit-code", "exit-code")];
  }, 600_000);

  it("a failure is a pvpanic-pci event (the device behind a PCIe root port too); without one, a power-off with the code on the console", async () => {
    const r = await panicked(exitCode, ["-device", "pvpanic-pci"], join(dir, "panic.sock"), "aarch64");
    expect(r.status).toContain('"status": "guest-panicked"');
    expect(r.console).toContain("exit code 3\n");
    const behind = await panicked(exitCode, ["-device", "pcie-root-port,id=rp0,chassis=1", "-device", "pvpanic-pci,bus=rp0"], join(dir, "panic2.sock"), "aarch64");
    expect(behind.status).toContain('"status": "guest-panicked"');
    const none = await plainQemu(exitCode, [], "code=3", undefined, "aarch64");
    expect(none.status).toBe(0);
    expect(none.console).toMatch(/exit code 3\n$/);
  }, 120_000);

  it("exit 0 with a pvpanic-pci present is a power-off, not a panic", async () => {
    const r = await plainQemu(hello, ["-device", "pvpanic-pci"], undefined, undefined, "aarch64");
    expect(r.status).toBe(0);
    expect(r.console).toContain("goodbye\nexit code 0\n");
  }, 90_000);
});

/** The device tree with the first cell of property `name` replaced by `value` (sizes unchanged). */
function patchDtbCell(dtb: Buffer, name: string, value: number): Buffer {
  const out = Buffer.from(dtb);
  const offStruct = out.readUInt32BE(8), offStrings = out.readUInt32BE(12), sizeStruct = out.readUInt32BE(36);
  for (let pos = offStruct; pos + 4 <= offStruct + sizeStruct; ) {
    const tok = out.readUInt32BE(pos);
    pos += 4;
    if (tok === 1) pos = (out.indexOf(0, pos) + 4) & ~3; // BEGIN_NODE: its name, padded
    else if (tok === 3) { // PROP: len, nameoff, value
      const len = out.readUInt32BE(pos), nameoff = out.readUInt32BE(pos + 4);
      const at = offStrings + nameoff;
      if (out.toString("latin1", at, out.indexOf(0, at)) === name && len >= 4) {
        out.writeUInt32BE(value, pos + 8);
        return out;
      }
      pos = (pos + 8 + len + 3) & ~3;
    } else if (tok === 9) break;
  }
  throw new Error(`no property ${name} in the device tree`);
}

// The power button on each architecture: x86_64's is ACPI's (the FADT's PM1
// event block and the SCI, boot/x86_64/acpi.c), aarch64 virt's a gpio-keys
// key on a PL061 GPIO pin (boot/aarch64/gpio.c); both reach the kernel as the
// same stop line, and httpd's App.onStop ends it with exit 0. Pressed over
// QMP as libvirt's `virsh shutdown` does. On aarch64 also under GICv3, whose
// distributor routes the GPIO controller's SPI differently.
describe.each(TEST_ARCHES)("the power button on $arch", (a) => {
  if (!a.available) {
    it.skip(`needs qemu for ${a.arch} and clang`, () => {});
    return;
  }
  let httpd: string;
  const dir = scratchDir(`power-${a.arch}`);
  beforeAll(async () => {
    httpd = (await buildImage(loadApp(join(ROOT, "apps/httpd")), { arch: a.arch, outDir: join(ROOT, "build", "test-qemu", a.arch, "httpd-power") }, quiet)).image;
  }, 600_000);

  const machines = a.arch === "aarch64" ? ["virt", "virt-gicv3"] : ["pc"];
  it.each(machines)("system_powerdown stops httpd cleanly (machine %s): `uniwasm boot` returns 0", async (machine) => {
    const sock = join(dir, `pwr-${machine}.sock`);
    let events = "";
    let seen = "";
    const r = await boot({
      arch: a.arch, machine, image: httpd, memory: "64M", net: "user", timeout: 150,
      extraArgs: ["-qmp", `unix:${sock},server=on,wait=off`],
      onOutput: (s) => {
        seen += s;
        if (seen.includes("httpd: ready") && !events) {
          events = "pressing";
          void qmp(sock, ["qmp_capabilities", "system_powerdown"]).then((e) => { events = e; });
        }
      },
    });
    // httpd's App.onStop ends it (its counters follow), then the shim's exit line
    expect(r.output).toMatch(/stop requested: the app ends \(exit 0\)\n[^]*\nexit code 0\n/);
    expect(events).toContain("POWERDOWN");
    expect(r.exitCode).toBe(0);
  }, 200_000);

  // A power key naming a GPIO controller that is not there (the device tree
  // QEMU generates, with gpio-keys' gpios pointing at phandle 0x7777): the
  // shim says so, the kernel runs without a stop line, a press changes
  // nothing, and httpd ends by its own GET /quit.
  it.skipIf(a.arch !== "aarch64")("a power key naming no GPIO controller: a clear message, no stop line, the kernel unaffected", async () => {
    const dtb = join(dir, "virt.dtb"), bad = join(dir, "virt-badkey.dtb");
    const dump = spawnSync(requireTool("qemuArm"), ["-M", `virt,dumpdtb=${dtb}`, "-cpu", "cortex-a72", "-m", "64M", "-nodefaults", "-display", "none"], { encoding: "utf8" });
    expect(dump.status, dump.stderr).toBe(0);
    writeFileSync(bad, patchDtbCell(readFileSync(dtb), "gpios", 0x7777));
    const sock = join(dir, "pwr-badkey.sock");
    const port = await freePort();
    let seen = "";
    let driven: Promise<string> | undefined;
    const r = await boot({
      arch: a.arch, image: httpd, memory: "64M", net: "user", hostfwd: [`tcp:127.0.0.1:${port}-:80`], cmdline: "quit=1", timeout: 150,
      extraArgs: ["-dtb", bad, "-qmp", `unix:${sock},server=on,wait=off`],
      onOutput: (s) => {
        seen += s;
        if (seen.includes("httpd: ready") && !driven) {
          driven = (async () => {
            const e = await qmp(sock, ["qmp_capabilities", "system_powerdown"]);
            await new Promise((res) => setTimeout(res, 2000));
            await new Promise<void>((res, rej) => get(`http://127.0.0.1:${port}/quit`, (m) => { m.resume(); m.on("end", () => res()); }).on("error", rej));
            return e;
          })();
        }
      },
    });
    expect(await driven).toContain("POWERDOWN");
    expect(r.output).toContain("uniwasm: the device tree's power button (gpio-keys, KEY_POWER) names pin 3 of GPIO controller phandle 0x7777, not a pin of a PL061 with an SPI below 63 here: no stop request\n");
    expect(r.output).not.toContain("stop requested");
    expect(r.output).toContain("httpd: ok\n");
    expect(r.exitCode, r.output.slice(-2000)).toBe(0);
  }, 200_000);
});
