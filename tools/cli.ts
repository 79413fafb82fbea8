// The uniwasm command line: the verbs behind the npm scripts and the `uniwasm` bin.
// Each verb is one entry of VERBS (tools/verbs.ts reads the table: parsing,
// help, errors); a new verb or option is a new entry there.

import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { constants as osConstants } from "node:os";
import { Machine } from "../host/machine.ts";
import { loadApp, type App } from "./app.ts";
import { StageCache } from "./cache.ts";
import { UserError } from "./errors.ts";
import { BOUNDS_CHECKS, buildImage, PROFILES, profileAscLevel, stopBuildProcesses, type BoundsChecks, type ImageOptions, type Profile } from "./image.ts";
import { ARCH, ARCHES, MACHINES, type Arch } from "./arch.ts";
import { imageArch } from "./image-format.ts";
import { packageVersion, ROOT } from "./paths.ts";
import { ACCELS, boot, checkBootable, checkHost, EXIT_SIGNAL, hostfwdProblem, parseMemory, sizeBytes, type Accel, type BootOptions } from "./qemu.ts";
import { createProject, dependencyNear, findTemplate, TEMPLATES } from "./new.ts";
import { checkName, domainXml, networkXml } from "./libvirt.ts";
import { ensureTools, type ToolName } from "./toolchain.ts";
import { buildWasm, type Log } from "./wasm-build.ts";
import { cmdExperiment, cmdHunt, hostfwdCheck, runNodeSim, SIM_OPT } from "./sim-cli.ts";
import { EXIT_USAGE, one, overview, parseArgs, suggest, usageError, verbHelp, type OptionSpec, type Parsed, type VerbSpec } from "./verbs.ts";

const consoleLog: Log = {
  stage: (name, detail, cached) => process.stderr.write(`  ${name.padEnd(9)} ${detail}${cached ? "  (unchanged, reused)" : ""}\n`),
  info: (text) => process.stderr.write(`  ${text}\n`),
};

const sizeCheck = (v: string) => (/^\d+[KMG]?$/i.test(v) ? undefined : "expected a size such as 16M, 512M or 2G");
const intCheck = (v: string) => (/^\d+$/.test(v) ? undefined : "expected a non-negative integer");
const secondsCheck = (v: string) => (/^\d+(\.\d+)?$/.test(v) ? undefined : "expected seconds");

// Options several verbs share, so each is described once.
const OPT = {
  arch: { name: "--arch", value: "<arch>", choices: ARCHES, default: "the app's uniwasm.json \"arch\", else x86_64", help: "the machine architecture to build for" },
  out: { name: "--out", value: "<dir>", help: "where the build's files go", default: "build/<app>/<arch>" },
  bounds: { name: "--bounds", value: "<mode>", choices: BOUNDS_CHECKS, default: "guard", help: "how wasm memory accesses are bounds-checked (docs/architecture.md)" },
  mem: { name: "--mem", value: "<size>", check: sizeCheck, help: "RAM of the machine, e.g. 16M, 512M, 2G", default: "the app's uniwasm.json, else 16M" },
  append: { name: "--append", value: "<cmdline>", help: "the kernel command line (ip=, gw=, dns=, the app's own arguments)" },
  profile: { name: "--profile", value: "<name>", choices: PROFILES, default: "release", help: "dev: a faster build of slower code (asc -O0: every function kept for gdb; wasm2c's C at -O0), in build/<app>/<arch>-dev and build/<app>/wasm-dev" },
  files: { name: "--files", value: "<dir>", help: "bake a folder into the kernel as read-only files (kernel/files.ts)", default: "the app's uniwasm.json \"files\", else none" },
} satisfies Record<string, OptionSpec>;

/** --arch, else the app's uniwasm.json "arch", else x86_64. */
function archOf(p: Parsed, app: App | undefined): Arch {
  const arch = one(p, "--arch") ?? app?.config.arch ?? "x86_64";
  if (!(ARCHES as readonly string[]).includes(arch)) throw new UserError(`${app?.name}/uniwasm.json: arch "${arch}": expected one of ${ARCHES.join(", ")}`);
  return arch as Arch;
}

/** --arch, else the architecture the image is built for (boot's image check
 * refuses a mismatch, or a file that is no image, with what it is). */
function imageArchOf(p: Parsed, image: string): Arch {
  return (one(p, "--arch") ?? imageArch(image) ?? "x86_64") as Arch;
}

