// The uniwasm command line: the verbs behind the npm scripts and the `uniwasm` bin.

import { existsSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { Machine } from "../host/machine.ts";
import { DhcpServer } from "../host/netsim/dhcp-server.ts";
import { Network } from "../host/netsim/index.ts";
import { PcapWriter } from "../host/pcap.ts";
import { attachVirtioMmio } from "../host/virtio/attach.ts";
import { VirtioNet } from "../host/virtio/net.ts";
import { loadApp, type App } from "./app.ts";
import { StageCache } from "./cache.ts";
import { UserError } from "./errors.ts";
import { BOUNDS_CHECKS, buildImage, type BoundsChecks, type ImageOptions } from "./image.ts";
import { ARCHES, ROOT, type Arch } from "./paths.ts";
import { boot, parseMemory, type BootOptions } from "./qemu.ts";
import { ensureTools, type ToolName } from "./toolchain.ts";
import { buildWasm, type Log } from "./wasm-build.ts";

const USAGE = `usage: uniwasm <verb> [options]

  image <app> [--arch x86_64] [--out <dir>] [--bounds guard|explicit]
                                                  build a bootable image of an app folder
  boot <app|image> [--arch x86_64] [--machine pc|microvm] [--mem 16M]
       [--net none|user|tap] [--tap <if>] [--netns <ns>] [--hostfwd tcp:8080-:80] [--pcap <file>]
       [--append <cmdline>] [--timeout <s>] [--out <dir>] [-- <extra qemu args>]
                                                  boot it in QEMU; exits with the guest's code
  node <app> [--mem 16M] [--append <cmdline>] [--seed N] [--clock virtual|real] [--net none|sim] [--pcap <file>]
                                                  run the app's wasm on the Node platform
  start [app]                                     install what is missing, build and boot (default apps/hello)
  setup                                           install the native toolchain from Debian's packages
  test [vitest args]                              install what is missing and run the test suite
  bench                                           run the benchmarks (see bench/README.md)`;

interface Parsed {
  positional: string[];
  flags: Map<string, string[]>;
  rest: string[];
}

const VALUE_FLAGS = new Set(["--bounds", "--arch", "--out", "--machine", "--mem", "--net", "--tap", "--netns", "--hostfwd", "--pcap", "--append", "--timeout", "--seed", "--clock"]);

function parse(argv: string[]): Parsed {
  const p: Parsed = { positional: [], flags: new Map(), rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      p.rest = argv.slice(i + 1);
      break;
    }
    if (a.startsWith("--")) {
      const [k, inline] = a.split(/=(.*)/s, 2);
      if (!VALUE_FLAGS.has(k)) throw new UserError(`unknown option ${k}\n\n${USAGE}`);
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UserError(`${k} needs a value`);
      p.flags.set(k, [...(p.flags.get(k) ?? []), v]);
    } else p.positional.push(a);
  }
  return p;
}

function one(p: Parsed, flag: string, allowed?: readonly string[]): string | undefined {
  const v = p.flags.get(flag);
  if (!v) return undefined;
  if (v.length > 1) throw new UserError(`${flag} given more than once`);
  if (allowed && !allowed.includes(v[0])) throw new UserError(`${flag} ${v[0]}: expected one of ${allowed.join(", ")}`);
  return v[0];
}

const consoleLog: Log = {
  stage: (name, detail, cached) => process.stderr.write(`  ${name.padEnd(9)} ${detail}${cached ? "  (unchanged, reused)" : ""}\n`),
  info: (text) => process.stderr.write(`  ${text}\n`),
};

function archOf(p: Parsed): Arch {
  return (one(p, "--arch", ARCHES) ?? "x86_64") as Arch;
}

/** What the image builder needs besides the app: from the flags, then the app's settings. */
function imageOptions(p: Parsed, app: App, arch: Arch): ImageOptions {
  const bounds = (one(p, "--bounds", BOUNDS_CHECKS) ?? app.config.bounds ?? "guard") as BoundsChecks;
  if (!BOUNDS_CHECKS.includes(bounds)) throw new UserError(`${app.name}/uniwasm.json: bounds "${bounds}": expected one of ${BOUNDS_CHECKS.join(", ")}`);
  return { arch, outDir: outDirOf(p, app, arch), bounds };
}

function outDirOf(p: Parsed, app: App, arch: string): string {
  return resolve(one(p, "--out") ?? join("build", app.name, arch));
}

function needApp(p: Parsed, verb: string): App {
  if (p.positional.length !== 1) throw new UserError(`${verb} takes exactly one app folder\n\n${USAGE}`);
  return loadApp(p.positional[0]);
}

async function cmdImage(p: Parsed): Promise<number> {
  const app = needApp(p, "image");
  const arch = archOf(p);
  const out = outDirOf(p, app, arch);
  process.stderr.write(`uniwasm: building ${relative(process.cwd(), app.dir) || app.name} for ${arch} in ${relative(process.cwd(), out)}\n`);
  const r = await buildImage(app, imageOptions(p, app, arch), consoleLog);
  process.stderr.write(`uniwasm: image ${relative(process.cwd(), r.image)}\n`);
  return 0;
}

