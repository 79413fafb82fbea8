// Test helpers: build an AssemblyScript entry file into kernel wasm with the
// real toolchain stages (cached per source tree), and run it on the Node
// platform.

import { mkdirSync, readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { Machine, type MachineOptions, type RunResult } from "../../host/machine.ts";
import { loadApp } from "../../tools/app.ts";
import { StageCache } from "../../tools/cache.ts";
import { ROOT } from "../../tools/paths.ts";
import { buildWasm, type Log } from "../../tools/wasm-build.ts";

const quiet: Log = { stage: () => {}, info: () => {} };

/** Builds the app folder `dir` (holding main.ts) and returns its wasm bytes;
 * `files` bakes a folder in as the image builder's --files does. */
export async function buildAppWasm(dir: string, files?: string): Promise<Uint8Array> {
  return readFileSync((await build(dir, false, files)).wasm);
}

/** The simulation build of an app, for running several kernels in a World. */
export async function buildAppSimWasm(dir: string, files?: string): Promise<Uint8Array> {
  return readFileSync((await build(dir, true, files)).simWasm!);
}

async function build(dir: string, simulation: boolean, files?: string) {
  const app = loadApp(dir);
  const out = join(ROOT, "build", "test", basename(dirname(dir)) + "-" + app.name + (files ? "-" + basename(files) : ""));
  mkdirSync(out, { recursive: true });
  return buildWasm(app, out, new StageCache(join(out, ".stages.json")), quiet, { simulation, files });
}

/** Builds a kernel from AssemblyScript source text (imports relative to the repo root). */
export async function buildSourceWasm(name: string, source: string): Promise<Uint8Array> {
  return buildAppWasm(sourceApp(name, source));
}

/** The simulation build of a kernel given as source text. */
export async function buildSourceSimWasm(name: string, source: string): Promise<Uint8Array> {
  return buildAppSimWasm(sourceApp(name, source));
}

function sourceApp(name: string, source: string): string {
  const dir = join(ROOT, "build", "test-src", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "main.ts"), source);
  return dir;
}

/** Runs kernel wasm on a fresh Node machine; output is captured, not printed. */
export async function runWasm(wasm: Uint8Array, opts: MachineOptions = {}): Promise<RunResult & { machine: Machine }> {
  const machine = new Machine({ console: () => {}, ...opts });
  const r = await machine.run(wasm);
  return { ...r, machine };
}

export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `uniwasm-${prefix}-`));
}
