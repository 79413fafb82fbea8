// `uniwasm bench build`: the build time of apps/httpd, clean and after a
// comment-only edit, at an older commit against this tree's HEAD (release
// and dev profiles), measured by bench/build-time.sh with hyperfine; the
// Markdown tables go to bench/results/build-time-<date>.md.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../tools/paths.ts";
import { findTool } from "../tools/toolchain.ts";
import { flag, value } from "./args.ts";

/** The commit before wasm2c's output was split and compiled side by side (docs/benchmarks.md#build-time). */
const BEFORE = "e579b63";

export async function buildTimeBench(flags: string[]): Promise<void> {
  if (!findTool({ name: "hyperfine", env: "UNIWASM_HYPERFINE", pkg: "hyperfine" })) {
    process.stderr.write("uniwasm bench build: needs hyperfine (apt-get install hyperfine)\n");
    process.exitCode = 1;
    return;
  }
  const base = value(flags, "base") ?? BEFORE;
  const runs = flag(flags, "runs", 3);
  const dir = join(ROOT, "bench/results");
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "uniwasm-build-time-tables-"));
  const r = spawnSync("bash", [join(ROOT, "bench/build-time.sh"), base, String(runs)], { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, OUT: work } });
  if (r.status !== 0) {
    process.exitCode = r.status ?? 1;
    return;
  }
  const head = spawnSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).stdout.trim();
  const file = join(dir, `build-time-${new Date().toISOString().slice(0, 16).replace(/[T:]/g, "-")}.md`);
  const tables = ["clean", "incremental"].map((t) => `### ${t === "clean" ? "Clean" : "Comment-only edit"}\n\n${readFileSync(join(work, `${t}.md`), "utf8")}`);
  rmSync(work, { recursive: true, force: true });
  writeFileSync(file, `# Build time of apps/httpd: ${base} (base) against ${head} (head)\n\n\`uniwasm bench build --base=${base} --runs=${runs}\` (bench/build-time.sh)\n\n${tables.join("\n")}`);
  process.stdout.write(`uniwasm bench build: ${file}\n`);
}
