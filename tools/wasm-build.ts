// Stages 1 and 2, shared by every platform: AssemblyScript -> wasm, then
// Binaryen passes and the checks that make the wasm a valid kernel (a
// `main(): i32` export, imports only from the HAL and the AssemblyScript
// runtime). The Node platform runs this file; the image pipeline goes on
// from it.

import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { ASYNCIFY_END, ASYNCIFY_IMPORTS } from "../host/asyncify.ts";
import { ALLOC_REQUEST_EXPORT } from "../host/exit-codes.ts";
import { readWasmInfo, SOURCES_SECTION } from "../host/wasm-info.ts";
import { type App } from "./app.ts";
import { compileAssemblyScript, ascArgs, ascVersion } from "./asc.ts";
import { StageCache, hashOf, hashSources, withBuildLock } from "./cache.ts";
import { UserError } from "./errors.ts";
import { ROOT } from "./paths.ts";
import { halImportNames } from "./hal-contract.ts";
import { encodeFiles, readFolder, type FilesBlob } from "./files.ts";
import { addDataSegment, mergeDataSegments } from "./wasm-data.ts";
import { functionLocations } from "./source-map.ts";

export const DEFAULT_PASSES = ["remove-unused-module-elements", "strip-dwarf", "strip-producers"];
/** Data segments this close together are merged into one (tools/wasm-data.ts): each costs wasm2c's start-up code ~70 bytes. */
const SEGMENT_GAP = 64;
const ENV_IMPORTS = new Set(["abort", "trace", "seed", "memory"]);

export interface Log {
  stage(name: string, detail: string, cached: boolean): void;
  info(text: string): void;
}

export interface WasmArtifacts {
  wasm: string;
  wat: string;
  bytes: number;
  /** The simulation build (Asyncify-instrumented), when asked for. */
  simWasm?: string;
  /** asc's own output and its source map (function locations, tools/source-map.ts). */
  ascWasm: string;
}

export interface WasmBuildOptions {
  /** Also produce `<app>.sim.wasm`, which can run as one of several kernels in a World. */
  simulation?: boolean;
  /** A folder to bake in as read-only files (`--files`); else the app's `files` setting. */
  files?: string;
  /** asc's optimisation level when the app's uniwasm.json sets none (the build profile's). */
  optimizeLevel?: number;
}

/** The folder an app's kernel embeds: `--files`, else uniwasm.json's `files` (relative to the app). */
export function filesFolder(app: App, option: string | undefined): string | undefined {
  if (option !== undefined) return resolve(option);
  return app.config.files !== undefined ? resolve(app.dir, app.config.files) : undefined;
}

export async function buildWasm(app: App, outDir: string, cache: StageCache, log: Log, opts: WasmBuildOptions = {}): Promise<WasmArtifacts> {
  return withBuildLock(outDir, () => buildWasmLocked(app, outDir, cache, log, opts));
}

