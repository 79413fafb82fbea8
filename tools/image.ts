// `uniwasm image`: the whole pipeline from an app folder to a bootable image.
//   asc -> Binaryen -> wasm2c -> clang (freestanding) -> ld.lld (twice, the
//   second time with the symbol table) -> llvm-objcopy -> image
// Every intermediate file stays in the output folder; stages whose inputs did
// not change are reused.

import { execFile, type ChildProcess, type ExecFileOptions } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { availableParallelism } from "node:os";
import { promisify } from "node:util";
import { createRequire } from "node:module";
import { type App } from "./app.ts";
import { StageCache, hashOf, hashTree, withBuildLock } from "./cache.ts";
import { Elf64 } from "./elf.ts";
import { UserError } from "./errors.ts";
import { ARCH, type Arch } from "./arch.ts";
import { IMAGE_INFO_TAG } from "./image-format.ts";
import { functionLocations, type SourceLocation } from "./source-map.ts";
import { BOOT } from "./paths.ts";
import { requireTool, toolVersion } from "./toolchain.ts";
import { buildWasm, type Log } from "./wasm-build.ts";
import { WASM2C_EDITS, editWasm2cOutput } from "./wasm2c-edits.ts";
import { readWasmInfo, type MemoryLimits } from "../host/wasm-info.ts";
import { ALLOC_REQUEST_EXPORT } from "../host/exit-codes.ts";

const execFileP = promisify(execFile);
/** The compiler, linker and wasm2c processes running now (stopBuildProcesses). */
const running = new Set<ChildProcess>();

function run(cmd: string, args: string[], opts: ExecFileOptions = {}): Promise<unknown> {
  const p = execFileP(cmd, args, opts);
  running.add(p.child);
  p.child.once("exit", () => running.delete(p.child));
  return p;
}

/**
 * Stops the build's tools still running (the CLI stopped by a signal that
 * reached it alone: `kill <pid>`, not Ctrl-C at a terminal, which reaches
 * them too): they would otherwise finish on their own, orphans writing into
 * the build folder. Returns how many were stopped.
 */
export function stopBuildProcesses(): number {
  for (const c of running) c.kill("SIGTERM");
  return running.size;
}

export const BOUNDS_CHECKS = ["guard", "explicit"] as const;
export type BoundsChecks = (typeof BOUNDS_CHECKS)[number];

export interface ImageOptions {
  arch: Arch;
  outDir: string;
  /** Extra compiler flags for the native sources, e.g. -DUNIWASM_PVH_ONLY
   * (leave the Multiboot header out, so loaders take the PVH entry). */
  cflags?: string[];
  /**
   * How wasm loads and stores are bounds-checked: "guard" (the default)
   * leaves linear memory's unused address space unmapped and turns the page
   * fault into the trap; "explicit" compares every address with the memory
   * size first. Both trap the same way; guard is faster and smaller.
   */
  bounds?: BoundsChecks;
  /** A folder baked in as read-only files (tools/files.ts); else the app's `files` setting. */
  files?: string;
  /** "release" (the default) or "dev": a faster build of slower code (see PROFILES). */
  profile?: Profile;
  /** Where the wasm stages write (shared with `uniwasm node`); default: outDir. */
  wasmDir?: string;
}

/**
 * Build profiles. "dev" trades the speed of the generated code for build
 * time: asc does not optimise (nor inline: every function stays one gdb
 * can break in) and clang compiles wasm2c's output without optimisation
 * (about a tenth of the -O2 time, and easier to follow in gdb).
 */
export const PROFILES = ["release", "dev"] as const;
export type Profile = (typeof PROFILES)[number];
const PROFILE_FLAGS: Record<Profile, { generated: string[]; ascOptimizeLevel?: number }> = {
  // -Os: 6% less generated code than -O2 (4% on aarch64) at no throughput cost measurable
  // under TCG; -Oz takes 10-16% off but ran a TCP-heavy kernel ~10% slower (docs/benchmarks.md)
  release: { generated: ["-Os"] },
  dev: { generated: ["-O0"], ascOptimizeLevel: 0 },
};

/** asc's optimisation level of a profile (undefined: asc's default of the builder). */
export function profileAscLevel(profile: Profile): number | undefined {
  return PROFILE_FLAGS[profile].ascOptimizeLevel;
}

/** How many C files wasm2c splits the kernel into, so clang compiles them side by side. */
export function generatedParts(): number {
  return Math.min(16, Math.max(2, 2 * availableParallelism()));
}

