// `uniwasm boot`: runs an image under QEMU with the serial console on the
// terminal, and turns QEMU's exit status back into the guest's exit code.

import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { checkImage, type CheckedImage } from "./image-format.ts";
import { UserError } from "./errors.ts";
import { ARCH, type Arch, type Transport } from "./arch.ts";
import { requireTool } from "./toolchain.ts";

export interface BootOptions {
  arch: Arch;
  image: string;
  /** A machine type of the architecture's table (tools/arch.ts); default its first. */
  machine?: string;
  /** How the network device attaches (default: the machine's usual transport). */
  transport?: Transport;
  memory?: string;
  cmdline?: string;
  net?: "none" | "user" | "tap";
  /** For --net user: "tcp:8080-:80" style forwards. */
  hostfwd?: string[];
  /** For --net tap: the host interface name. */
  tap?: string;
  /** Runs QEMU inside this network namespace (`ip netns exec`), where the TAP device lives. */
  netns?: string;
  /** Writes the guest's network traffic to this pcap file. */
  pcap?: string;
  /** Seconds before QEMU is killed (0: never). */
  timeout?: number;
  extraArgs?: string[];
  /** QEMU's gdbstub on 127.0.0.1:<port>, the CPU held until gdb connects and continues. */
  gdb?: number;
  /** KVM, TCG, or KVM when it works here (the default). */
  accel?: Accel;
  /** Stops QEMU (SIGTERM, waited for) when aborted; the result then says "stopped". */
  signal?: AbortSignal;
  /** One-line notes about the run (the accelerator chosen); default: this process's stderr. */
  onNotice?: (text: string) => void;
  /** Where the guest's console goes (default: this process's stdout). */
  onOutput?: (chunk: string) => void;
}

export interface BootResult {
  exitCode: number;
  output: string;
  /** Why the run ended, when it was not the guest's own exit. */
  reason?: string;
}

// Either architecture's exit mechanism (tools/arch.ts: isa-debug-exit,
// semihosting) makes QEMU exit with (code << 1) | 1; an even status means the
// machine stopped without the guest choosing a code.
export const EXIT_NO_CODE = 74; // the machine stopped without the guest choosing a code
export const EXIT_TIMEOUT = 124;

export function parseMemory(s: string): string {
  if (!/^\d+[KMG]?$/i.test(s)) throw new UserError(`--mem ${s}: expected a size such as 16M, 512M or 2G`);
  return s.toUpperCase();
}

export function qemuArgs(o: BootOptions & { accel?: "kvm" | "tcg" }): string[] {
  const arch = ARCH[o.arch];
  const name = o.machine ?? Object.keys(arch.machines)[0];
  const machine = arch.machines[name];
  if (!machine) throw new UserError(`--machine ${name}: ${o.arch} machines are ${Object.keys(arch.machines).join(", ")}`);
  const transport = o.transport ?? machine.transport;
  if (!machine.transports.includes(transport)) throw new UserError(`${name} has no virtio-${transport} transport (it has ${machine.transports.join(", ")})`);
  const args = [
    "-M", machine.qemu,
    "-m", o.memory ?? "16M",
    "-accel", o.accel === "kvm" ? "kvm" : "tcg",
    "-cpu", o.accel === "kvm" ? arch.cpu.kvm : arch.cpu.tcg,
    "-display", "none",
    "-serial", "stdio", "-monitor", "none",
    "-no-reboot", "-nodefaults",
    ...arch.exitArgs,
    ...machine.args,
    "-kernel", o.image,
  ];
  if (o.cmdline) args.push("-append", o.cmdline);
  const net = o.net ?? "none";
  if (net !== "none") {
    const fwd = (o.hostfwd ?? []).map((f) => `,hostfwd=${f}`).join("");
    if (net === "user") args.push("-netdev", `user,id=n0${fwd}`);
    else {
      if (!o.tap) throw new UserError("--net tap needs --tap <interface>");
      // QEMU's default vnet header on the TAP device lets virtio-net offer checksum and segmentation
      // offload (HOST_TSO4: 64 KiB TCP segments per descriptor chain); with a pcap it is off, so frames
      // cross the TAP device and the dump filter as plain Ethernet, without the virtio-net header.
      args.push("-netdev", `tap,id=n0,ifname=${o.tap},script=no,downscript=no${o.pcap ? ",vnet_hdr=off" : ""}`);
    }
    args.push("-device", transport === "mmio" ? "virtio-net-device,netdev=n0" : "virtio-net-pci,netdev=n0,disable-legacy=on");
    if (o.pcap) args.push("-object", `filter-dump,id=dump0,netdev=n0,file=${o.pcap}`);
  }
  if (o.gdb !== undefined) args.push("-gdb", `tcp:127.0.0.1:${o.gdb}`, "-S");
  return args.concat(o.extraArgs ?? []);
}

