// `uniwasm boot`: runs an image under QEMU with the serial console on the
// terminal, and turns QEMU's exit status back into the guest's exit code.

import { spawn } from "node:child_process";
import { UserError } from "./errors.ts";
import { type Arch } from "./paths.ts";
import { requireTool } from "./toolchain.ts";

export interface BootOptions {
  arch: Arch;
  image: string;
  machine?: "pc" | "microvm" | "q35";
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
  /** Where the guest's console goes (default: this process's stdout). */
  onOutput?: (chunk: string) => void;
}

export interface BootResult {
  exitCode: number;
  output: string;
  /** Why the run ended, when it was not the guest's own exit. */
  reason?: string;
}

/** The guest writes its code to isa-debug-exit; QEMU exits with (code << 1) | 1. */
export const DEBUG_EXIT = "isa-debug-exit,iobase=0xf4,iosize=0x04";
export const EXIT_NO_CODE = 74; // the machine stopped without the guest choosing a code
export const EXIT_TIMEOUT = 124;

export function parseMemory(s: string): string {
  if (!/^\d+[KMG]?$/i.test(s)) throw new UserError(`--mem ${s}: expected a size such as 16M, 512M or 2G`);
  return s.toUpperCase();
}

export function qemuArgs(o: BootOptions): string[] {
  const machine = o.machine ?? "pc";
  const args = [
    // microvm without ACPI lists its virtio-mmio devices on the kernel command
    // line (virtio_mmio.device=...), the one discovery mechanism the drivers
    // share with the Node platform; with ACPI they are only in the DSDT (AML).
    "-M", machine === "microvm" ? "microvm,acpi=off" : machine,
    "-m", o.memory ?? "16M",
    "-cpu", "max",
    "-display", "none", "-vga", "none",
    "-serial", "stdio", "-monitor", "none",
    "-no-reboot", "-nodefaults",
    "-device", DEBUG_EXIT,
    "-kernel", o.image,
  ];
  if (machine === "microvm") {
    args.splice(args.indexOf("-vga"), 2);
    // QEMU 7.2's virtio-mmio speaks the legacy (version 1) register layout unless told otherwise
    args.push("-global", "virtio-mmio.force-legacy=false");
  }
  if (o.cmdline) args.push("-append", o.cmdline);
  const net = o.net ?? "none";
  if (net !== "none") {
    const fwd = (o.hostfwd ?? []).map((f) => `,hostfwd=${f}`).join("");
    if (net === "user") args.push("-netdev", `user,id=n0${fwd}`);
    else {
      if (!o.tap) throw new UserError("--net tap needs --tap <interface>");
      args.push("-netdev", `tap,id=n0,ifname=${o.tap},script=no,downscript=no`);
    }
    args.push("-device", machine === "microvm" ? "virtio-net-device,netdev=n0" : "virtio-net-pci,netdev=n0,disable-legacy=on");
    if (o.pcap) args.push("-object", `filter-dump,id=dump0,netdev=n0,file=${o.pcap}`);
  }
  return args.concat(o.extraArgs ?? []);
}

export function boot(o: BootOptions): Promise<BootResult> {
  const qemu = requireTool("qemuX86");
  const args = qemuArgs(o);
  return new Promise((resolve, reject) => {
    const [cmd, argv] = o.netns ? ["ip", ["netns", "exec", o.netns, qemu, ...args]] : [qemu, args];
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let stderr = "";
    let timedOut = false;
    const timer = o.timeout ? setTimeout(() => { timedOut = true; child.kill("SIGKILL"); }, o.timeout * 1000) : undefined;
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
      if (timedOut) return resolve({ exitCode: EXIT_TIMEOUT, output, reason: `timed out after ${o.timeout} s` });
      if (stderr.trim() && /qemu-system|could not|failed/i.test(stderr) && (status ?? 1) <= 1 && !output) {
        return reject(new UserError(`QEMU failed: ${stderr.trim()}\n  command: ${qemu} ${args.join(" ")}`));
      }
      if (signal) return resolve({ exitCode: EXIT_NO_CODE, output, reason: `QEMU was killed by ${signal}` });
      if (status !== null && status % 2 === 1) return resolve({ exitCode: status >> 1, output });
      resolve({ exitCode: EXIT_NO_CODE, output, reason: "the machine reset or powered off without an exit code (a triple fault?)" });
    });
  });
}
