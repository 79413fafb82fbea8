// Builds of one folder take turns (tools/cache.ts withBuildLock): two test
// files, or a test run and a CLI, building the same app into the same
// folder must not write the same files at once.
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { withBuildLock } from "../tools/cache.ts";
import { scratchDir } from "./helpers/kernel.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("build folder lock", () => {
  it("runs builds of one folder one after the other, in one process; a nested one in the same chain goes on", async () => {
    const dir = scratchDir("lock-local");
    const log: string[] = [];
    const build = (name: string) => withBuildLock(dir, async () => {
      log.push(`${name} start`);
      await sleep(50);
      await withBuildLock(dir, async () => log.push(`${name} nested`));
      log.push(`${name} end`);
      return name;
    });
    expect(await Promise.all([build("a"), build("b"), build("c")])).toEqual(["a", "b", "c"]);
    expect(log).toEqual(["a start", "a nested", "a end", "b start", "b nested", "b end", "c start", "c nested", "c end"]);
  });

  it("waits for another process holding the folder, and takes over a lock whose holder died", async () => {
    const dir = scratchDir("lock-procs");
    // another process holds the lock for 1 s once it says so
    const holder = spawn(process.execPath, ["-e", `
      const fs = require("fs"), p = require("path"); const l = p.join(${JSON.stringify(dir)}, ".lock");
      fs.mkdirSync(l); fs.writeFileSync(p.join(l, "pid"), String(process.pid)); process.stdout.write("held\\n");
      setTimeout(() => fs.rmSync(l, { recursive: true }), 1000);`], { stdio: ["ignore", "pipe", "inherit"] });
    const ended = new Promise((r) => holder.on("close", r));
    await new Promise((r) => holder.stdout!.once("data", r));
    const t0 = Date.now();
    let during = false;
    await withBuildLock(dir, async () => {
      during = existsSync(join(dir, ".lock", "pid")) && readFileSync(join(dir, ".lock", "pid"), "utf8") === String(process.pid);
    });
    expect(during).toBe(true); // it was ours, not the other process's
    expect(Date.now() - t0).toBeGreaterThan(500);
    await ended;
    // a lock left by a process that is gone (killed mid-build)
    const gone = await promisify(execFile)(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    mkdirSync(join(dir, ".lock"));
    writeFileSync(join(dir, ".lock", "pid"), gone.stdout);
    const t1 = Date.now();
    expect(await withBuildLock(dir, async () => "built")).toBe("built");
    expect(Date.now() - t1).toBeLessThan(5000);
    rmSync(dir, { recursive: true, force: true });
  });
});