/** Exit codes of a run stopped by a signal: the shell's 128 + signal number. */
export const EXIT_SIGNAL: Record<"SIGINT" | "SIGTERM", number> = { SIGINT: 130, SIGTERM: 143 };
/** How long QEMU gets to exit after a forwarded signal before it is killed. */
const SIGNAL_GRACE_MS = 5000;

/**
 * Checks that `image` is one QEMU can boot for `arch` and that `memory` holds
 * it, or throws a UserError saying what the file is or how much it needs.
 * Whatever starts a machine from an image (boot, export) checks it here first.
 */
export function checkBootable(image: string, arch: Arch, memory: string): CheckedImage {
  const checked = checkImage(image, arch);
  if (sizeBytes(memory) < checked.minMemory) {
    throw new UserError(`--mem ${memory} is too little for ${image}: it needs at least ${checked.minMemory >> 20}M (its code, data and initial linear memory)`);
  }
  return checked;
}

/**
 * `ip netns exec` finds a namespace by its file in /run/netns. Without the
 * check, a missing one (or no root) ends `ip` with 255 before QEMU starts,
 * which would read as the guest's exit code 127.
 */
function checkNetns(ns: string): void {
  if (!existsSync(`/run/netns/${ns}`)) throw new UserError(`--netns ${ns}: no such network namespace (ip netns list shows them; ip netns add ${ns} makes one)`);
  if (process.getuid?.() !== 0) throw new UserError(`--netns ${ns}: running QEMU in a network namespace (ip netns exec) needs root`);
}

/**
 * What boot checks of the host, the image aside: the network namespace, the
 * accelerator, the forwarded ports and gdb's. `uniwasm boot <app>` asks
 * before it builds, so a taken port is said at once, not after the build.
 */
export async function checkHost(o: Pick<BootOptions, "arch" | "netns" | "accel" | "hostfwd" | "gdb">): Promise<ReturnType<typeof chooseAccel>> {
  if (o.netns !== undefined) checkNetns(o.netns);
  const accel = chooseAccel(o.accel ?? "auto", o.arch);
  for (const r of (o.hostfwd ?? []).map(parseHostfwd)) await checkPortFree(r);
  if (o.gdb !== undefined) await checkPortFree({ rule: String(o.gdb), proto: "tcp", hostAddr: "127.0.0.1", hostPort: o.gdb }, "--gdb");
  return accel;
}

/**
 * Runs the image under QEMU. Everything that can be checked first is: the
 * image's format and the RAM it needs, then the host (checkHost).
 * QEMU's own errors reject with a UserError (never a guest exit code);
 * SIGINT/SIGTERM to this process are forwarded to QEMU and waited for.
 */
