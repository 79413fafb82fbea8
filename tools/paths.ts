import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The uniwasm package root (where kernel/, boot/, host/ live). The launcher
 * sets it when running a bundle from elsewhere (tools/launch.js). */
export const ROOT: string = (globalThis as any).UNIWASM_ROOT ?? resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const BOOT = join(ROOT, "boot");
export { ARCHES, type Arch } from "./arch.ts";

/** This package's version (package.json). */
export function packageVersion(): string {
  return JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
}

/**
 * A dependency's version as its package.json states it: read without loading
 * the package (the compiler and Binaryen are 13 MB of JavaScript), so a cache
 * key can name them on a run that builds nothing.
 */
export function dependencyVersion(name: string): string {
  const require = createRequire(join(ROOT, "package.json"));
  return JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8")).version;
}