/** What the image builder needs besides the app: from the flags, then the app's settings. */
function imageOptions(p: Parsed, app: App, arch: Arch): ImageOptions {
  const bounds = (one(p, "--bounds") ?? app.config.bounds ?? "guard") as BoundsChecks;
  if (!BOUNDS_CHECKS.includes(bounds)) throw new UserError(`${app.name}/uniwasm.json: bounds "${bounds}": expected one of ${BOUNDS_CHECKS.join(", ")}`);
  const profile = (one(p, "--profile") ?? "release") as Profile;
  // without --out, the wasm stages are shared with `uniwasm node` (build/<app>/wasm)
  const wasmDir = one(p, "--out") ? undefined : resolve(wasmDirOf(app, profile));
  return { arch, outDir: outDirOf(p, app, arch), bounds, files: one(p, "--files"), profile, wasmDir };
}

function outDirOf(p: Parsed, app: App, arch: string): string {
  return resolve(one(p, "--out") ?? join("build", app.name, arch + profileSuffix(p)));
}

function profileSuffix(p: Parsed): string {
  const profile = one(p, "--profile") ?? "release";
  return profile === "release" ? "" : `-${profile}`;
}

function wasmDirOf(app: App, profile: Profile): string {
  return join("build", app.name, profile === "release" ? "wasm" : `wasm-${profile}`);
}

async function cmdImage(p: Parsed): Promise<number> {
  const app = loadApp(p.positional[0]);
  const arch = archOf(p, app);
  const out = outDirOf(p, app, arch);
  process.stderr.write(`uniwasm: building ${relative(process.cwd(), app.dir) || app.name} for ${arch} in ${relative(process.cwd(), out)}\n`);
  const r = await buildImage(app, imageOptions(p, app, arch), consoleLog);
  process.stderr.write(`uniwasm: image ${relative(process.cwd(), r.image)}\n`);
  return 0;
}

async function cmdBoot(p: Parsed): Promise<number> {
  const target = p.positional[0];
  const timeout = one(p, "--timeout");
  const mem = one(p, "--mem");
  const isImage = existsSync(target) && statSync(target).isFile();
  if (isImage) refuseBuildOptions(p, target);
  const app = isImage ? undefined : loadApp(target);
  const arch = app ? archOf(p, app) : imageArchOf(p, target);
  const gdb = one(p, "--gdb");
  const host = { arch, netns: one(p, "--netns"), accel: one(p, "--accel") as Accel | undefined, hostfwd: p.flags.get("--hostfwd"), gdb: gdb !== undefined ? Number(gdb) : undefined };
  if (app) await checkHost(host); // before a build that may take a while (boot checks again)
  const built = app ? await buildImage(app, imageOptions(p, app, arch), consoleLog) : undefined;
  const image = built?.image ?? target;
  if (gdb !== undefined) printGdbCommand(Number(gdb), built?.gdbElf ?? join(dirname(resolve(target)), "kernel.gdb.elf"));
  const r = await boot({
    image,
    machine: one(p, "--machine"),
    transport: one(p, "--transport") as BootOptions["transport"],
    memory: parseMemory(mem ?? app?.config.memory ?? "16M"),
    cmdline: one(p, "--append") ?? app?.config.cmdline,
    net: one(p, "--net") as BootOptions["net"],
    tap: one(p, "--tap"),
    pcap: one(p, "--pcap"),
    timeout: timeout ? Number(timeout) : 0,
    extraArgs: p.rest,
    ...host,
  });
  process.stderr.write(r.reason ? `uniwasm: ${r.reason} (exit ${r.exitCode})\n` : `uniwasm: guest exited with code ${r.exitCode}\n`);
  return r.exitCode;
}

/** The options of the build, which an image given instead of an app folder has had already. */
const BUILD_OPTIONS: OptionSpec[] = [OPT.out, OPT.bounds, OPT.files, OPT.profile];

/** An image was built with its own settings: a build option given with one would be ignored, so it is refused. */
function refuseBuildOptions(p: Parsed, image: string): void {
  const o = p.verb.options.filter((spec) => BUILD_OPTIONS.includes(spec)).map((spec) => spec.name).find((name) => p.given.has(name));
  if (o) throw usageError(p.verb, `${o} applies to building an app, and ${image} is an image already built (give the app's folder with ${o})`);
}

/** The first of `file` (others may not read it) and its folders (others may not enter them), or undefined. */
function unreadableByOthers(file: string): string | undefined {
  if (!(statSync(file).mode & 0o004)) return `${file} is not readable by other users`;
  for (let d = dirname(file); ; d = dirname(d)) {
    if (!(statSync(d).mode & 0o001)) return `${d} cannot be entered by other users`;
    if (dirname(d) === d) return undefined;
  }
}

