// Run at pack time (npm's prepack): the TypeScript API as JavaScript with type
// declarations in dist/, so plain Node imports uniwasm/build, uniwasm/qemu and
// uniwasm/sim. The bundles share chunks (one UserError class, one StageCache),
// and sit directly in dist/ so the package root is one folder up from each of
// them, as it is from tools/.

import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "./paths.ts";
import { INTERNAL_ENTRIES, PUBLIC_ENTRIES } from "./api/entries.ts";

const DIST = join(ROOT, "dist");

async function main(): Promise<void> {
  rmSync(DIST, { recursive: true, force: true });
  const entries = Object.fromEntries(Object.entries(PUBLIC_ENTRIES).filter(([, src]) => existsSync(join(ROOT, src))));
  const exportsMap = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).exports ?? {};
  for (const name of Object.keys(entries)) if (!exportsMap[`./${name}`]) throw new Error(`package.json "exports" lacks ./${name}`);
  await build({
    entryPoints: Object.fromEntries(Object.entries({ ...entries, ...INTERNAL_ENTRIES }).map(([name, src]) => [name, join(ROOT, src)])),
    outdir: DIST,
    bundle: true,
    splitting: true,
    chunkNames: "chunk-[hash]",
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "error",
  });
  // declarations of the sources, then one small .d.ts per entry pointing at them
  const types = join(DIST, "types");
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [
    tsc, "--declaration", "--emitDeclarationOnly", "--allowImportingTsExtensions", "--skipLibCheck", "--noCheck",
    "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "--types", "node",
    "--rootDir", ROOT, "--outDir", types, ...Object.values(entries).map((s) => join(ROOT, s)),
  ], { stdio: "inherit" });
  for (const file of walk(types)) {
    // the declarations name the sources' .ts files; in dist they are .d.ts beside .js-less stubs
    const text = readFileSync(file, "utf8").replace(/(from\s+|import\()(["'])(\.\.?\/[^"']+)\.ts\2/g, "$1$2$3.js$2");
    writeFileSync(file, text);
  }
  for (const [name, src] of Object.entries(entries)) {
    const decl = "./" + relative(DIST, join(types, src.replace(/\.ts$/, ".js"))).replace(/\\/g, "/");
    writeFileSync(join(DIST, `${name}.d.ts`), `export * from "${decl}";\n`);
  }
  process.stderr.write(`uniwasm: built ${Object.keys(entries).map((n) => `uniwasm/${n}`).join(", ")} into ${relative(process.cwd(), DIST) || "dist"}\n`);
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : n.endsWith(".d.ts") ? [join(dir, n)] : []));
}

mkdirSync(DIST, { recursive: true });
await main();
