// What an app is: a folder with a main.ts exporting `main(): i32`, and an
// optional uniwasm.json with build settings.

import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { UserError } from "./errors.ts";

export interface AppConfig {
  /** AssemblyScript runtime: "minimal" (default, kernel/mem/gc.ts), "incremental" or "stub". */
  runtime?: string;
  optimizeLevel?: number;
  shrinkLevel?: number;
  /** Extra flags for asc. */
  ascFlags?: string[];
  /** Binaryen passes run after asc (names as in wasm-opt, without dashes). */
  binaryenPasses?: string[];
  /** Default RAM for `boot`, e.g. "16M". */
  memory?: string;
  /** Default kernel command line for `boot`. */
  cmdline?: string;
  /** Bounds checks of the native image: "guard" (default) or "explicit". */
  bounds?: string;
  /** A folder (relative to the app) baked into the kernel as read-only files (tools/files.ts). */
  files?: string;
  /** Default architecture for `image` and `boot`: "x86_64" (default) or "aarch64". */
  arch?: string;
}

export interface App {
  dir: string;
  name: string;
  entry: string;
  config: AppConfig;
}

const KNOWN_KEYS = new Set(["runtime", "optimizeLevel", "shrinkLevel", "ascFlags", "binaryenPasses", "memory", "cmdline", "bounds", "files", "arch"]);

export function loadApp(folder: string): App {
  const dir = resolve(folder);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError(`no app folder at ${folder}: an app is a folder holding main.ts (see docs/writing-an-app.md)`);
  }
  const entry = join(dir, "main.ts");
  if (!existsSync(entry)) throw new UserError(`${folder} has no main.ts: an app's entry file exports \`function main(): i32\``);
  let config: AppConfig = {};
  const cfgPath = join(dir, "uniwasm.json");
  if (existsSync(cfgPath)) {
    try {
      config = JSON.parse(readFileSync(cfgPath, "utf8"));
    } catch (e) {
      throw new UserError(`${cfgPath}: not valid JSON (${(e as Error).message})`);
    }
    for (const k of Object.keys(config)) if (!KNOWN_KEYS.has(k)) throw new UserError(`${cfgPath}: unknown setting "${k}" (known: ${[...KNOWN_KEYS].join(", ")})`);
  }
  return { dir, name: basename(dir), entry, config };
}
