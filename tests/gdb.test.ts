// `uniwasm boot --gdb`: QEMU waits with its gdbstub on loopback, the CLI prints
// the gdb command line, and Debian's gdb, driven by that line, breaks in an app
// function by its AssemblyScript name and shows a backtrace with the app's
// source files and lines (tools/gdb/uniwasm.py).
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it, vi } from "vitest";
import { ROOT } from "../tools/paths.ts";
import { findTool } from "../tools/toolchain.ts";
import { freePort } from "./helpers/ports.ts";

vi.setConfig({ testTimeout: 600_000 });
const run = promisify(execFile);
const haveGdb = !!findTool({ name: "gdb", env: "UNIWASM_GDB", pkg: "gdb" });

it.skipIf(!haveGdb)("gdb breaks in an app function by its AssemblyScript name and backtraces with source lines", async () => {
  const port = await freePort();
  const boot = spawn(process.execPath, [join(ROOT, "tools/cli.js"), "boot", "tests/kernels/gdb", "--profile", "dev", "--gdb", String(port), "--timeout", "500"], { cwd: ROOT });
  let err = "";
  let out = "";
  boot.stderr.on("data", (d) => (err += d));
  boot.stdout.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => boot.on("close", (c) => r(c)));
  for (let i = 0; i < 3000 && !/\n  gdb .*\n/.test(err); i++) await new Promise((r) => setTimeout(r, 100));
  const line = /\n  (gdb -q -x (\S+) -ex 'target remote 127\.0\.0\.1:(\d+)' (\S+))\n/.exec(err);
  expect(line, err).not.toBeNull();
  expect(line![2]).toBe(join(ROOT, "tools/gdb/uniwasm.py"));
  expect(line![3]).toBe(String(port));
  expect(err).toContain(`uniwasm: QEMU waits for gdb on 127.0.0.1:${port}; from another terminal:`);
  expect(out).toBe(""); // the CPU is held until gdb continues
  // the printed command, scripted: break by AS name, run to it, backtrace
  const gdb = await run("gdb", [
    "-q", "-batch", "-x", line![2], "-ex", `target remote 127.0.0.1:${port}`,
    "-ex", "break 'tests/kernels/gdb/main/Greeter#greet'", "-ex", "continue", "-ex", "bt", "-ex", "kill", line![4],
  ], { encoding: "utf8", timeout: 300_000 });
  const text = gdb.stdout + gdb.stderr;
  expect(text).toMatch(/Breakpoint 1, 0x[0-9a-f]+ in tests\/kernels\/gdb\/main\/Greeter#greet \(\)/);
  expect(text).toMatch(/#0 +0x[0-9a-f]+ in tests\/kernels\/gdb\/main\/Greeter#greet \(\) at tests\/kernels\/gdb\/main\.ts:9\n/);
  // the dev profile inlines nothing: every caller is a frame of its own
  expect(text).toMatch(/#1 +0x[0-9a-f]+ in tests\/kernels\/gdb\/main\/twice \(\) at tests\/kernels\/gdb\/main\.ts:19\n/);
  expect(text).toMatch(/#2 +0x[0-9a-f]+ in tests\/kernels\/gdb\/main\/main \(\) at tests\/kernels\/gdb\/main\.ts:\d+\n/);
  expect(text).not.toContain("w2c_kernel_");
  expect(await exited).toBe(74);
  expect(err).toContain("uniwasm: stopped from gdb (exit 74)");
  expect(out).toBe(""); // stopped before greet printed anything
});