/** `uniwasm export --libvirt`: domain XML (stdout, or files with --out); docs/deploying.md. */
async function cmdExport(p: Parsed): Promise<number> {
  if (!p.flags.has("--libvirt")) throw new UserError("export: say which format: --libvirt (the only one so far)");
  const target = p.positional[0];
  const isImage = existsSync(target) && statSync(target).isFile();
  if (isImage) refuseBuildOptions(p, target);
  const app = isImage ? undefined : loadApp(target);
  const arch = app ? archOf(p, app) : imageArchOf(p, target);
  const name = checkName("--name", one(p, "--name") ?? (app ? app.name : basename(target).replace(/\.[^.]*$/, "")));
  const memory = parseMemory(one(p, "--mem") ?? app?.config.memory ?? "64M");
  const isolated = one(p, "--isolated-network");
  const network = one(p, "--network") ?? (isolated ? "uniwasm" : undefined);
  const out = one(p, "--out");
  if (isolated && !out) throw new UserError("--isolated-network writes a second file: give --out <dir>");
  let image = resolve(app ? (await buildImage(app, imageOptions(p, app, arch), consoleLog)).image : target);
  checkBootable(image, arch, memory);
  const cons = resolve(one(p, "--console") ?? (out ? join(out, `${name}.console`) : `/var/log/libvirt/qemu/${name}.console`));
  if (out) {
    mkdirSync(out, { recursive: true });
    // the domain names its own copy, so a later build does not change a defined domain's kernel
    const copy = resolve(out, `${name}.img`);
    if (copy !== image) copyFileSync(image, copy);
    image = copy;
  }
  const closed = unreadableByOthers(image);
  if (closed) log(`warning: ${closed}: libvirt's QEMU runs as its own user (libvirt-qemu on Debian) and the domain turns relabelling off, so QEMU will not be able to read the kernel; chmod o+r the image and o+x its folders, or export with --out to a folder that is`);
  const xml = domainXml({ name, arch, image, memory, cmdline: one(p, "--append") ?? app?.config.cmdline, network, bridge: one(p, "--bridge"), console: cons, accel: one(p, "--accel") as "tcg" | "kvm" | undefined });
  if (!out) {
    process.stdout.write(xml);
    return 0;
  }
  const files = [join(out, `${name}.xml`)];
  writeFileSync(files[0], xml);
  if (isolated) {
    files.push(join(out, `${network}.network.xml`));
    writeFileSync(files[1], networkXml({ name: network!, bridge: `uw-${network}`.slice(0, 15), address: isolated }));
  }
  const shown = (f: string) => (relative(process.cwd(), f).startsWith("..") ? f : relative(process.cwd(), f));
  log(`wrote ${files.map(shown).join(" and ")}; the kernel is ${shown(image)}, the console goes to ${shown(cons)}`);
  const nx = isolated ? `virsh net-create ${shown(files[1])} && ` : "";
  process.stdout.write(`next:\n  ${nx}virsh create ${shown(files[0])}\n  virsh shutdown ${name}   # or: virsh destroy ${name}\n`);
  return 0;
}

/** The gdb command line that attaches to QEMU's gdbstub with AssemblyScript's names (tools/gdb/uniwasm.py). */
function printGdbCommand(port: number, elf: string): void {
  const script = join(ROOT, "tools", "gdb", "uniwasm.py");
  const missing = existsSync(elf) ? "" : ` (${elf} is missing: build the image with uniwasm image to get it)`;
  log(`QEMU waits for gdb on 127.0.0.1:${port}${missing}; from another terminal:`);
  process.stderr.write(`  gdb -q -x ${script} -ex 'target remote 127.0.0.1:${port}' ${elf}\n`);
}

async function cmdNode(p: Parsed): Promise<number> {
  const app = loadApp(p.positional[0]);
  const profile = (one(p, "--profile") ?? "release") as Profile;
  const out = resolve(one(p, "--out") ?? wasmDirOf(app, profile));
  const net = one(p, "--net");
  const simulated = net === "sim" || one(p, "--until") !== undefined;
  const wasm = await buildWasm(app, out, new StageCache(join(out, ".stages.json")), consoleLog, { files: one(p, "--files"), simulation: simulated, optimizeLevel: profileAscLevel(profile) });
  const mem = parseMemory(one(p, "--mem") ?? app.config.memory ?? "16M");
  const seed = one(p, "--seed");
  const settings = {
    memory: sizeBytes(mem),
    cmdline: one(p, "--append") ?? app.config.cmdline,
    seed: seed ? BigInt(seed) : undefined,
  };
  // on a simulated network, or with a virtual-time limit: the kernel runs as a
  // coroutine of a World, so signals and host connections are served meanwhile
  if (simulated) return runNodeSim(p, readFileSync(wasm.simWasm!), settings);
  const machine = new Machine({ ...settings, clock: (one(p, "--clock") ?? "virtual") as "virtual" | "real" });
  const r = await machine.run(readFileSync(wasm.wasm));
  process.stderr.write(`uniwasm: kernel exited with code ${r.exitCode}\n`);
  return r.exitCode;
}

