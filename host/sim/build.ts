// buildSimKernel: an app folder -> its simulation build (the kernel wasm
// instrumented by Asyncify, host/world.ts), cached.
//
// Why a cache check of its own in front of tools/wasm-build.ts: that
// pipeline asks the AssemblyScript compiler for its version to key its first
// stage, and loading the compiler (with Binaryen, 13 MB of JavaScript) costs
// seconds. Here the key is every source file the kernel is built from (the
// app, the kernel, the drivers, and what the app reaches by relative imports), the
// app's settings and the compiler's and Binaryen's versions as their
// package.json files state them: when nothing changed, the wasm is read back
// without loading any of the toolchain.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadApp } from "../../tools/app.ts";
import { hashOf, hashSources } from "../../tools/cache.ts";
import { dependencyVersion, ROOT } from "../../tools/paths.ts";

export interface SimKernel {
  /** The app's name (its folder's name). */
  name: string;
  /** Where the simulation build was written. */
  path: string;
  wasm: Uint8Array;
  /** True when it came from the cache without building. */
  cached: boolean;
}

export interface BuildSimKernelOptions {
  /** Where the build goes. Default: build/<app>/wasm under the current directory (as `uniwasm node`). */
  outDir?: string;
  /** Receives one line per build stage; default: silent. */
  log?: (line: string) => void;
}

const MANIFEST = ".sim-kernel.json";

/** Builds (or reuses) the simulation build of the app folder `appDir`. */
export async function buildSimKernel(appDir: string, opts: BuildSimKernelOptions = {}): Promise<SimKernel> {
  const app = loadApp(appDir);
  const outDir = resolve(opts.outDir ?? join("build", app.name, "wasm"));
  const path = join(outDir, `${app.name}.sim.wasm`);
  const key = sourceKey(app.dir, JSON.stringify(app.config));
  const manifest = join(outDir, MANIFEST);
  if (existsSync(path) && readManifest(manifest) === key) {
    return { name: app.name, path, wasm: readFileSync(path), cached: true };
  }
  mkdirSync(outDir, { recursive: true });
  // only now load the pipeline, and through it the compiler
  const [{ buildWasm }, { StageCache }] = await Promise.all([import("../../tools/wasm-build.ts"), import("../../tools/cache.ts")]);
  const log = opts.log ?? (() => {});
  const r = await buildWasm(app, outDir, new StageCache(join(outDir, ".stages.json")), {
    stage: (name, detail, cached) => log(`${name} ${detail}${cached ? " (unchanged)" : ""}`),
    info: log,
  }, { simulation: true });
  writeFileSync(manifest, JSON.stringify({ key }));
  return { name: app.name, path: r.simWasm!, wasm: readFileSync(r.simWasm!), cached: false };
}

function sourceKey(appDir: string, config: string): string {
  const sources = hashSources(appDir, [appDir, join(ROOT, "kernel"), join(ROOT, "drivers")]);
  return hashOf("sim-kernel-1", sources, config, dependencyVersion("assemblyscript"), dependencyVersion("binaryen"), ROOT);
}

function readManifest(file: string): string | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")).key;
  } catch {
    return undefined;
  }
}