export async function boot(o: BootOptions): Promise<BootResult> {
  const qemu = requireTool(ARCH[o.arch].qemu);
  const memory = o.memory ?? "16M";
  checkBootable(o.image, o.arch, memory);
  const accel = await checkHost(o);
  const rules = (o.hostfwd ?? []).map(parseHostfwd);
  if (accel.note) (o.onNotice ?? ((t) => process.stderr.write(`uniwasm: ${t}\n`)))(accel.note);
  const args = qemuArgs({ ...o, memory, accel: accel.accel });
  return new Promise((resolve, reject) => {
    const [cmd, argv] = o.netns ? ["ip", ["netns", "exec", o.netns, qemu, ...args]] : [qemu, args];
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let stderr = "";
    let timedOut = false;
    let stoppedBy: "SIGINT" | "SIGTERM" | undefined;
    const timer = o.timeout ? setTimeout(() => { timedOut = true; child.kill("SIGKILL"); }, o.timeout * 1000) : undefined;
    let grace: NodeJS.Timeout | undefined;
    const onSignal = (sig: "SIGINT" | "SIGTERM") => {
      stoppedBy ??= sig;
      child.kill(sig);
      grace ??= setTimeout(() => child.kill("SIGKILL"), SIGNAL_GRACE_MS);
    };
    const onInt = () => onSignal("SIGINT");
    const onTerm = () => onSignal("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    const onAbort = () => {
      aborted = true;
      onSignal("SIGTERM");
    };
    let aborted = false;
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      // the serial line ends in \r\n, and a chunk may end between the two
      const text = d.replace(/\r/g, "");
      output += text;
      (o.onOutput ?? ((t) => process.stdout.write(t)))(text);
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => { stderr += d; });
    child.on("error", (e) => reject(new UserError(`could not start ${qemu}: ${e.message}`)));
    child.on("close", (status, signal) => {
      if (timer) clearTimeout(timer);
      if (grace) clearTimeout(grace);
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      o.signal?.removeEventListener("abort", onAbort);
      const errors = qemuErrors(stderr);
      for (const line of stderr.split("\n")) if (line.trim() && !errors.includes(line) && !/terminating on signal|Terminated via GDBstub/.test(line)) process.stderr.write(line + "\n");
      if (aborted) return resolve({ exitCode: EXIT_SIGNAL.SIGTERM, output, reason: "stopped by its caller" });
      if (stoppedBy) return resolve({ exitCode: EXIT_SIGNAL[stoppedBy], output, reason: `stopped by signal ${stoppedBy}` });
      if (/Terminated via GDBstub/.test(stderr)) return resolve({ exitCode: EXIT_NO_CODE, output, reason: "stopped from gdb" });
      if (timedOut) return resolve({ exitCode: EXIT_TIMEOUT, output, reason: `timed out after ${o.timeout} s` });
      // QEMU's own failures exit 1, which is also the guest's exit(0) through isa-debug-exit: QEMU's message tells them apart
      if (errors.length && (status === 1 || status === 0)) return reject(new UserError(`QEMU failed: ${explainQemuError(errors, rules)}`));
      if (signal) return resolve({ exitCode: EXIT_NO_CODE, output, reason: `QEMU was killed by ${signal}` });
      if (status !== null && status % 2 === 1) return resolve({ exitCode: status >> 1, output });
      resolve({ exitCode: EXIT_NO_CODE, output, reason: "the machine reset or powered off without an exit code (a triple fault?)" });
    });
  });
}

/** QEMU's error lines (not its warnings, not the note of a forwarded signal). */
function qemuErrors(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /^qemu(-system-\w+)?: /.test(l) && !/warning:|terminating on signal|Terminated via GDBstub/.test(l));
}

/** QEMU's words, or ours where they mislead. */
function explainQemuError(errors: string[], rules: Hostfwd[]): string {
  const fwd = errors.map((l) => /Could not set up host forwarding rule '([^']*)'/.exec(l)?.[1]).find(Boolean);
  if (fwd) {
    const r = rules.find((x) => x.rule === fwd);
    return r ? busyPort(r) : `host forwarding rule ${fwd} could not be set up (its host port is in use, or the address is not this machine's)`;
  }
  return errors.map((l) => l.replace(/^qemu(-system-\w+)?: (-\w+ \S+: )?/, "")).join("; ");
}

export interface Hostfwd {
  rule: string;
  proto: "tcp" | "udp";
  hostAddr: string;
  hostPort: number;
}

const HOSTFWD = /^(tcp|udp):(\d{1,3}(?:\.\d{1,3}){3})?:(\d+)-(\d{1,3}(?:\.\d{1,3}){3})?:(\d+)$/;