async function cmdBoot(p: Parsed): Promise<number> {
  if (p.positional.length !== 1) throw new UserError(`boot takes exactly one app folder or image\n\n${USAGE}`);
  const target = p.positional[0];
  const arch = archOf(p);
  // every option is checked before anything is built
  const timeout = one(p, "--timeout");
  if (timeout !== undefined && !/^\d+(\.\d+)?$/.test(timeout)) throw new UserError(`--timeout ${timeout}: expected seconds`);
  const mem = one(p, "--mem");
  if (mem !== undefined) parseMemory(mem);
  const machine = one(p, "--machine", ["pc", "microvm", "q35"]) as BootOptions["machine"];
  const net = one(p, "--net", ["none", "user", "tap"]) as BootOptions["net"];
  const isImage = existsSync(target) && statSync(target).isFile();
  const app = isImage ? undefined : loadApp(target);
  const image = app ? (await buildImage(app, imageOptions(p, app, arch), consoleLog)).image : target;
  const r = await boot({
    arch,
    image,
    machine,
    memory: parseMemory(mem ?? app?.config.memory ?? "16M"),
    cmdline: one(p, "--append") ?? app?.config.cmdline,
    net,
    tap: one(p, "--tap"),
    netns: one(p, "--netns"),
    hostfwd: p.flags.get("--hostfwd"),
    pcap: one(p, "--pcap"),
    timeout: timeout ? Number(timeout) : 0,
    extraArgs: p.rest,
  });
  if (r.reason) process.stderr.write(`uniwasm: ${r.reason}\n`);
  process.stderr.write(`uniwasm: guest exited with code ${r.exitCode}\n`);
  return r.exitCode;
}

async function cmdNode(p: Parsed): Promise<number> {
  const app = needApp(p, "node");
  const out = resolve(one(p, "--out") ?? join("build", app.name, "wasm"));
  const wasm = await buildWasm(app, out, new StageCache(join(out, ".stages.json")), consoleLog);
  const mem = parseMemory(one(p, "--mem") ?? app.config.memory ?? "16M");
  const seed = one(p, "--seed");
  if (seed !== undefined && !/^\d+$/.test(seed)) throw new UserError(`--seed ${seed}: expected a non-negative integer`);
  const machine = new Machine({
    memory: memoryBytes(mem),
    cmdline: one(p, "--append") ?? app.config.cmdline,
    seed: seed ? BigInt(seed) : undefined,
    clock: (one(p, "--clock", ["virtual", "real"]) ?? "virtual") as "virtual" | "real",
  });
  const net = one(p, "--net", ["none", "sim"]);
  const pcap = one(p, "--pcap");
  if (pcap && net !== "sim") throw new UserError("--pcap needs --net sim on the Node platform");
  if (net === "sim") attachSimulatedNetwork(machine, pcap);
  const r = await machine.run(readFileSync(wasm.wasm));
  if (pcap) process.stderr.write(`uniwasm: network traffic written to ${pcap}\n`);
  process.stderr.write(`uniwasm: kernel exited with code ${r.exitCode}\n`);
  return r.exitCode;
}

/**
 * A virtio-net NIC on a simulated network shaped like QEMU's user networking:
 * a DHCP server at 10.0.2.2 handing out 10.0.2.15, which also answers DNS,
 * so an app that runs under `boot --net user` runs here unchanged.
 */
function attachSimulatedNetwork(machine: Machine, pcap?: string): void {
  const net = new Network(machine, { seed: 1n });
  const server = new DhcpServer(net, { serverIp: "10.0.2.2", router: "10.0.2.2", dns: "10.0.2.2", first: "10.0.2.15", mac: "52:55:0a:00:02:02" });
  const nic = new VirtioNet(machine, { mac: "52:54:00:12:34:56" });
  nic.connect(net.port("nic"));
  const link = net.connect(nic.port!, server.host.port, { latencyNs: 100_000 });
  attachVirtioMmio(machine, nic);
  if (pcap) {
    const w = new PcapWriter({ resolution: "ns" });
    link.tee(w);
    process.once("exit", () => w.save(pcap));
  }
}

export function memoryBytes(s: string): number {
  const m = /^(\d+)([KMG]?)$/.exec(s)!;
  return Number(m[1]) * { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2] as "" | "K" | "M" | "G"];
}

const NATIVE: ToolName[] = ["clang", "lld", "objcopy", "qemuX86"];

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  const log = (s: string) => process.stderr.write(`uniwasm: ${s}\n`);
  switch (verb) {
    case "image":
      return cmdImage(parse(rest));
    case "boot":
      return cmdBoot(parse(rest));
    case "node":
      return cmdNode(parse(rest));
    case "setup":
      ensureTools(NATIVE, log);
      log("toolchain ready");
      return 0;
    case "start": {
      ensureTools(NATIVE, log);
      return cmdBoot(parse([rest[0] ?? join(ROOT, "apps/hello"), "--timeout", "120", ...rest.slice(1)]));
    }
    case "test": {
      ensureTools([...NATIVE, "ping", "ip", "curl"], log);
      const r = spawnSync(process.execPath, [join(ROOT, "node_modules/vitest/vitest.mjs"), "run", ...rest], { stdio: "inherit", cwd: ROOT });
      return r.status ?? 1;
    }
    case "bench": {
      const { runTypeScript } = await import("./launch.js");
      process.argv = [process.argv[0], "bench", ...rest];
      await runTypeScript(join(ROOT, "bench/run.ts"));
      return process.exitCode ?? 0;
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE + "\n");
      return verb ? 0 : 2;
    default:
      throw new UserError(`unknown verb "${verb}"\n\n${USAGE}`, 2);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof UserError) {
      process.stderr.write(`uniwasm: ${e.message}\n`);
      process.exit(e.exitCode);
    }
    process.stderr.write(`uniwasm: internal error: ${e?.stack ?? e}\n`);
    process.exit(70);
  },
);