const NATIVE: ToolName[] = ["clang", "lld", "objcopy", ...ARCHES.map((a) => ARCH[a].qemu)];
const log = (s: string) => process.stderr.write(`uniwasm: ${s}\n`);

/** `npm pack` of this checkout into `dir` (dist/ is built on the way: npm's prepack). */
function packInto(dir: string, name: string): void {
  const r = spawnSync("npm", ["pack", ROOT, "--pack-destination", dir, "--silent"], { encoding: "utf8", cwd: dir });
  if (r.status !== 0 || !existsSync(join(dir, name))) throw new UserError(`npm pack of ${ROOT} failed: ${(r.stderr || r.error?.message || "").trim()}`);
}

/**
 * The scenarios the help's examples name (bench/experiments/) come with a
 * source checkout only: asked for in a project, that is what is said,
 * rather than only that there is no such file.
 */
function checkedScenario(p: Parsed, run: (p: Parsed) => Promise<number>): Promise<number> {
  const file = p.positional[0];
  if (!existsSync(file) && /^(\.\/)?bench\//.test(file) && !isCheckout()) {
    throw new UserError(`no scenario file at ${file}: the scenarios under bench/experiments/ come with a source checkout of uniwasm, not the installed package (git clone the repository for them, or write your own: docs/simulation.md)`);
  }
  return run(p);
}

/** True when uniwasm runs from a source checkout (tests and benchmarks present), not an installed package. */
export function isCheckout(): boolean {
  return existsSync(join(ROOT, "tests")) && existsSync(join(ROOT, "vitest.config.ts"));
}