/** Why a --hostfwd rule is malformed, or undefined. */
export function hostfwdProblem(rule: string): string | undefined {
  const m = HOSTFWD.exec(rule);
  if (!m) return "expected tcp|udp:[hostaddr]:hostport-[guestaddr]:guestport, e.g. tcp:127.0.0.1:8080-:80";
  for (const port of [m[3], m[5]]) if (Number(port) < 1 || Number(port) > 65535) return `port ${port} is out of range 1-65535`;
  return undefined;
}

export function parseHostfwd(rule: string): Hostfwd {
  const bad = hostfwdProblem(rule);
  if (bad) throw new UserError(`--hostfwd ${rule}: ${bad}`);
  const m = HOSTFWD.exec(rule)!;
  return { rule, proto: m[1] as "tcp" | "udp", hostAddr: m[2] ?? "", hostPort: Number(m[3]) };
}

function busyPort(r: Hostfwd, option = "--hostfwd"): string {
  return `${option} ${r.rule}: host port ${r.proto} ${r.hostAddr || "*"}:${r.hostPort} is already in use (another program, or a boot still running, holds it)`;
}

/** Binds the forwarded host port for a moment, as QEMU will, so a taken port is named before QEMU starts. */
async function checkPortFree(r: Hostfwd, option = "--hostfwd"): Promise<void> {
  const host = r.hostAddr || "0.0.0.0";
  const free = await new Promise<boolean | string>((done) => {
    if (r.proto === "tcp") {
      const srv = createServer();
      srv.once("error", (e: any) => done(e.code === "EADDRINUSE" ? false : e.code));
      srv.listen({ host, port: r.hostPort, exclusive: true }, () => srv.close(() => done(true)));
    } else {
      const sock = createSocket("udp4");
      sock.once("error", (e: any) => done(e.code === "EADDRINUSE" ? false : e.code));
      sock.bind({ address: host, port: r.hostPort, exclusive: true }, () => sock.close(() => done(true)));
    }
  });
  if (free === false) throw new UserError(busyPort(r, option));
  if (free !== true) throw new UserError(`${option} ${r.rule}: cannot listen on ${host}:${r.hostPort} (${free})`);
}

export const ACCELS = ["auto", "kvm", "tcg"] as const;
export type Accel = (typeof ACCELS)[number];

/**
 * The accelerator for a run. "kvm" needs a /dev/kvm this process can open
 * and a CPU with hardware virtualisation; "auto" takes KVM when both hold and
 * TCG otherwise, saying why. A nested KVM without VMX/SVM (this project's
 * build host) opens /dev/kvm but cannot run the images, so the CPU flags are
 * checked too.
 */
export function chooseAccel(want: Accel, arch: Arch = "x86_64"): { accel: "kvm" | "tcg"; note?: string } {
  if (want === "tcg") return { accel: "tcg" };
  if (process.arch !== ARCH[arch].hostArch) {
    // another architecture: TCG is the only way, nothing to say unless KVM was asked for
    if (want === "kvm") throw new UserError(`--accel kvm: the host is ${process.arch}, the image ${arch}: KVM runs only the host's own architecture (use --accel tcg)`);
    return { accel: "tcg" };
  }
  const why = kvmProblem();
  if (!why) return { accel: "kvm" };
  if (want === "kvm") throw new UserError(`--accel kvm: KVM is not usable here: ${why} (use --accel tcg)`);
  return { accel: "tcg", note: `running under TCG, QEMU's emulator: KVM is not usable here (${why})` };
}

function kvmProblem(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (!existsSync("/dev/kvm")) return "no /dev/kvm";
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return "/dev/kvm is not readable and writable by this user (add it to group kvm)";
  }
  let cpuinfo = "";
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return undefined;
  }
  if (process.arch === "x64" && !/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) return "/dev/kvm exists but the CPU shows no VMX/SVM, as under a nested paravirtual KVM";
  return undefined;
}

/** Bytes of a size such as 16M (already checked by parseMemory). */
export function sizeBytes(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (!m) throw new UserError(`--mem ${s}: expected a size such as 16M, 512M or 2G`);
  return Number(m[1]) * { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as "" | "K" | "M" | "G"];
}