export interface ImageResult {
  image: string;
  elf: string;
  /** The ELF with AssemblyScript's names for its functions, for gdb (with `<name>.json`: their source locations). */
  gdbElf: string;
  sizes: { wasm: number; c: number; text: number; data: number; bss: number; image: number };
}

/**
 * wasm2c's output, compiled without its own warnings (they are not ours), and
 * without tail calls: a function that ends in a call keeps its frame, so trap
 * and exception reports show every wasm function of the call chain (wasm2c's
 * call-depth counter, decremented after each call, used to prevent them; see
 * tools/wasm2c-edits.ts). It is also smaller code at -Os.
 */
const GENERATED_FLAGS = ["-w", "-fno-optimize-sibling-calls"];
const OWN_FLAGS = ["-Wall", "-Wextra", "-Werror=implicit-function-declaration"];

export async function buildImage(app: App, opts: ImageOptions, log: Log): Promise<ImageResult> {
  return withBuildLock(opts.outDir, () => buildImageLocked(app, opts, log));
}

async function buildImageLocked(app: App, opts: ImageOptions, log: Log): Promise<ImageResult> {
  const clang = requireTool("clang");
  const lld = requireTool("lld");
  const objcopy = requireTool("objcopy");
  const out = opts.outDir;
  mkdirSync(out, { recursive: true });
  const cache = new StageCache(join(out, ".stages.json"));

  const profile = PROFILE_FLAGS[opts.profile ?? "release"];
  const wasmDir = opts.wasmDir ?? out;
  const wasm = await buildWasm(app, wasmDir, wasmDir === out ? cache : new StageCache(join(wasmDir, ".stages.json")), log, { files: opts.files, optimizeLevel: profile.ascOptimizeLevel });

  // wasm2c
  // wasm2c writes kernel_0.c .. kernel_<n-1>.c, sharing kernel-impl.h, and the public kernel.h
  const parts = generatedParts();
  const kernelCs = Array.from({ length: parts }, (_, i) => join(out, `kernel_${i}.c`));
  const kernelH = join(out, "kernel.h");
  const implH = join(out, "kernel-impl.h");
  const w2cKey = hashOf("wasm2c", readFileSync(wasm.wasm), wabtVersion(), String(parts), JSON.stringify(WASM2C_EDITS));
  const cBytes = () => kernelCs.reduce((n, f) => n + statSync(f).size, 0);
  if (cache.fresh("wasm2c", w2cKey, [...kernelCs, kernelH, implH])) log.stage("wasm2c", `${basename(wasm.wasm)} -> ${parts} C files`, true);
  else {
    try {
      await run(process.execPath, [join(wabtDir(), "bin", "wasm2c"), wasm.wasm, "-n", "kernel", "--disable-simd", "--num-outputs", String(parts), "-o", join(out, "kernel.c")]);
    } catch (e: any) {
      throw new UserError(`wasm2c failed on ${wasm.wasm}:\n${e.stderr || e.message}`);
    }
    writeFileSync(implH, editWasm2cOutput(readFileSync(implH, "utf8")));
    cache.record("wasm2c", w2cKey);
    log.stage("wasm2c", `${basename(wasm.wasm)} -> ${parts} C files (${kib(cBytes())})`, false);
  }
  const entryC = join(out, "entry.c");
  const memory = readWasmInfo(readFileSync(wasm.wasm)).imports.find((i) => i.kind === "memory")?.memory;
  writeIfChanged(entryC, entrySource(readFileSync(kernelH, "utf8"), memory));

  // clang
  const archDir = join(BOOT, opts.arch);
  const settings = ARCH[opts.arch];
  const includes = ["-I", join(BOOT, "include"), "-I", join(BOOT, "runtime/include"), "-I", out];
  const sources: { src: string; generated: boolean }[] = [
    ...kernelCs.map((src) => ({ src, generated: true })),
    { src: entryC, generated: true },
    ...listSources(join(BOOT, "runtime")).map((src) => ({ src, generated: false })),
    ...listSources(join(BOOT, "common")).map((src) => ({ src, generated: false })),
    ...listSources(archDir).filter((s) => !/\bfloor\.S$/.test(s)).map((src) => ({ src, generated: false })),
  ];
  const headers = hashTree([join(BOOT, "include"), join(BOOT, "runtime/include"), join(BOOT, "common"), archDir], (n) => n.endsWith(".h"));
  const clangVer = toolVersion(clang);
  const objDir = join(out, "obj");
  mkdirSync(objDir, { recursive: true });
  let reused = 0;
  const compile = async (src: string, generated: boolean): Promise<string> => {
    // named after their folder too: boot/x86_64/entry.S and the generated entry.c must not collide
    const obj = join(objDir, `${generated ? "gen" : basename(dirname(src))}-${basename(src).replace(/\.[cS]$/, ".o")}`);
    const bounds = opts.bounds ?? "guard";
    const shim = !generated && (dirname(src) === archDir || dirname(src) === join(BOOT, "common"));
    const flags = [...settings.cflags, ...(shim ? settings.shimCflags : []), ...(generated ? [...GENERATED_FLAGS, ...profile.generated] : OWN_FLAGS), `-DWASM_RT_MEMCHECK_GUARD_PAGES=${bounds === "guard" ? 1 : 0}`, ...(opts.cflags ?? []), ...includes];
    const key = hashOf("cc", readFileSync(src), JSON.stringify(flags), headers, clangVer, generated ? readFileSync(kernelH) : "", generated ? readFileSync(implH) : "");
    if (cache.fresh(`cc:${obj}`, key, [obj])) {
      reused++;
      return obj;
    }
    try {
      await run(clang, [...flags, "-c", src, "-o", obj], { maxBuffer: 64 << 20 });
    } catch (e: any) {
      throw new UserError(`clang failed on ${relative(process.cwd(), src)}:\n${e.stderr || e.message}`);
    }
    cache.record(`cc:${obj}`, key);
    return obj;
  };
  const before = Date.now();
  // the largest first, so the last one to finish is a small one
  const bySize = [...sources].sort((a, b) => statSync(b.src).size - statSync(a.src).size);
  const compiled = await parallel(bySize.map((s) => () => compile(s.src, s.generated)), availableParallelism());
  const objects = sources.map((s) => compiled[bySize.indexOf(s)]);
  // how many were compiled says what an edit cost: the C files of functions it did not touch are reused
  if (reused === objects.length) log.stage("clang", `${objects.length} objects`, true);
  else log.stage("clang", `${objects.length} objects, ${objects.length - reused} compiled (${Date.now() - before} ms)`, false);

  // link twice: the second time with the function-name table in .uwsyms
  const linkerScript = join(archDir, "linker.ld");
  const elf = join(out, "kernel.elf");
  const symsC = join(out, "uwsyms.c");
  const symsO = join(objDir, "uwsyms.o");
  const link = async (extra: string, output: string) => {
    try {
      // -n: no page-alignment padding in the file (addresses and permissions are unchanged)
      await run(lld, ["-nostdlib", "-static", "-n", "--gc-sections", "-T", linkerScript, "-o", output, ...objects, extra]);
    } catch (e: any) {
      throw new UserError(`ld.lld failed:\n${e.stderr || e.message}`);
    }
  };
  const locations = sourceLocations(wasm.ascWasm);
  const linkKey = hashOf("link", ...objects.map((o) => readFileSync(o)), readFileSync(linkerScript), JSON.stringify([...locations]));
  if (cache.fresh("link", linkKey, [elf])) log.stage("ld.lld", `${basename(elf)}`, true);
  else {
    writeFileSync(symsC, symbolTableSource(undefined));
    await run(clang, [...settings.cflags, ...includes, "-c", symsC, "-o", symsO]);
    const first = join(out, "kernel.pass1.elf");
    await link(symsO, first);
    const pass1 = new Elf64(readFileSync(first), first);
    writeFileSync(symsC, symbolTableSource(pass1, locations));
    await run(clang, [...settings.cflags, ...includes, "-c", symsC, "-o", symsO]);
    await link(symsO, elf);
    const pass2 = new Elf64(readFileSync(elf), elf);
    if (pass1.textEnd() !== pass2.textEnd()) throw new UserError("internal: code moved between the two links; .uwsyms must follow all code in linker.ld");
    cache.record("link", linkKey);
    log.stage("ld.lld", `${basename(elf)} (linked twice: symbol table of ${pass1.symbols.filter((s) => s.isFunction).length} functions)`, false);
  }

  // the file a loader boots: an ELF32 wrapper for Multiboot (x86_64), the raw Image (aarch64)
  const image = join(out, `${app.name}.img`);
  const imgKey = hashOf("objcopy", readFileSync(elf), JSON.stringify(settings.objcopy));
  if (cache.fresh("objcopy", imgKey, [image])) log.stage("objcopy", basename(image), true);
  else {
    // symbols are not needed to boot: the image carries its own table in .uwsyms
    await run(objcopy, [...settings.objcopy, "--strip-all", elf, image]);
    cache.record("objcopy", imgKey);
    log.stage("objcopy", `${basename(image)} (${settings.format})`, false);
  }

  const sz = new Elf64(readFileSync(elf), elf).sizes();
  const sizes = { wasm: wasm.bytes, c: cBytes(), ...sz, image: statSync(image).size };
  log.info(`sizes: wasm ${kib(sizes.wasm)}, C ${kib(sizes.c)}, text ${kib(sizes.text)}, data ${kib(sizes.data)}, bss ${kib(sizes.bss)}, image ${kib(sizes.image)}`);
  const gdbElf = await writeGdbElf(elf, locations, objcopy);
  return { image, elf, gdbElf, sizes };
}