export const VERBS: VerbSpec[] = [
  {
    name: "image",
    args: "<app>",
    positional: { min: 1, max: 1 },
    summary: "build a bootable image of an app folder",
    description: "Compiles the app (a folder with main.ts) through asc, Binaryen, wasm2c and clang into a bootable image. Stages whose inputs did not change are reused.",
    options: [OPT.arch, OPT.out, OPT.bounds, OPT.files, OPT.profile],
    examples: [
      ["uniwasm image apps/hello", "builds build/hello/x86_64/hello.img"],
      ["uniwasm image . --out build/img", "builds the app in the current folder into build/img"],
    ],
    run: cmdImage,
  },
  {
    name: "boot",
    args: "<app|image>",
    positional: { min: 1, max: 1 },
    summary: "boot an app (built first) or an image in QEMU; exits with the guest's code",
    description: "The serial console is this terminal. The exit code is the guest's own (Kernel.exit), 124 after --timeout, 130/143 when stopped by SIGINT/SIGTERM.",
    options: [
      OPT.arch,
      { name: "--machine", value: "<type>", choices: MACHINES, default: "pc (x86_64), virt (aarch64)", help: "the QEMU machine type of the image's architecture (virt: GICv2, virt-gicv3: GICv3, virt-el2: entered at EL2)" },
      { name: "--transport", value: "<kind>", choices: ["pci", "mmio"], default: "the machine's: pci, mmio on microvm", help: "how the virtio network device attaches (aarch64 virt has both)" },
      OPT.mem,
      { name: "--accel", value: "<kind>", choices: ACCELS, default: "auto", help: "KVM, TCG (QEMU's emulator), or KVM when /dev/kvm works here and TCG otherwise, saying so" },
      { name: "--net", value: "<kind>", choices: ["none", "user", "tap"], default: "none", help: "the network: QEMU's user networking (NAT, port forwards) or a host TAP device" },
      { name: "--hostfwd", value: "<rule>", repeat: true, check: hostfwdProblem, needs: { option: "--net", values: ["user"], implies: true }, help: "forward a host port to the guest, e.g. tcp:127.0.0.1:8080-:80 (implies --net user)" },
      { name: "--tap", value: "<if>", needs: { option: "--net", values: ["tap"], implies: true }, help: "the host TAP interface (implies --net tap)" },
      { name: "--netns", value: "<ns>", help: "run QEMU inside this network namespace (where the TAP device lives)" },
      { name: "--pcap", value: "<file>", needs: { option: "--net", values: ["user", "tap"] }, help: "write the guest's Ethernet frames to a pcap file" },
      OPT.append,
      { name: "--timeout", value: "<s>", check: secondsCheck, help: "stop QEMU after this many seconds and exit 124 (0: no limit, as without it)" },
      OPT.out,
      OPT.bounds,
      OPT.files,
      OPT.profile,
      { name: "--gdb", value: "<port>", optionalDefault: "1234", check: (v) => (/^\d+$/.test(v) && Number(v) > 0 && Number(v) < 65536 ? undefined : "expected a TCP port"), help: "start QEMU's gdbstub on 127.0.0.1:<port> with the CPU held, and print the gdb command line (names and source lines of AssemblyScript; use --profile dev)", default: "1234" },
    ],
    rest: "<extra qemu args>",
    examples: [
      ["uniwasm boot apps/hello", "builds and boots the hello app"],
      ["uniwasm boot apps/hello --arch aarch64", "the same on qemu-system-aarch64 -M virt"],
      ["uniwasm boot apps/httpd --hostfwd tcp:127.0.0.1:8080-:80", "boots with user networking; the guest's port 80 is localhost:8080"],
      ["uniwasm boot build/hello/x86_64/hello.img --mem 64M --timeout 10", "boots a built image with 64 MiB, for at most 10 s"],
      ["uniwasm boot apps/netdemo --net user --pcap run.pcap", "captures the traffic (read it with tcpdump -r run.pcap)"],
      ["uniwasm boot apps/echo --profile dev --gdb", "waits for gdb on 127.0.0.1:1234 and prints the gdb command line"],
    ],
    run: cmdBoot,
  },
  {
    name: "export",
    args: "<app|image>",
    positional: { min: 1, max: 1 },
    summary: "write a libvirt domain (and optionally an isolated network) for an app or image",
    description:
      "A domain XML that libvirt accepts as it is: direct kernel boot, ACPI on (virsh shutdown reaches the kernel's stop handler), the console to a file (its last line says `exit code N`), pvpanic (a failure shows as crashed), destroy on power-off, reboot and crash, virtio-net on a libvirt network or a host bridge, no USB, balloon or security relabelling. aarch64 images get QEMU's virt machine, whose power key needs no ACPI, and no panic device (libvirt 9.0 has none for aarch64: a failure shows as a shutdown, its code on the console). Without --out the XML goes to stdout and names the image where it is. docs/deploying.md has the virsh commands, OpenStack and KubeVirt.",
    options: [
      { name: "--libvirt", help: "the format: a libvirt domain XML" },
      { name: "--name", value: "<name>", help: "the domain's name", default: "the app's or image's name" },
      { ...OPT.mem, default: "the app's uniwasm.json, else 64M" },
      { name: "--network", value: "<name>", help: "attach the NIC to this libvirt network", default: "none (no NIC), or uniwasm with --isolated-network" },
      { name: "--bridge", value: "<br>", help: "attach the NIC to this host bridge instead" },
      { name: "--isolated-network", value: "<addr/prefix>", help: "also write an isolated network (no forwarding, DHCP, dnsmasq no-ping) with the host at this address, e.g. 10.79.0.1/24 (needs --out)" },
      OPT.append,
      { name: "--console", value: "<file>", help: "the console file", default: "<out>/<name>.console, else /var/log/libvirt/qemu/<name>.console" },
      { name: "--accel", value: "<kind>", choices: ["tcg", "kvm"], default: "tcg", help: "the domain's accelerator: tcg (type qemu, QEMU's emulator) or kvm (type kvm, the host's CPU passed through), for the host that will run it" },
      { name: "--out", value: "<dir>", help: "write <name>.xml (and <network>.network.xml) there, with a copy of the image as <name>.img" },
      OPT.arch,
      OPT.bounds,
      OPT.files,
    ],
    examples: [
      ["uniwasm export apps/httpd --libvirt --network default > httpd.xml", "a domain on libvirt's default NAT network; then: virsh create httpd.xml"],
      ["uniwasm export apps/httpd --libvirt --out vm --isolated-network 10.79.0.1/24 --append ip=dhcp", "vm/httpd.xml, vm/uniwasm.network.xml and vm/httpd.img"],
    ],
    run: cmdExport,
  },
  {
    name: "node",
    args: "<app>",
    positional: { min: 1, max: 1 },
    summary: "run the app's wasm on the Node platform (virtual clock, simulated devices)",
    options: [
      OPT.mem,
      OPT.append,
      { name: "--seed", value: "<n>", check: (v) => (/^\d+$/.test(v) ? undefined : "expected a non-negative integer"), help: "seed of entropy and of everything random in the simulation" },
      { name: "--clock", value: "<kind>", choices: ["virtual", "real"], default: "virtual", help: "virtual time (deterministic, jumps over idle waits) or the wall clock" },
      { name: "--net", value: "<kind>", choices: ["none", "sim"], default: "none", help: "a simulated NIC on a network shaped like QEMU's user networking (gateway 10.0.2.2, DHCP, DNS)" },
      { name: "--hostfwd", value: "<rule>", repeat: true, check: hostfwdCheck, needs: { option: "--net", values: ["sim"], implies: true }, help: "forward a host port into the simulated network, e.g. tcp:127.0.0.1:8080-:80 (implies --net sim and the real clock)" },
      { name: "--until", value: "<s>", check: secondsCheck, insteadOf: ["--timeout"], help: "stop at this virtual second (exit 124 if the kernel is still running)" },
      { name: "--pcap", value: "<file>", needs: { option: "--net", values: ["sim"] }, help: "write the simulated network's frames to a pcap file (on any exit, Ctrl-C included)" },
      { name: "--out", value: "<dir>", help: "where the wasm goes", default: "build/<app>/wasm" },
      OPT.files,
      OPT.profile,
    ],
    examples: [
      ["uniwasm node apps/hello", "runs hello in Node"],
      ["uniwasm node apps/netdemo --net sim --pcap sim.pcap", "runs on the simulated network and captures it"],
      ["uniwasm node apps/httpd --hostfwd tcp:127.0.0.1:8080-:80 --pcap web.pcap", "serves the simulated httpd to the host: curl http://127.0.0.1:8080/100"],
      ["uniwasm node apps/netdemo --net sim --until 30", "at most 30 virtual seconds"],
    ],
    run: cmdNode,
  },
  {
    name: "experiment",
    args: "<scenario>",
    positional: { min: 1, max: 1 },
    summary: "sweep a scenario's parameters over seeds in simulation; CSV and SVG charts",
    description:
      "A scenario (.json, or .ts/.js exporting it: docs/simulation.md) names kernels, parameters to sweep and how to build and measure one run. Every point runs over the scenario's seeds on worker threads; finished runs are kept in <out>/runs.jsonl, so an interrupted sweep resumes. Writes points.csv (mean, sd, min, max per metric), runs.csv and one SVG chart with error bars per chart spec.",
    options: [{ name: "--out", value: "<dir>", help: "where the results go", default: "results/<scenario name>" }, SIM_OPT.workers, SIM_OPT.kernel],
    examples: [
      ["uniwasm experiment bench/experiments/cc-loss-rtt.ts", "NewReno vs CUBIC goodput over loss and RTT"],
      ["uniwasm experiment my.json --out results/my --workers 1", "a JSON scenario, in this thread only"],
    ],
    run: (p) => checkedScenario(p, cmdExperiment),
  },
  {
    name: "hunt",
    args: "<scenario>",
    positional: { min: 1, max: 1 },
    summary: "run a scenario over many seeds, checking invariants; print any failing seed with its replay command",
    description:
      "Built-in invariants: no kernel trapped, aborted or exited non-zero; none is still running at the scenario's `until` (unless it is a daemon); linear memory within maxMemory. The scenario adds its own (every byte delivered once and in order, say). A failing run is replayed exactly by its seed: --replay <seed> with --set for its point writes one pcap per link and the kernels' trace.",
    options: [
      { name: "--seeds", value: "<n>", check: intCheck, help: "how many seeds", default: "1000" },
      { name: "--from", value: "<seed>", check: intCheck, help: "the first seed", default: "1" },
      { name: "--stop-after", value: "<n>", check: intCheck, help: "stop after this many failing runs", default: "1" },
      SIM_OPT.set,
      SIM_OPT.workers,
      SIM_OPT.kernel,
      { name: "--replay", value: "<seed>", check: intCheck, help: "run this seed once (at the point chosen with --set), with captures" },
      { name: "--pcap", value: "<dir>", help: "with --replay: the folder for one pcap per link", default: "replay-<seed>" },
      { name: "--trace", value: "<file>", help: "with --replay: the kernels' event trace (JSON lines)", default: "replay-<seed>.jsonl" },
    ],
    examples: [
      ["uniwasm hunt bench/experiments/tcp-invariants.ts --seeds 5000", "5000 seeds of lossy TCP transfers, checked"],
      ["uniwasm hunt bench/experiments/tcp-invariants.ts --replay 1234 --set buf=4096 --set partition=0", "one seed of one point again, with pcaps and the trace"],
    ],
    run: (p) => checkedScenario(p, cmdHunt),
  },
  {
    name: "start",
    args: "[app]",
    positional: { min: 0, max: 1 },
    summary: "install what is missing, build and boot (default apps/hello)",
    options: [],
    examples: [["uniwasm start", "the first command after cloning"]],
    run: async (p) => {
      ensureTools(NATIVE, log);
      return runVerb(["boot", p.positional[0] ?? join(ROOT, "apps/hello"), "--timeout", "120"]);
    },
  },
  {
    name: "setup",
    args: "",
    positional: { min: 0, max: 0 },
    summary: "install the native toolchain (clang, lld, llvm, QEMU) from Debian's packages",
    options: [],
    examples: [["uniwasm setup", "installs what is missing with apt-get (as root)"]],
    run: async () => {
      ensureTools(NATIVE, log);
      log("toolchain ready");
      return 0;
    },
  },
  {
    name: "new",
    args: "<dir>",
    positional: { min: 1, max: 1 },
    summary: "start a project: an app from a template, with scripts, an editor config and a test",
    description: "Makes <dir> (new or empty) a project that depends on the uniwasm package: package.json (scripts image, boot, sim, test), main.ts importing the kernel from \"uniwasm\", uniwasm.json, tsconfig.json for the editor (AssemblyScript's types), test/boot.test.mjs (builds, boots and talks to it) and a README. The templates are the apps shipped in apps/.",
    options: [
      { name: "--template", value: "<name>", default: "hello", help: `the app to start from: ${TEMPLATES.map((t) => `${t.name} (${t.summary})`).join(", ")}` },
      { name: "--dependency", value: "<spec>", help: "how package.json names uniwasm (an npm version range, a tarball or a folder)", default: "from a source checkout, file:uniwasm-<version>.tgz, the checkout packed into the project; else as the nearest package.json above depends on uniwasm, else ^<this version>" },
    ],
    examples: [
      ["uniwasm new myapp --template echo", "an echo server in myapp/; then: cd myapp && npm install && npm run boot"],
      ["npx uniwasm new site --template http", "a static web site, from a project that already has uniwasm installed"],
    ],
    run: async (p) => {
      const t = findTemplate(one(p, "--template") ?? "hello");
      // uniwasm is not on npm's registry: from a checkout the project gets the package packed from it
      const packed = !p.given.has("--dependency") && isCheckout() ? `uniwasm-${packageVersion()}.tgz` : undefined;
      const project = createProject(p.positional[0], t, packed ? `file:${packed}` : one(p, "--dependency") ?? dependencyNear(process.cwd()));
      if (packed) packInto(project.dir, packed);
      const rel = relative(process.cwd(), project.dir).startsWith("..") ? project.dir : relative(process.cwd(), project.dir) || ".";
      log(`new project ${project.name} in ${rel} from the ${t.name} template: ${[...project.files, ...(packed ? [packed] : [])].join(", ")}`);
      if (packed) log(`it depends on ${packed}, this checkout packed as npm would install it (pack again after changing uniwasm: npm pack ${ROOT} --pack-destination ${rel})`);
      process.stdout.write(`next:\n  cd ${rel}\n  npm install\n  npm run boot${t.client ? `\n  ${t.client}      # from another terminal` : ""}\n`);
      return 0;
    },
  },
  {
    name: "test",
    args: "[args]",
    positional: { min: 0, max: Infinity },
    passThrough: true,
    summary: "run the tests: uniwasm's suite in a checkout, a project's test/ folder in a project",
    description: "In a source checkout of uniwasm: installs what is missing and runs the vitest suite (arguments go to vitest). In a project (made by uniwasm new): runs the project's test/*.test.mjs with node --test (arguments go to node --test).",
    options: [],
    examples: [
      ["uniwasm test", "the whole suite, or the project's tests"],
      ["uniwasm test tests/cli.test.ts", "one test file of the suite (vitest's arguments)"],
    ],
    run: async (p) => {
      ensureTools(isCheckout() ? [...NATIVE, "ping", "ip", "curl", "wrk", "redisServer", "redisCli"] : NATIVE, log);
      if (isCheckout() && resolve(process.cwd()).startsWith(ROOT)) {
        return runForwardingSignals(process.execPath, [join(ROOT, "tools/vitest-run.js"), "run", ...p.positional], ROOT);
      }
      const dir = resolve("test");
      const files = existsSync(dir) ? readdirSync(dir).filter((n) => /\.test\.(mjs|js)$/.test(n)).map((n) => join("test", n)) : [];
      if (!files.length) {
        throw new UserError(`no tests here: uniwasm test runs a project's test/*.test.mjs (uniwasm new makes one), or uniwasm's own suite from a source checkout`);
      }
      return runForwardingSignals(process.execPath, ["--test", ...p.positional, ...files], process.cwd());
    },
  },
  {
    name: "bench",
    args: "[name ...] [--option=value ...]",
    positional: { min: 0, max: Infinity },
    passThrough: true,
    summary: "run the benchmarks: boot, sched, tcp, bounds, sim by default; peers, apps, lowmem, codegen when named (see bench/README.md)",
    checkoutOnly: "the benchmarks are not part of the installed package (git clone the repository to run them)",
    options: [],
    examples: [
      ["uniwasm bench", "the default benchmarks, with their peer baselines"],
      ["uniwasm bench peers --help", "the options of one benchmark"],
    ],
    run: async (p) => {
      const { runTypeScript } = await import("./launch.js");
      process.argv = [process.argv[0], "bench", ...p.positional];
      await runTypeScript(join(ROOT, "bench/run.ts"));
      return Number(process.exitCode ?? 0);
    },
  },
  {
    name: "help",
    args: "[verb]",
    positional: { min: 0, max: 1 },
    summary: "this list, or one verb's help with examples",
    options: [],
    examples: [["uniwasm help boot", "the options of boot"]],
    run: async (p) => {
      const name = p.positional[0];
      process.stdout.write((name ? verbHelp(findVerb(name)) : overview(VERBS, packageVersion())) + "\n");
      return 0;
    },
  },
];

function findVerb(name: string): VerbSpec {
  const v = VERBS.find((x) => x.name === name);
  if (v) return v;
  const hint = suggest(name, VERBS.map((x) => x.name));
  throw usageError(undefined, `unknown verb "${name}"${hint ? ` (did you mean ${hint}?)` : ""}`);
}

/** Runs one command line; resolves to the exit code. */
export async function runVerb(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    process.stderr.write(overview(VERBS, packageVersion()) + "\n");
    return EXIT_USAGE;
  }
  if (name === "--help" || name === "-h") return runVerb(["help"]);
  if (name === "--version" || name === "-V") {
    process.stdout.write(`uniwasm ${packageVersion()}\n`);
    return 0;
  }
  const verb = findVerb(name);
  const dd = args.indexOf("--");
  const own = verb.passThrough ? args.slice(0, 1) : dd < 0 ? args : args.slice(0, dd);
  if (own.includes("--help") || own.includes("-h")) {
    process.stdout.write(verbHelp(verb) + "\n");
    return 0;
  }
  if (verb.checkoutOnly && !isCheckout()) throw new UserError(`${verb.name} works only from a source checkout of uniwasm: ${verb.checkoutOnly}`, EXIT_USAGE);
  return verb.run(parseArgs(verb, args, VERBS));
}

