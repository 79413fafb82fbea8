// A server kernel running while a test's host-side clients talk to it: on
// QEMU (user networking with a host port forward, or a TAP device in a
// network namespace) or on the Node platform's simulated network
// (`uniwasm node --net sim --hostfwd`, under the real clock). The same
// client code then runs against each.
import { spawn, spawnSync } from "node:child_process";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { boot, type BootResult } from "../../tools/qemu.ts";
import { type Arch } from "../../tools/arch.ts";
import { ROOT } from "../../tools/paths.ts";
import type { TapNet } from "./tap.ts";

export interface Guest {
  host: string;
  port: number;
  /** Everything the kernel printed so far. */
  output(): string;
  /** Resolves once the console matches `re` (rejects if the guest ends first or after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** The end of the run: the guest's own exit, or its time-out. */
  done: Promise<BootResult>;
  /** Runs a host-side command where the guest is reachable (inside the namespace for TAP). */
  exec(cmd: string[], timeoutMs?: number): Promise<string>;
  /** Stops the guest now. */
  stop(): void;
  /** Presses the machine's power button (QEMU's system_powerdown, as `virsh shutdown`: ACPI on x86_64, gpio-keys on aarch64): the kernel ends itself cleanly. */
  powerButton?(): Promise<void>;
}

/** QEMU's QMP on a Unix socket, for system_powerdown. */
function qmpArgs(): { path: string; args: string[]; press: () => Promise<void> } {
  const path = join(tmpdir(), `uniwasm-qmp-${process.pid}-${Math.random().toString(36).slice(2)}.sock`);
  const press = () => new Promise<void>((resolve, reject) => {
    const s = createConnection(path);
    let buf = "";
    s.on("data", (d) => {
      buf += d;
      if (buf.includes('"QMP"') && !buf.includes("sent")) {
        buf += "sent";
        s.write('{"execute":"qmp_capabilities"}\n{"execute":"system_powerdown"}\n');
      }
      if ((buf.match(/"return"/g) ?? []).length >= 2) { s.end(); resolve(); }
    });
    // The kernel may end, and QEMU with it, before the second answer is read:
    // once the press is sent, a closed or reset socket is that end.
    s.on("close", () => (buf.includes("sent") ? resolve() : reject(new Error("QMP closed before the power button was pressed"))));
    s.on("error", (e) => (buf.includes("sent") ? resolve() : reject(e)));
  });
  return { path, args: ["-qmp", `unix:${path},server=on,wait=off`], press };
}

function watch(done: Promise<BootResult>, read: () => string): Guest["waitFor"] {
  let ended = false;
  done.then(() => (ended = true), () => (ended = true));
  return async (re, ms = 300_000) => {
    const t0 = Date.now();
    while (!re.test(read())) {
      if (ended) throw new Error(`the guest ended before printing ${re}:\n${read().slice(-3000)}`);
      if (Date.now() - t0 > ms) throw new Error(`no ${re} within ${ms} ms:\n${read().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
}

/** Runs a host-side program (with `input` on its stdin); its stdout, or an error with its stderr. */
export async function runCommand(cmd: string[], input = "", timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd[0], cmd.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("close", (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd.join(" ").slice(0, 200)}: exit ${code}\n${err.slice(-2000)}\n${out.slice(-2000)}`));
    });
    p.stdin.on("error", () => {}); // a program may exit without reading all its input
    p.stdin.end(input);
  });
}
const run = (cmd: string[], timeoutMs?: number) => runCommand(cmd, "", timeoutMs);

/**
 * The kernel image `image` (built for `arch`) on QEMU's user networking,
 * guestPort forwarded from 127.0.0.1:hostPort. `behindRootPort`: the NIC sits
 * on the bus behind a pcie-root-port instead of the root bus (machines with
 * PCIe: aarch64 virt, x86_64 q35).
 */
export function qemuUser(image: string, guestPort: number, hostPort: number, cmdline: string, memory: string, timeoutS: number, arch: Arch = "x86_64", behindRootPort = false): Guest {
  let out = "";
  const ac = new AbortController();
  const qmp = qmpArgs();
  const fwd = `tcp:127.0.0.1:${hostPort}-:${guestPort}`;
  const nic = behindRootPort
    ? { net: "none" as const, args: ["-netdev", `user,id=n0,hostfwd=${fwd}`, "-device", "pcie-root-port,id=rp0,chassis=1", "-device", "virtio-net-pci,bus=rp0,netdev=n0,disable-legacy=on"] }
    : { net: "user" as const, hostfwd: [fwd], args: [] };
  const done = boot({ arch, image, memory, net: nic.net, hostfwd: nic.hostfwd, cmdline, timeout: timeoutS, signal: ac.signal, extraArgs: [...nic.args, ...qmp.args], onOutput: (s) => (out += s), onNotice: () => {} });
  return { host: "127.0.0.1", port: hostPort, output: () => out, waitFor: watch(done, () => out), done, exec: run, stop: () => ac.abort(), powerButton: qmp.press };
}

export function qemuTap(image: string, net: TapNet, guestIp: string, guestPort: number, cmdline: string, memory: string, timeoutS: number, arch: Arch = "x86_64"): Guest {
  let out = "";
  const ac = new AbortController();
  const done = boot({ arch, image, memory, net: "tap", tap: net.tap, netns: net.ns, cmdline, timeout: timeoutS, signal: ac.signal, onOutput: (s) => (out += s), onNotice: () => {} });
  return { host: guestIp, port: guestPort, output: () => out, waitFor: watch(done, () => out), done, exec: (cmd, ms = 60_000) => net.execAsync(cmd, ms), stop: () => ac.abort() };
}

/** `uniwasm node <app> --net sim --hostfwd ...` as a child process (`moreForwards`: further --hostfwd rules). */
export function nodeSim(app: string, files: string | undefined, guestPort: number, hostPort: number, cmdline: string, memory: string, timeoutS: number, moreForwards: string[] = []): Guest {
  let out = "";
  const args = [join(ROOT, "tools/cli.js"), "node", app, "--net", "sim", "--clock", "real", "--mem", memory, "--hostfwd", `tcp:127.0.0.1:${hostPort}-:${guestPort}`, "--append", cmdline];
  for (const f of moreForwards) args.push("--hostfwd", f);
  if (files) args.push("--files", files);
  const p = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  p.stdout.on("data", (d) => (out += d));
  p.stderr.on("data", (d) => (out += d));
  const t = setTimeout(() => p.kill("SIGTERM"), timeoutS * 1000);
  const done = new Promise<BootResult>((resolve) => p.on("close", (code) => {
    clearTimeout(t);
    resolve({ exitCode: code ?? 143, output: out });
  }));
  return { host: "127.0.0.1", port: hostPort, output: () => out, waitFor: watch(done, () => out), done, exec: run, stop: () => p.kill("SIGTERM") };
}

/** Whether a program is on PATH (the clients a test needs). */
export function findOnPath(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

export { freePort } from "./ports.ts";
