// Runs a TypeScript entry point of uniwasm under plain Node: esbuild bundles
// our own modules (dependencies stay external) into a temporary .mjs, which is
// then imported. Bundling takes tens of milliseconds; loading through a
// TypeScript loader hook instead costs seconds, because every dependency
// (binaryen alone is 13 MB of JavaScript) would pass through the hook thread.
import { buildSync } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, renameSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = globalThis.UNIWASM_ROOT ?? resolve(dirname(fileURLToPath(import.meta.url)), "..");

export async function runTypeScript(entry) {
  // inside node_modules, so the bundle's bare imports resolve like ours do
  const key = createHash("sha256").update(entry).digest("hex").slice(0, 12);
  const dir = join(ROOT, "node_modules", ".cache", "uniwasm", key);
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, "entry.mjs");
  // written aside and renamed: CLIs started together must never import a half-written bundle
  const partial = join(dir, `entry.${process.pid}.tmp.mjs`);
  buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    outfile: partial,
    logLevel: "error",
  });
  renameSync(partial, outfile);
  globalThis.UNIWASM_ROOT = ROOT;
  await import(pathToFileURL(outfile).href);
}