async function buildWasmLocked(app: App, outDir: string, cache: StageCache, log: Log, opts: WasmBuildOptions): Promise<WasmArtifacts> {
  mkdirSync(outDir, { recursive: true });
  const ascWasm = join(outDir, `${app.name}.asc.wasm`);
  const wat = join(outDir, `${app.name}.wat`);
  const wasm = join(outDir, `${app.name}.wasm`);
  const c = app.config;
  const folder = filesFolder(app, opts.files);
  let files: FilesBlob | undefined;
  if (folder !== undefined) {
    files = encodeFiles(readFolder(folder));
    log.stage("files", `${files.files} files, ${files.contentBytes} bytes from ${relative(process.cwd(), folder) || "."} (${files.bytes.length} bytes with the table)`, false);
  }
  const ascOpts = { entry: app.entry, outWasm: ascWasm, outWat: wat, runtime: c.runtime, optimizeLevel: c.optimizeLevel ?? opts.optimizeLevel, shrinkLevel: c.shrinkLevel, extra: c.ascFlags, filesBytes: files?.bytes.length };

  const sources = hashSources(app.dir, [app.dir, join(ROOT, "kernel"), join(ROOT, "drivers")]);
  const ascKey = hashOf("asc", sources, JSON.stringify(ascArgs(ascOpts)), await ascVersion());
  const rel = relative(process.cwd(), app.entry) || app.entry;
  if (cache.fresh("asc", ascKey, [ascWasm, wat])) log.stage("asc", `${rel} -> ${relative(process.cwd(), ascWasm)}`, true);
  else {
    await compileAssemblyScript(ascOpts, relative(process.cwd(), app.dir) || app.name);
    cache.record("asc", ascKey);
    log.stage("asc", `${rel} -> ${relative(process.cwd(), ascWasm)}`, false);
  }

  const passes = c.binaryenPasses ?? DEFAULT_PASSES;
  const bKey = hashOf("binaryen", readFileSync(ascWasm), existsSync(`${ascWasm}.map`) ? readFileSync(`${ascWasm}.map`) : "", JSON.stringify(passes), JSON.stringify(ALLOCATOR_ENTRIES), GC_COUNTER_SUFFIX, String(SEGMENT_GAP), files ? files.bytes : "");
  if (cache.fresh("binaryen", bKey, [wasm])) log.stage("binaryen", passes.join(" "), true);
  else {
    const binaryen = await loadBinaryen();
    const asc = readFileSync(ascWasm);
    const mod = await readKernel(files ? addDataSegment(asc, ASYNCIFY_END, files.bytes) : asc);
    try {
      binaryen.setDebugInfo(true); // keep the name section for trap reports
      mod.runPasses(passes);
      noteAllocationRequests(binaryen, mod);
      // where each function starts in the source, for the Node platform's trap reports (host/machine.ts)
      const map = `${ascWasm}.map`;
      if (existsSync(map)) {
        const table = Object.fromEntries([...functionLocations(asc, readFileSync(map, "utf8"))].map(([k, v]) => [k, `${v.file}:${v.line}`]));
        mod.addCustomSection(SOURCES_SECTION, new TextEncoder().encode(JSON.stringify(table)));
      }
      if (!mod.validate()) throw new UserError(`${app.name}: the wasm failed Binaryen validation after passes ${passes.join(", ")}`);
      writeFileSync(wasm, mergeDataSegments(mod.emitBinary(), SEGMENT_GAP).wasm);
    } finally {
      mod.dispose();
    }
    cache.record("binaryen", bKey);
    log.stage("binaryen", passes.join(" "), false);
  }
  const bytes = readFileSync(wasm);
  checkKernelAbi(bytes, app.name);
  const result: WasmArtifacts = { wasm, wat, bytes: bytes.length, ascWasm };
  if (opts.simulation) result.simWasm = await buildSimulationWasm(bytes, join(outDir, `${app.name}.sim.wasm`), cache, log);
  return result;
}

/**
 * The simulation build: the same kernel, instrumented by Binaryen's Asyncify
 * so that hal.wait() can suspend it and a World can run several kernels on
 * one clock (host/world.ts). Only the Node platform runs it.
 */
async function buildSimulationWasm(kernel: Uint8Array, out: string, cache: StageCache, log: Log): Promise<string> {
  const key = hashOf("asyncify", kernel, ASYNCIFY_IMPORTS);
  if (cache.fresh("asyncify", key, [out])) {
    log.stage("asyncify", `${ASYNCIFY_IMPORTS} -> ${basename(out)}`, true);
    return out;
  }
  const binaryen = await loadBinaryen();
  const mod = await readKernel(kernel);
  try {
    binaryen.setDebugInfo(true);
    binaryen.setPassArgument("asyncify-imports", ASYNCIFY_IMPORTS);
    binaryen.setOptimizeLevel(2);
    binaryen.setShrinkLevel(0);
    mod.runPasses(["asyncify"]);
    mod.optimize(); // Asyncify's output shrinks a lot under -O
    if (!mod.validate()) throw new UserError("internal: the simulation build failed Binaryen validation");
    writeFileSync(out, mod.emitBinary());
  } finally {
    binaryen.setPassArgument("asyncify-imports", null);
    mod.dispose();
  }
  cache.record("asyncify", key);
  log.stage("asyncify", `${ASYNCIFY_IMPORTS} -> ${basename(out)}`, false);
  return out;
}

/**
 * The allocator's entry points and which parameter is the size: the inner
 * one when the optimizer kept it, else the ones it was inlined into.
 */
const ALLOCATOR_ENTRIES: [name: string, sizeParam: number][][] = [
  [["~lib/rt/tlsf/allocateBlock", 1]],
  [["~lib/rt/itcms/__new", 0], ["~lib/rt/itcms/__renew", 1], ["~lib/rt/tlsf/__alloc", 0], ["~lib/rt/tlsf/__realloc", 1]],
];