/**
 * kernel.gdb.elf: the linked ELF with wasm2c's mangled symbols renamed to
 * the wasm names (w2c_kernel_main0x2FConn0x23write -> main/Conn#write), so
 * gdb breaks and backtraces by AssemblyScript name; kernel.gdb.json beside it
 * maps each name to its source file and line for tools/gdb/uniwasm.py.
 */
async function writeGdbElf(elf: string, locations: Map<string, SourceLocation>, objcopy: string): Promise<string> {
  const out = elf.replace(/\.elf$/, ".gdb.elf");
  const names = new Elf64(readFileSync(elf), elf).symbols.filter((s) => s.isFunction && s.name.startsWith("w2c_kernel_"));
  // one --redefine-sym each: objcopy's --redefine-syms file reads '#' (in every method name) as a comment
  const renames = names.map((s) => `--redefine-sym=${s.name}=${demangle(s.name)}`).filter((a) => !/\s/.test(a));
  await run(objcopy, [...renames, elf, out], { maxBuffer: 16 << 20 });
  writeFileSync(out.replace(/\.elf$/, ".json"), JSON.stringify(Object.fromEntries(locations)) + "\n");
  return out;
}

/** Each function's source location, from asc's output and its source map (none without a map). */
function sourceLocations(ascWasm: string): Map<string, SourceLocation> {
  const map = `${ascWasm}.map`;
  return existsSync(map) ? functionLocations(readFileSync(ascWasm), readFileSync(map, "utf8")) : new Map();
}

