// The CLI's answers to wrong input: each a specific message and a non-zero exit.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { parsePcap } from "../host/pcap.ts";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { ROOT } from "../tools/paths.ts";
import { scratchDir } from "./helpers/kernel.ts";
import { startCli } from "./helpers/cli.ts";

/** Runs the CLI without blocking the test worker (a build can take minutes on a loaded machine). */
function cli(args: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "tools/cli.js"), ...args], { cwd, env: { ...process.env, ...env } });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ code, out }));
  });
}

// builds on a shared 2-core machine: minutes, not seconds
vi.setConfig({ testTimeout: 600_000 });

describe("uniwasm CLI errors", () => {
  it("names a missing app folder", async () => {
    const r = await cli(["image", "apps/does-not-exist"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("uniwasm: no app folder at apps/does-not-exist");
  });

  it("names a folder without main.ts", async () => {
    const dir = scratchDir("empty-app");
    const r = await cli(["image", dir]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("has no main.ts");
  });

  it("shows the AssemblyScript diagnostic with file and line for a compile error", async () => {
    const dir = join(scratchDir("bad-app"), "broken");
    mkdirSync(dir);
    writeFileSync(join(dir, "main.ts"), "export function main(): i32 {\n  return notDeclaredAnywhere;\n}\n");
    const r = await cli(["image", dir, "--out", join(dir, "out")]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("failed to compile");
    expect(r.out).toContain("TS2304: Cannot find name 'notDeclaredAnywhere'");
    expect(r.out).toMatch(/broken\/main\.ts\(2,10\)/);
  });

  it("rejects an app without a proper main export", async () => {
    const dir = join(scratchDir("no-main"), "nomain");
    mkdirSync(dir);
    writeFileSync(join(dir, "main.ts"), "export function start(): void {}\n");
    const r = await cli(["node", dir, "--out", join(dir, "out")]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("main.ts must export `function main(): i32`");
  });

  it("rejects an app importing something no platform provides", async () => {
    const dir = join(scratchDir("foreign"), "foreign");
    mkdirSync(dir);
    writeFileSync(join(dir, "main.ts"), '@external("wasi", "fd_write") declare function fd_write(a: i32): i32;\nexport function main(): i32 { return fd_write(1); }\n');
    const r = await cli(["node", dir, "--out", join(dir, "out")]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("imports wasi.fd_write, which no platform provides");
  });

  it("says which tool is missing and how to install it", async () => {
    const r = await cli(["image", "apps/hello", "--out", join(scratchDir("nochain"), "out")], { PATH: scratchDir("empty-path") });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/missing toolchain: clang not found; install it with: apt-get install clang/);
  });

  it("reports a tool override that points nowhere", async () => {
    const r = await cli(["image", "apps/hello", "--out", join(scratchDir("nochain2"), "out")], { UNIWASM_LD: "/nonexistent/ld.lld" });
    expect(r.code).toBe(1);
    expect(r.out).toContain("UNIWASM_LD=/nonexistent/ld.lld does not name an existing program");
  });

  it("rejects unknown verbs, options and bad values in one line, with a suggestion and the verb's help", async () => {
    const verb = await cli(["bot", "apps/hello"]);
    expect(verb).toMatchObject({ code: 2 });
    expect(verb.out).toBe('uniwasm: unknown verb "bot" (did you mean boot?); see uniwasm --help\n');
    expect((await cli(["frobnicate"])).out).toBe('uniwasm: unknown verb "frobnicate"; see uniwasm --help\n');
    const opt = await cli(["image", "apps/hello", "--colour", "red"]);
    expect(opt).toEqual({ code: 2, out: "uniwasm: image: unknown option --colour; see uniwasm image --help\n" });
    expect(await cli(["boot", "apps/hello", "--mme", "1G"])).toEqual({ code: 2, out: "uniwasm: boot: unknown option --mme (did you mean --mem?); see uniwasm boot --help\n" });
    expect((await cli(["boot", "apps/hello", "--hostfw", "tcp::1-:2"])).out).toContain("(did you mean --hostfwd?)");
    const arch = await cli(["image", "apps/hello", "--arch", "riscv"]);
    expect(arch.code).toBe(2);
    expect(arch.out).toMatch(/^uniwasm: --arch riscv: expected one of x86_64.*; see uniwasm image --help\n$/);
    const mem = await cli(["boot", "apps/hello", "--mem", "lots"]);
    expect(mem).toEqual({ code: 2, out: "uniwasm: --mem lots: expected a size such as 16M, 512M or 2G; see uniwasm boot --help\n" });
    // An option whose value may be left out still checks a number given after it.
    expect(await cli(["boot", "apps/hello", "--gdb", "99999"])).toEqual({ code: 2, out: "uniwasm: --gdb 99999: expected a TCP port; see uniwasm boot --help\n" });
    expect(await cli(["boot", "apps/hello", "--timeout"])).toEqual({ code: 2, out: "uniwasm: --timeout needs a value <s>; see uniwasm boot --help\n" });
    expect(await cli(["boot", "apps/hello", "apps/echo"])).toEqual({ code: 2, out: "uniwasm: boot takes exactly 1 argument (<app|image>), got 2; see uniwasm boot --help\n" });
    expect((await cli(["boot"])).code).toBe(2);
    expect(await cli(["image", "apps/hello", "--", "-x"])).toEqual({ code: 2, out: "uniwasm: image takes nothing after --; see uniwasm image --help\n" });
    expect((await cli(["boot", "apps/hello", "--timeout", "1", "--timeout", "2"])).out).toBe("uniwasm: --timeout given more than once; see uniwasm boot --help\n");
  });

  it("refuses an option of another verb instead of ignoring it, naming the verb's own where it has one (node --timeout)", async () => {
    const r = await cli(["node", "apps/hello", "--net", "sim", "--timeout", "5"]);
    expect(r).toEqual({ code: 2, out: "uniwasm: node: unknown option --timeout (--timeout is an option of boot; node's is --until <s>); see uniwasm node --help\n" });
    expect(await cli(["node", "apps/hello", "--accel", "tcg"])).toEqual({ code: 2, out: "uniwasm: node: unknown option --accel (--accel is an option of boot and export, not of node); see uniwasm node --help\n" });
  });

  it("refuses an option that needs another one, or implies it", async () => {
    expect(await cli(["boot", "apps/hello", "--net", "tap", "--hostfwd", "tcp::8080-:80"])).toEqual({ code: 2, out: "uniwasm: --hostfwd needs --net user, not --net tap; see uniwasm boot --help\n" });
    expect(await cli(["boot", "apps/hello", "--pcap", "x.pcap"])).toEqual({ code: 2, out: "uniwasm: --pcap needs --net user or --net tap; see uniwasm boot --help\n" });
  });

  it("names an option vitest does not know in one line, as typed, without a stack", async () => {
    for (const [arg, named] of [["--bad-option", "--bad-option"], ["--reporterr=dot", "--reporterr"], ["-x", "-x"]]) {
      expect(await cli(["test", arg])).toEqual({ code: 2, out: `uniwasm: test: unknown option ${named} (test's arguments go to vitest); see npx vitest --help\n` });
    }
  });

  it("checks a benchmark's options before running it, and prints them with --help", async () => {
    // None of these starts a benchmark: a wrong option must not cost minutes of QEMU first.
    expect(await cli(["bench", "apps", "--frob"])).toEqual({ code: 2, out: "uniwasm bench: unknown option --frob for apps; see uniwasm bench apps --help\n" });
    expect(await cli(["bench", "peers", "--runs=three"])).toEqual({ code: 2, out: "uniwasm bench: --runs=three: expected a number; see uniwasm bench peers --help\n" });
    expect(await cli(["bench", "apps", "--only=mysql"])).toEqual({ code: 2, out: "uniwasm bench: --only=mysql: expected one of http, redis; see uniwasm bench apps --help\n" });
    expect(await cli(["bench", "peers", "--no-memory=yes"])).toEqual({ code: 2, out: "uniwasm bench: --no-memory takes no value; see uniwasm bench peers --help\n" });
    expect((await cli(["bench", "lowmem", "--mems=4,x"])).code).toBe(2);
    expect((await cli(["bench", "tcp", "--runs=2", "--runs=3"])).out).toBe("uniwasm bench: --runs given more than once; see uniwasm bench tcp --help\n");
    expect(await cli(["bench", "nope"])).toMatchObject({ code: 2, out: expect.stringContaining('no benchmark "nope"') });
    const help = await cli(["bench", "apps", "peers", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("  uniwasm bench apps [--runs=<n>] [--duration=<n>] [--requests=<n>] [--mem=<n>] [--only=<http|redis>]\n");
    expect(help.out).toContain("  uniwasm bench peers [--runs=<n>]");
  });

  it("has help for every verb, with examples, as --help and as help <verb>", async () => {
    const top = await cli(["--help"]);
    expect(top.code).toBe(0);
    for (const verb of ["image", "boot", "node", "new", "start", "setup", "test", "bench", "help"]) {
      expect(top.out).toMatch(new RegExp(`^  ${verb} `, "m"));
      const h = await cli([verb, "--help"]);
      expect(h.code).toBe(0);
      expect(h.out).toMatch(new RegExp(`^usage: uniwasm ${verb}`));
      expect(h.out).toContain("examples:\n  uniwasm ");
      expect((await cli(["help", verb])).out).toBe(h.out);
    }
    const boot = (await cli(["boot", "apps/hello", "--mem", "lots", "--help"])).out;
    expect(boot).toContain("--machine <type>    the QEMU machine type of the image's architecture");
    expect(boot.replace(/\s+/g, " ")).toContain("one of pc, q35, microvm, virt, virt-gicv3, virt-el2; default pc (x86_64), virt (aarch64))");
    expect(await cli(["help", "nod"])).toEqual({ code: 2, out: 'uniwasm: unknown verb "nod" (did you mean node?); see uniwasm --help\n' });
    expect((await cli([])).code).toBe(2);
  });

  it("prints its version", async () => {
    const v = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
    expect(await cli(["--version"])).toEqual({ code: 0, out: `uniwasm ${v}\n` });
  });
});

describe("the edit loop", () => {
  it("shares one wasm build between image and node, and rebuilds only what an edit changed", async () => {
    // a copy of apps/hello built from a folder of its own (build/ is relative to where the CLI runs)
    const work = scratchDir("edit-loop");
    const app = join(work, "hello");
    mkdirSync(app);
    const source = readFileSync(join(ROOT, "apps/hello/main.ts"), "utf8"); // imports "uniwasm", which the CLI resolves anywhere
    writeFileSync(join(app, "main.ts"), source);
    const stages = (out: string) => Object.fromEntries(out.split("\n").map((l) => /^  (\S+) +(.*)$/.exec(l)).filter((m) => m).map((m) => [m![1], m![2]]));
    const first = await cli(["image", "hello"], {}, work);
    expect(first.code, first.out).toBe(0);
    const parts = Number(/-> (\d+) C files/.exec(stages(first.out).wasm2c)![1]);
    expect(parts).toBeGreaterThan(1); // wasm2c's output is split for clang to compile side by side
    expect(stages(first.out).clang).toMatch(/^(\d+) objects, \1 compiled \(\d+ ms\)$/);
    // node starts from the wasm image built
    const node = await cli(["node", "hello"], {}, work);
    expect(node.code, node.out).toBe(0);
    expect(stages(node.out)).toMatchObject({ asc: expect.stringMatching(/build\/hello\/wasm\/hello\.asc\.wasm {2}\(unchanged, reused\)$/), binaryen: expect.stringMatching(/\(unchanged, reused\)$/) });
    // a comment: asc runs again, the wasm is the same, nothing after it is redone
    writeFileSync(join(app, "main.ts"), source + "// a comment\n");
    const comment = stages((await cli(["image", "hello"], {}, work)).out);
    expect(comment.asc).not.toContain("reused");
    expect(comment.wasm2c).toMatch(/\(unchanged, reused\)$/);
    expect(comment.clang).toMatch(/objects {2}\(unchanged, reused\)$/);
    // a change in one function: one generated C file is compiled again, the rest reused
    writeFileSync(join(app, "main.ts"), source.replace('println("goodbye")', 'println("farewell")'));
    const edit = await cli(["image", "hello"], {}, work);
    expect(edit.code, edit.out).toBe(0);
    expect(stages(edit.out).wasm2c).not.toContain("reused");
    const [, total, compiled] = /^(\d+) objects, (\d+) compiled/.exec(stages(edit.out).clang)!.map(Number);
    expect(compiled).toBeGreaterThanOrEqual(1);
    expect(compiled).toBeLessThan(parts);
    expect(total).toBeGreaterThan(parts);
    // the dev profile builds beside release, in folders of its own
    const dev = await cli(["image", "hello", "--profile", "dev"], {}, work);
    expect(dev.code, dev.out).toBe(0);
    expect(dev.out).toContain("uniwasm: image build/hello/x86_64-dev/hello.img");
    expect(stages(dev.out).asc).toMatch(/build\/hello\/wasm-dev\/hello\.asc\.wasm$/);
  });
});

describe("a signal during a build", () => {
  it("SIGTERM to the CLI alone: one line, exit 143, the compilers stopped with it, and the next build completes", async () => {
    const work = scratchDir("build-signal");
    mkdirSync(join(work, "hello"));
    writeFileSync(join(work, "hello", "main.ts"), readFileSync(join(ROOT, "apps/hello/main.ts"), "utf8"));
    const run = startCli(["image", "hello"], work);
    await run.ready(/^ {2}wasm2c /m); // clang starts on the generated C files now
    run.child.kill("SIGTERM"); // the CLI's process only, as kill <pid> sends it
    expect(await run.exit).toBe(143);
    const out = run.out();
    const line = /^uniwasm: stopped by SIGTERM \(exit 143\)(?:; stopped (\d+) build process(?:es)? with it)?$/m.exec(out);
    expect(line, out).not.toBeNull();
    if (line![1]) {
      // no compiler left writing into the build folder
      await new Promise((r) => setTimeout(r, 1000));
      const left = spawnSync("pgrep", ["-f", join(work, "build")], { encoding: "utf8" });
      expect(left.stdout).toBe("");
    }
    const again = await cli(["image", "hello"], {}, work);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain("uniwasm: image build/hello/x86_64/hello.img");
  });
});

describe("a signal during uniwasm test", () => {
  it("SIGTERM to the CLI alone stops the test runner too: one line, exit 143, no runner left", async () => {
    const tag = `signal-${process.pid}-${Date.now()}`; // names the runner's process
    const run = startCli(["test", "tests/pattern.test.ts", "-t", tag]);
    await run.ready(/ RUN /);
    run.child.kill("SIGTERM");
    expect(await run.exit).toBe(143);
    expect(run.out()).toMatch(/^uniwasm: stopped by SIGTERM \(exit 143\)$/m);
    expect(spawnSync("pgrep", ["-f", tag], { encoding: "utf8" }).stdout).toBe("");
  });
});

describe("uniwasm node --net sim", () => {
  it("runs a networked app on a simulated NIC shaped like QEMU's user network, with a capture", async () => {
    const pcap = join(scratchDir("simnet"), "run.pcap");
    const r = await cli(["node", "apps/netdemo", "--net", "sim", "--pcap", pcap, "--append", "run=2"]);
    expect(r.out).toContain("netdemo: dhcp lease 10.0.2.15/24 from 10.0.2.2");
    expect(r.out).toContain("netdemo: ping 10.0.2.2: reply seq 1 (56 bytes)");
    expect(r.code).toBe(0);
    const frames = parsePcap(readFileSync(pcap)).records;
    expect(frames.length).toBeGreaterThanOrEqual(6); // DHCP x4, ARP, ping
  });

  it("refuses a capture without the simulated network", async () => {
    const r = await cli(["node", "apps/hello", "--pcap", "/tmp/x.pcap"]);
    expect(r).toEqual({ code: 2, out: "uniwasm: --pcap needs --net sim; see uniwasm node --help\n" });
  });
});