/**
 * AssemblyScript's allocator ends in `unreachable` when memory.grow fails,
 * which alone reads as a bug, not as out of memory. So that both platforms
 * can say how much was asked for, the allocator's entries store their size
 * argument in an exported global (one global.set per allocation); the
 * platform reports out of memory when an `unreachable` in the allocator
 * follows a refused memory.grow (boot/runtime/runtime.c, host/machine.ts).
 * The same entries add the size to the collector's count of what was
 * allocated since its last run, which makes a collection due when half the
 * room is spent (kernel/mem/gc.ts).
 */
function noteAllocationRequests(binaryen: Awaited<ReturnType<typeof loadBinaryen>>, mod: InstanceType<Awaited<ReturnType<typeof loadBinaryen>>["Module"]>): void {
  const entries = ALLOCATOR_ENTRIES.map((set) => set.filter(([name]) => mod.getFunction(name))).find((set) => set.length > 0);
  if (!entries) return; // the stub runtime, or no allocation at all
  const counter = gcCounter(binaryen, mod);
  mod.addGlobal(ALLOC_REQUEST_EXPORT, binaryen.i32, true, mod.i32.const(0));
  mod.addGlobalExport(ALLOC_REQUEST_EXPORT, ALLOC_REQUEST_EXPORT);
  for (const [name, sizeParam] of entries) {
    const fn = mod.getFunction(name);
    const info = binaryen.getFunctionInfo(fn);
    if (binaryen.expandType(info.params)[sizeParam] !== binaryen.i32) throw new UserError(`internal: ${name} is not the allocator entry tools/wasm-build.ts was written for`);
    const note = [mod.global.set(ALLOC_REQUEST_EXPORT, mod.local.get(sizeParam, binaryen.i32))];
    if (counter) note.push(mod.global.set(counter, mod.i32.add(mod.global.get(counter, binaryen.i32), mod.local.get(sizeParam, binaryen.i32))));
    // binaryen.js has Function.setBody; its type declarations do not
    (binaryen as unknown as { Function: { setBody(f: number, body: number): void } }).Function.setBody(fn, mod.block(null, [...note, info.body], info.results));
  }
}

/**
 * The collector's allocation count (kernel/mem/gc.ts `gcAllocated`), when the
 * kernel has one: a mutable i32 global whose name ends so (asc names it by
 * its module's path, `~lib/uniwasm/kernel/...` from an app, `kernel/...`
 * from this repository's own kernels).
 */
export const GC_COUNTER_SUFFIX = "kernel/mem/gc/gcAllocated";

function gcCounter(binaryen: Awaited<ReturnType<typeof loadBinaryen>>, mod: InstanceType<Awaited<ReturnType<typeof loadBinaryen>>["Module"]>): string | undefined {
  for (let i = 0; i < mod.getNumGlobals(); i++) {
    const g = binaryen.getGlobalInfo(mod.getGlobalByIndex(i));
    if (g.name.endsWith(GC_COUNTER_SUFFIX) && g.mutable && g.type === binaryen.i32) return g.name;
  }
  return undefined;
}

/** Binaryen (13 MB of JavaScript), loaded only when a stage needs it. */
async function loadBinaryen() {
  return (await import("binaryen")).default;
}

/** A kernel's wasm as a Binaryen module, with the features asc 0.28 emits
 * (SIMD is turned off in asc.ts): without them Binaryen rejects e.g. the
 * memory.fill of the GC's stack frames. */
async function readKernel(bytes: Uint8Array) {
  const binaryen = await loadBinaryen();
  const mod = binaryen.readBinary(bytes);
  const F = binaryen.Features;
  mod.setFeatures(F.MutableGlobals | F.SignExt | F.NontrappingFPToInt | F.BulkMemory | F.BulkMemoryOpt);
  return mod;
}

/** The wasm must be something every platform can run. */
export function checkKernelAbi(bytes: Uint8Array, label: string): void {
  const info = readWasmInfo(bytes);
  const sig = info.exportSignature("main");
  if (!sig) throw new UserError(`${label}: main.ts must export \`function main(): i32\` (the kernel's entry; its result is the exit code)`);
  if (sig.params.length !== 0 || sig.results.join() !== "i32") {
    throw new UserError(`${label}: \`main\` must take no parameters and return i32, but it is (${sig.params.join(", ")}) => ${sig.results.join(", ") || "void"}`);
  }
  const hal = new Set(halImportNames());
  for (const imp of info.imports) {
    const ok = (imp.module === "hal" && hal.has(imp.name)) || (imp.module === "env" && ENV_IMPORTS.has(imp.name));
    if (!ok) {
      throw new UserError(`${label}: imports ${imp.module}.${imp.name}, which no platform provides; a kernel may only import the HAL (kernel/hal.ts)`);
    }
  }
}