/**
 * The boot-time floor: an image with the same headers whose entry point exits
 * at once, so benchmarks can tell QEMU's own start-up from the kernel's.
 */
export async function buildFloorImage(arch: Arch, outDir: string): Promise<string> {
  const clang = requireTool("clang");
  const lld = requireTool("lld");
  const objcopy = requireTool("objcopy");
  mkdirSync(outDir, { recursive: true });
  const archDir = join(BOOT, arch);
  const obj = join(outDir, "floor.o");
  const elf = join(outDir, "floor.elf");
  const image = join(outDir, "floor.img");
  await run(clang, [...ARCH[arch].cflags, "-I", join(BOOT, "include"), "-c", join(archDir, "floor", "floor.S"), "-o", obj]);
  await run(lld, ["-nostdlib", "-static", "-n", "--gc-sections", "-T", join(archDir, "linker.ld"), "-o", elf, obj]);
  await run(objcopy, [...ARCH[arch].objcopy, "--strip-all", elf, image]);
  return image;
}

/** The glue that instantiates the generated module and runs it. */
export function entrySource(header: string, memory: MemoryLimits | undefined): string {
  const inst = /void wasm2c_kernel_instantiate\(w2c_kernel\*([^)]*)\);/.exec(header);
  if (!inst) throw new UserError("internal: wasm2c's header has no wasm2c_kernel_instantiate");
  const importArgs = inst[1].split(",").filter((s) => s.trim()).map(() => "NULL");
  const exportFn = (name: string) => new RegExp(`/\\* export: '${name}' \\*/\\s*\\n\\s*\\w+ (w2c_kernel_\\w+)\\(w2c_kernel\\*\\);`).exec(header)?.[1];
  const main = exportFn("main");
  if (!main) throw new UserError("internal: wasm2c's header exports no main");
  const init = exportFn("_initialize");
  // An exported global is a function returning its address (tools/wasm-build.ts).
  const allocRequest = new RegExp(`/\\* export: '${ALLOC_REQUEST_EXPORT}' \\*/\\s*\\n\\s*u32\\* (w2c_kernel_\\w+)\\(w2c_kernel\\*[^)]*\\);`).exec(header)?.[1];
  return `/* Generated by tools/image.ts: instantiates the kernel and runs it. */
#include <stddef.h>
#include <uniwasm/runtime.h>
#include "kernel.h"

static w2c_kernel instance;

/* Read by uniwasm boot (tools/image-format.ts) to refuse too little RAM: tag, initial and maximum wasm pages. */
__attribute__((used, retain)) static const struct { char tag[8]; uint32_t initial, maximum; } uw_image_info = {
  {${[...IMAGE_INFO_TAG].map((c) => `'${c}'`).join(", ")}}, ${memory?.initial ?? 0}u, ${memory?.maximum ?? 65536}u};

uint32_t rt_run_kernel(void) {
${memory ? `  rt_memory_setup(${memory.initial}u, ${memory.maximum ?? 65536}u);\n` : ""}  wasm2c_kernel_instantiate(&instance${importArgs.map((a) => ", " + a).join("")});
${allocRequest ? `  rt_alloc_request = ${allocRequest}(&instance);\n` : ""}${init ? `  ${init}(&instance);\n` : ""}  return ${main}(&instance);
}
`;
}

