// uniwasm as a dependency: an AssemblyScript project outside this repository
// imports the kernel by package name and builds through the `uniwasm` bin.
import { spawnSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "../tools/paths.ts";
import { scratchDir } from "./helpers/kernel.ts";

it("builds and runs an app that imports uniwasm by package name", () => {
  const project = scratchDir("library-user");
  mkdirSync(join(project, "node_modules"));
  symlinkSync(ROOT, join(project, "node_modules", "uniwasm"));
  mkdirSync(join(project, "myapp"));
  writeFileSync(
    join(project, "myapp", "main.ts"),
    `import { println, printU64 } from "uniwasm";
import * as hal from "uniwasm/kernel/hal";
export function main(): i32 {
  println("a library user");
  printU64(hal.mem_limit() >> 20);
  println(" MiB");
  return 7;
}
`,
  );
  const bin = join(project, "node_modules", "uniwasm", "tools", "cli.js");
  const r = spawnSync(process.execPath, [bin, "node", "myapp", "--mem", "8M"], { cwd: project, encoding: "utf8", timeout: 120_000 });
  expect(r.stderr).toContain("uniwasm: kernel exited with code 7");
  expect(r.stdout).toBe("a library user\n8 MiB\n");
  expect(r.status).toBe(7);
});
