// buildSimKernel: cached without loading the compiler, and rebuilt when any
// source the app reaches changes — a file it imports from outside its own
// folder included (the stage cache used to look only inside the app folder).
// `uniwasm node` on a cached build does not load the compiler either.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildSimKernel, World } from "../host/sim/index.ts";
import { ROOT } from "../tools/paths.ts";
import { COMPILER_LOADED, watchCompiler } from "./helpers/compiler-watch.ts";
import { scratchDir } from "./helpers/kernel.ts";

describe("buildSimKernel", () => {
  it("reuses its build, and rebuilds when a file imported from outside the app changes", async () => {
    const root = join(ROOT, "build", "test-src", "sim-build");
    mkdirSync(join(root, "app"), { recursive: true });
    mkdirSync(join(root, "shared"), { recursive: true });
    writeFileSync(join(root, "app", "main.ts"), `import { answer } from "../shared/lib";\nexport function main(): i32 { return answer(); }\n`);
    const lib = (n: number) => writeFileSync(join(root, "shared", "lib.ts"), `export function answer(): i32 { return ${n}; }\n`);
    const exitOf = async (wasm: Uint8Array) => {
      const w = new World();
      w.node("n", { kernel: wasm, memory: "4M" });
      return (await w.run()).nodes.n.exitCode;
    };
    const out = join(root, "out");
    lib(5);
    const first = await buildSimKernel(join(root, "app"), { outDir: out });
    const again = await buildSimKernel(join(root, "app"), { outDir: out });
    expect(again.cached).toBe(true);
    expect(Buffer.compare(again.wasm, first.wasm)).toBe(0);
    expect(await exitOf(again.wasm)).toBe(5);
    lib(6);
    const changed = await buildSimKernel(join(root, "app"), { outDir: out });
    expect(changed.cached).toBe(false);
    expect(await exitOf(changed.wasm)).toBe(6);
  }, 300_000);

  it("says what is wrong with an app folder", async () => {
    await expect(buildSimKernel(join(ROOT, "build", "no-such-app"))).rejects.toThrow(/no app folder at/);
  });

  it("uniwasm node on a build that is cached runs without loading the compiler", async () => {
    const app = join(ROOT, "build", "test-src", "sim-node-cached");
    mkdirSync(app, { recursive: true });
    const watch = watchCompiler(scratchDir("compiler-watch"));
    const node = (args: string[]) => new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(process.execPath, [...watch, join(ROOT, "tools/cli.js"), "node", app, ...args], { cwd: ROOT });
      let err = "";
      c.stderr.on("data", (d) => (err += d));
      c.on("close", (code) => resolve({ code, err }));
    });
    for (const args of [[], ["--until", "5"]]) { // the plain build, then the simulation build
      // a new kernel each time, so the first run must build it
      writeFileSync(join(app, "main.ts"), `// ${Date.now()} ${process.pid} ${args.length}\nexport function main(): i32 { return 7; }\n`);
      const first = await node(args);
      expect(first.code, first.err).toBe(7);
      expect(first.err).toContain(`${COMPILER_LOADED}assemblyscript`);
      const again = await node(args);
      expect(again.code, again.err).toBe(7);
      expect(again.err).not.toContain(COMPILER_LOADED);
    }
  }, 300_000);
});