/**
 * Runs a test runner on this terminal; SIGINT and SIGTERM sent to the CLI
 * go to it too (Ctrl-C at a terminal reaches both anyway), so `kill <pid>`
 * stops the run instead of leaving it going. Resolves to its exit code
 * (128 + the signal's number if a signal ended it).
 */
function runForwardingSignals(cmd: string, args: string[], cwd: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: "inherit", cwd });
    let stoppedBy: NodeJS.Signals | undefined;
    const forward = (sig: NodeJS.Signals) => {
      stoppedBy = sig;
      child.kill(sig);
    };
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("close", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      const exit = code ?? 128 + (signal ? osConstants.signals[signal] : 0);
      if (stoppedBy) process.stderr.write(`uniwasm: stopped by ${stoppedBy} (exit ${exit})\n`);
      resolve(exit);
    });
  });
}

/**
 * SIGINT and SIGTERM when nothing else has taken them (a build, a check):
 * one line, the build's tools stopped too, exit 130 or 143. A QEMU run and
 * the simulation verbs listen for them while they run and say what they
 * stopped themselves.
 */
function stopOnSignals(): void {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (process.listenerCount(sig) > 1) return;
      const n = stopBuildProcesses();
      process.stderr.write(`uniwasm: stopped by ${sig} (exit ${EXIT_SIGNAL[sig]})${n ? `; stopped ${n} build process${n > 1 ? "es" : ""} with it` : ""}\n`);
      process.exit(EXIT_SIGNAL[sig]);
    });
  }
}

const invokedDirectly = (globalThis as any).UNIWASM_ROOT !== undefined;
if (invokedDirectly) {
  stopOnSignals();
  runVerb(process.argv.slice(2)).then(
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
}
