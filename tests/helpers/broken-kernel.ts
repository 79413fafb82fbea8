// A deliberately broken kernel for tests of failure hunting: a copy of the
// sources a test kernel is built from, in a scratch folder, with one bug
// injected. Never shipped: it exists only for the test that builds it.
import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT } from "../../tools/paths.ts";
import { scratchDir } from "./kernel.ts";

export interface Injection {
  /** A folder under the repository whose .ts files are searched. */
  under: string;
  find: RegExp;
  replace: string;
}

/**
 * Copies kernel/, drivers/, apps/ and tests/kernels/ into a scratch folder
 * (relative imports keep working), applies `bug` to the first file that
 * matches, and returns the copy's folder of `kernel` (e.g. "tests/kernels/tcp-peer").
 */
export function brokenKernel(kernel: string, bug: Injection): { appDir: string; file: string } {
  const root = scratchDir("broken");
  for (const d of ["kernel", "drivers", "apps", "tests/kernels"]) {
    mkdirSync(dirname(join(root, d)), { recursive: true });
    cpSync(join(ROOT, d), join(root, d), { recursive: true });
  }
  for (const name of readdirSync(join(root, bug.under), { recursive: true }) as string[]) {
    if (!name.endsWith(".ts")) continue;
    const file = join(root, bug.under, name);
    const src = readFileSync(file, "utf8");
    if (!bug.find.test(src)) continue;
    writeFileSync(file, src.replace(bug.find, bug.replace));
    return { appDir: join(root, kernel), file: join(bug.under, name) };
  }
  throw new Error(`the injection point ${bug.find} is not in ${bug.under} any more: update the test's bug to the code as it is now`);
}

/**
 * An off-by-one at the receive window's left edge: when an in-order segment
 * reaches data held out of order, one byte fewer than arrived becomes
 * readable, so the stream the app reads slips by a byte at every repaired loss.
 */
export const RECEIVE_WINDOW_OFF_BY_ONE: Injection = {
  under: "kernel/net/tcp",
  find: /rb\.commit\(r - (\w+)\.rcvNxt\);/,
  replace: "rb.commit(r - $1.rcvNxt - 1);",
};