/** Sorted function addresses and demangled names, for runtime_symbolize. */
export function symbolTableSource(elf: Elf64 | undefined, locations: Map<string, SourceLocation> = new Map()): string {
  const fns = (elf?.symbols ?? []).filter((s) => s.isFunction && s.value > 0n).sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  let names = "";
  const entries: string[] = [];
  const seen = new Set<bigint>();
  for (const f of fns) {
    if (seen.has(f.value)) continue;
    seen.add(f.value);
    entries.push(`{0x${f.value.toString(16)}u, ${Buffer.byteLength(names)}u}`);
    // each name is followed by its source location ("" when unknown), which trap reports print
    const name = demangle(f.name);
    const at = locations.get(name);
    names += name + "\0" + (at ? compactLocation(name, at) : "") + "\0";
  }
  const textEnd = elf ? elf.textEnd() : 0n;
  const cstr = JSON.stringify(names).replace(/\\u0000/g, "\\0");
  return `/* Generated by tools/image.ts from the first link of this image. */
#include <stdint.h>
#define SYM __attribute__((section(".uwsyms"), used))
struct uw_sym { uint32_t addr, name; };
SYM const struct uw_sym uw_sym_table[${Math.max(entries.length, 1)}] = {${entries.join(",") || "{0, 0}"}};
SYM const uint32_t uw_sym_count = ${entries.length}u;
SYM const uint32_t uw_text_end = 0x${textEnd.toString(16)}u;
SYM const char uw_sym_names[] = ${cstr};
`;
}

/**
 * A function's location as the symbol table stores it: "file:line", or
 * ":<n>:<line>" when the file is the name's first n bytes and ".ts" (most
 * functions: ~lib/uniwasm/kernel/net/ip/Ipv4#input is in
 * ~lib/uniwasm/kernel/net/ip.ts), which boot/runtime/runtime.c expands.
 */
export function compactLocation(name: string, at: SourceLocation): string {
  const module = at.file.endsWith(".ts") ? at.file.slice(0, -3) : undefined;
  if (module && name.startsWith(module + "/")) return `:${Buffer.byteLength(module)}:${at.line}`;
  return `${at.file}:${at.line}`;
}

/** wasm2c's symbol names back to the wasm names: w2c_kernel_~lib0x2Frt... */
export function demangle(sym: string): string {
  const m = /^w2c_kernel_(.*)$/.exec(sym);
  if (!m) return sym;
  return m[1].replace(/0x([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

function listSources(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => /\.(c|S)$/.test(n)).sort().map((n) => join(dir, n));
}

function writeIfChanged(path: string, text: string): void {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return;
  writeFileSync(path, text);
}

async function parallel<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  }));
  return results;
}

export function kib(n: number): string {
  return n < 10240 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`;
}

/** The wabt package, wherever npm put it (hoisted when uniwasm is a dependency). */
function wabtDir(): string {
  return dirname(createRequire(import.meta.url).resolve("wabt"));
}

function wabtVersion(): string {
  return JSON.parse(readFileSync(join(wabtDir(), "package.json"), "utf8")).version;
}

