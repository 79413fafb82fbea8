// The TypeScript of the tools (the CLI, the public entries uniwasm/build,
// uniwasm/qemu and uniwasm/sim, the benchmarks) type-checks: the package's
// declarations are emitted without checking (tools/package-build.ts), and
// esbuild strips types without reading them, so only this notices a wrong one.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { PUBLIC_ENTRIES } from "../tools/api/entries.ts";
import { ROOT } from "../tools/paths.ts";

it("tsc finds no type error in the CLI, the public entries and the benchmarks", async () => {
  const files = ["tools/cli.ts", "bench/run.ts", ...Object.values(PUBLIC_ENTRIES)].map((f) => join(ROOT, f));
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const r = await promisify(execFile)(process.execPath, [
    tsc, "--noEmit", "--allowImportingTsExtensions", "--skipLibCheck", "--strict",
    "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "--types", "node", ...files,
  ], { cwd: ROOT, encoding: "utf8", timeout: 110_000 }).then(() => "", (e) => `${e.stdout}${e.stderr}`);
  expect(r).toBe("");
});
