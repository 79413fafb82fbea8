// The package as a user gets it: `npm pack`, a project made by `uniwasm new`
// in a temporary folder installing the tarball, and that project's own test
// (build, boot under QEMU, talk to it) run by `npm test`, for every template.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { availableTemplates } from "../tools/new.ts";
import { ROOT } from "../tools/paths.ts";
import { scratchDir } from "./helpers/kernel.ts";
import { freePort } from "./helpers/ports.ts";
import { COMPILER_LOADED, watchCompiler } from "./helpers/compiler-watch.ts";

// builds and boots under TCG on a shared 2-core machine: minutes, not seconds
vi.setConfig({ testTimeout: 600_000 });

const CLI = join(ROOT, "tools/cli.js");
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");

/** The same without blocking the test worker (builds and boots take minutes on a loaded machine). */
function runAsync(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, npm_config_yes: "true" } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 1_200_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** Sends `text` to 127.0.0.1:port until an answer comes (the kernel may still be starting); the answer. */
async function echoOnce(port: number, text: string): Promise<string> {
  for (let i = 0; i < 240; i++) {
    const got = await new Promise<string>((resolve) => {
      let answer = "";
      const s = connect(port, "127.0.0.1", () => s.write(text));
      s.setEncoding("utf8");
      s.setTimeout(3000, () => s.destroy());
      s.on("data", (d) => { answer += d; if (answer.length >= text.length) s.end(); });
      s.on("close", () => resolve(answer));
      s.on("error", () => {});
    });
    if (got) return got;
    await new Promise((r) => setTimeout(r, 500));
  }
  return "";
}

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 600_000, env: { ...process.env, npm_config_yes: "true" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

let tmp: string;
let tarball: string;
let first: string;
const templates = availableTemplates().map((t) => t.name);

beforeAll(async () => {
  tmp = scratchDir("package");
  const pack = await runAsync("npm", ["pack", "--pack-destination", tmp, "--silent"], ROOT);
  expect(pack.code, pack.err).toBe(0);
  tarball = join(tmp, pack.out.trim().split("\n").pop()!);
  first = join(tmp, templates[0]);
  const made = run(process.execPath, [CLI, "new", first, "--template", templates[0], "--dependency", `file:${tarball}`], tmp);
  expect(made.code, made.err).toBe(0);
  const install = await runAsync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], first);
  expect(install.code, install.err).toBe(0);
}, 1_800_000);

describe("the npm package", () => {
  it("ships the kernel, the shim, the tools, the built API and the templates, not tests, benchmarks or CI", () => {
    const files = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" }).trim().split("\n").map((f) => f.replace(/^package\//, ""));
    for (const f of ["index.ts", "kernel/hal.ts", "boot/x86_64/linker.ld", "tools/cli.js", "dist/build.js", "dist/build.d.ts", "dist/qemu.js", "dist/qemu.d.ts", "apps/hello/main.ts", "README.md"]) expect(files).toContain(f);
    expect(files.filter((f) => /^(tests|bench|\.ci)\/|\.test\.ts$|^uniwasm$/.test(f))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    for (const entry of Object.keys(pkg.exports).filter((e) => /^\.\/(build|qemu|sim)$/.test(e))) expect(files).toContain(pkg.exports[entry].default.replace(/^\.\//, ""));
  });

  it("is imported by plain Node, with its types", () => {
    const entries = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).exports;
    const names = ["build", "qemu", "sim"].filter((n) => entries[`./${n}`]);
    const script = names.map((n) => `const ${n} = await import("uniwasm/${n}");`).join(" ") + ` console.log(JSON.stringify({ build: typeof build.buildImage, qemu: typeof qemu.boot, same: build.UserError === qemu.UserError }));`;
    const r = run(process.execPath, ["--input-type=module", "-e", script], first);
    expect(r.err).toBe("");
    expect(JSON.parse(r.out)).toEqual({ build: "function", qemu: "function", same: true });
    // a TypeScript user of the API sees its types
    writeFileSync(join(first, "use-api.mts"), `import { boot, type BootOptions } from "uniwasm/qemu";\nimport { loadApp } from "uniwasm/build";\nconst o: BootOptions = { arch: "x86_64", image: loadApp(".").entry, memory: 16 };\nvoid boot(o);\n`);
    const tsc = run(process.execPath, [TSC, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--skipLibCheck", "--typeRoots", join(ROOT, "node_modules/@types"), "--types", "node", "use-api.mts"], first);
    expect(tsc.out).toMatch(/^use-api\.mts\(3,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
    expect(tsc.out.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("its CLI answers in a project: --version, checkout-only verbs and examples say so, test without tests says what it runs", () => {
    const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
    expect(run("npx", ["uniwasm", "--version"], first)).toMatchObject({ code: 0, out: `uniwasm ${version}\n` });
    expect(run("npx", ["uniwasm", "bench"], first)).toMatchObject({ code: 2, err: "uniwasm: bench works only from a source checkout of uniwasm: the benchmarks are not part of the installed package (git clone the repository to run them)\n" });
    // the help's example scenarios are the checkout's
    expect(run("npx", ["uniwasm", "experiment", "bench/experiments/cc-loss-rtt.ts"], first)).toMatchObject({ code: 1, err: "uniwasm: no scenario file at bench/experiments/cc-loss-rtt.ts: the scenarios under bench/experiments/ come with a source checkout of uniwasm, not the installed package (git clone the repository for them, or write your own: docs/simulation.md)\n" });
    expect(run("npx", ["uniwasm", "hunt", "bench/experiments/tcp-invariants.ts"], first).err).toContain("come with a source checkout of uniwasm");
    const empty = join(first, "build", "empty");
    mkdirSync(empty, { recursive: true });
    const t = run("npx", ["uniwasm", "test"], empty);
    expect(t.code).toBe(1);
    expect(t.err).toBe("uniwasm: no tests here: uniwasm test runs a project's test/*.test.mjs (uniwasm new makes one), or uniwasm's own suite from a source checkout\n");
    // a project made from the installed package depends on the uniwasm its neighbour was installed from
    expect(run("npx", ["uniwasm", "new", "build/sub"], first)).toMatchObject({ code: 0 });
    expect(JSON.parse(readFileSync(join(first, "build/sub/package.json"), "utf8")).dependencies).toEqual({ uniwasm: `file:${tarball}` });
  });
});

describe("uniwasm/sim from the package", () => {
  it("runs a two-node experiment from a plain Node script in a project, using only the package's exports", async () => {
    // two httpd kernels, one as a client uploading to the other's discard service, over a lossy link
    writeFileSync(join(first, "sim-scenario.json"), JSON.stringify({
      kernels: { httpd: "node_modules/uniwasm/apps/httpd" },
      params: { loss: [0, 0.02] },
      seeds: 2,
      until: 60,
      nodes: [
        { name: "server", kernel: "httpd", cmdline: "ip=10.0.0.2/24", daemon: true },
        { name: "client", kernel: "httpd", cmdline: "ip=10.0.0.1/24 connect=10.0.0.2:9 bytes=200000 mode=up" },
      ],
      links: [{ a: "client", b: "server", delayMs: 5, bandwidth: 10e6, queue: 50, loss: "\${loss}" }],
      metrics: { elapsed_us: "client.cli_elapsed_us", ok: "client.cli_ok" },
      charts: [{ x: "loss", y: "elapsed_us" }],
    }));
    writeFileSync(join(first, "sim-experiment.mjs"), `
      import { buildSimKernel, World, runExperiment, parsePcap } from "uniwasm/sim";
      // the API by hand: one run, its capture and counters
      const httpd = await buildSimKernel("node_modules/uniwasm/apps/httpd");
      const world = new World({ seed: 3 });
      const server = world.node("server", { kernel: httpd, cmdline: "ip=10.0.0.2/24" });
      const client = world.node("client", { kernel: httpd, cmdline: "ip=10.0.0.1/24 connect=10.0.0.2:9 bytes=100000 mode=up" });
      const cap = world.link(client, server, { delayMs: 2, loss: 0.01 }).capture();
      const r = await world.run({ until: 30 });
      // the experiment runner, on worker threads
      const e = await runExperiment("sim-scenario.json", { outDir: "sim-results", workers: 2 });
      console.log(JSON.stringify({
        exit: r.nodes.client.exitCode, ok: r.nodes.client.counters.cli_ok, frames: parsePcap(cap.bytes()).records.length,
        points: e.points.map((p) => ({ loss: p.point.loss, n: p.metrics.ok.n, ok: p.metrics.ok.mean, failures: p.failures })), files: e.files.length,
      }));
    `);
    // each script's resolutions of the compiler's packages are named on its stderr
    const watch = watchCompiler(first);
    // asynchronously: a long synchronous child would starve vitest's worker of its heartbeat
    const node = (script: string) => new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const c = spawn(process.execPath, [...watch, script], { cwd: first });
      let out = "";
      let err = "";
      c.stdout.on("data", (d) => (out += d));
      c.stderr.on("data", (d) => (err += d));
      c.on("close", (code) => resolve({ code, out, err }));
    });
    const r = await node("sim-experiment.mjs");
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`${COMPILER_LOADED}assemblyscript`); // the first buildSimKernel builds
    // the workers ran the package's built dist/sim-worker.js: nothing was bundled into the installed package's folder
    expect(existsSync(join(first, "node_modules/uniwasm/dist/sim-worker.js"))).toBe(true);
    expect(existsSync(join(first, "node_modules/uniwasm/node_modules/.cache/uniwasm/sim-worker"))).toBe(false);
    // a run that needs no build never loads the compiler
    writeFileSync(join(first, "sim-cached.mjs"), `
      import { buildSimKernel, World } from "uniwasm/sim";
      const httpd = await buildSimKernel("node_modules/uniwasm/apps/httpd");
      const world = new World({ seed: 1 });
      const server = world.node("server", { kernel: httpd, cmdline: "ip=10.0.0.2/24" });
      const client = world.node("client", { kernel: httpd, cmdline: "ip=10.0.0.1/24 connect=10.0.0.2:9 bytes=10000 mode=up" });
      world.link(client, server, { delayMs: 1 });
      const r = await world.run({ until: 10 });
      console.log(JSON.stringify({ cached: httpd.cached, exit: r.nodes.client.exitCode, sent: r.nodes.client.counters.cli_bytes_sent }));
    `);
    const cached = await node("sim-cached.mjs");
    expect(cached.code, cached.err).toBe(0);
    expect(cached.err).toBe("");
    expect(JSON.parse(cached.out)).toEqual({ cached: true, exit: 0, sent: 10000 });
    const out = JSON.parse(r.out.trim().split("\n").pop()!);
    expect(out.exit).toBe(0);
    expect(out.ok).toBe(1);
    expect(out.frames).toBeGreaterThan(100);
    expect(out.points).toEqual([{ loss: 0, n: 2, ok: 1, failures: 0 }, { loss: 0.02, n: 2, ok: 1, failures: 0 }]);
    expect(out.files).toBe(3); // points.csv, runs.csv, one chart
    expect(readFileSync(join(first, "sim-results", "elapsed_us-by-loss.svg"), "utf8")).toMatch(/^<svg/);
  }, 600_000);

  it("runs a TypeScript scenario with uniwasm experiment in the project, bundled into the project's cache, not the installed package", async () => {
    writeFileSync(join(first, "sweep.ts"), `
      import type { Scenario } from "uniwasm/sim";
      const until: number = 30;
      const scenario: Scenario = {
        kernels: { httpd: "node_modules/uniwasm/apps/httpd" },
        params: { delay: [1, 4] },
        seeds: 1,
        until,
        nodes: [
          { name: "server", kernel: "httpd", cmdline: "ip=10.0.0.2/24", daemon: true },
          { name: "client", kernel: "httpd", cmdline: "ip=10.0.0.1/24 connect=10.0.0.2:9 bytes=20000 mode=up" },
        ],
        links: [{ a: "client", b: "server", delayMs: "\${delay}" }],
        metrics: { ok: "client.cli_ok" },
      };
      export default scenario;
    `);
    const r = await runAsync("npx", ["uniwasm", "experiment", "sweep.ts", "--out", "sweep-results", "--workers", "1"], first);
    expect(r.code, r.err + r.out).toBe(0);
    expect(readFileSync(join(first, "sweep-results", "points.csv"), "utf8").trim().split("\n")).toHaveLength(3); // a header and two points
    expect(readdirSync(join(first, "node_modules", ".cache", "uniwasm", "scenarios")).length).toBeGreaterThan(0);
    expect(existsSync(join(first, "node_modules/uniwasm/node_modules/.cache/uniwasm/scenarios"))).toBe(false);
  });

  it("gives a TypeScript user of uniwasm/sim its types", () => {
    writeFileSync(join(first, "use-sim.mts"), [
      `import { buildSimKernel, diffCounters, World, type LinkSpec, type RunReport } from "uniwasm/sim";`,
      `const world = new World({ seed: 1 });`,
      `const a = world.node("a", { kernel: await buildSimKernel("node_modules/uniwasm/apps/httpd"), cmdline: "ip=10.0.0.1/24" });`,
      `const r: RunReport = await world.run({ until: 1 });`,
      `const d: Record<string, number> = diffCounters(a.counters(), r.nodes.a.counters);`,
      `const spec: LinkSpec = { delayMs: "5" };`,
      `void d; void spec;`,
    ].join("\n") + "\n");
    const tsc = run(process.execPath, [TSC, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--skipLibCheck", "--typeRoots", join(ROOT, "node_modules/@types"), "--types", "node", "use-sim.mts"], first);
    expect(tsc.out).toMatch(/^use-sim\.mts\(6,26\): error TS2322: Type 'string' is not assignable to type 'number'/);
    expect(tsc.out.split("\n").filter(Boolean)).toHaveLength(1);
  });
});

describe("uniwasm new", () => {
  it("makes the files the project needs, importing the kernel only by package name, with editor types", () => {
    for (const f of ["package.json", "main.ts", "uniwasm.json", "tsconfig.json", "test/boot.test.mjs", "README.md", ".gitignore"]) expect(existsSync(join(first, f)), f).toBe(true);
    const pkg = JSON.parse(readFileSync(join(first, "package.json"), "utf8"));
    expect(Object.keys(pkg.scripts)).toEqual(["image", "boot", "sim", "test"]);
    expect(pkg.scripts.boot).toMatch(/^uniwasm boot \. (--net user|--hostfwd tcp:127\.0\.0\.1:\d+-:\d+)$/);
    expect(pkg.dependencies.uniwasm).toBe(`file:${tarball}`);
    // the editor's view: AssemblyScript's types are known in the app's own files
    writeFileSync(join(first, "types-check.ts"), "export function f(p: usize): i32 { const s = changetype<string>(p); return <i32>s.length + i32(1); }\n");
    const tsc = run(process.execPath, [TSC, "-p", "tsconfig.json", "--noEmit"], first);
    // the app's files as the template made them (other tests leave Node-side scripts in this project)
    const appFiles = [...readdirSync(join(ROOT, "apps", templates[0])).filter((f) => f.endsWith(".ts")), "types-check.ts"];
    const own = tsc.out.split("\n").filter((l) => appFiles.some((f) => l.startsWith(`${f}(`)));
    expect(appFiles).toContain("main.ts");
    expect(own).toEqual([]);
    expect(tsc.out).not.toContain("types-check.ts");
  });

  it("from a source checkout, packs the checkout into the project as its dependency (uniwasm is not on npm's registry)", async () => {
    const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
    const dir = join(tmp, "from-checkout");
    const made = run(process.execPath, [CLI, "new", dir, "--template", templates[0]], tmp);
    expect(made.code, made.err).toBe(0);
    expect(made.err).toContain(`uniwasm: it depends on uniwasm-${version}.tgz, this checkout packed as npm would install it`);
    expect(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).dependencies).toEqual({ uniwasm: `file:uniwasm-${version}.tgz` });
    const install = await runAsync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], dir);
    expect(install.code, install.err).toBe(0);
    expect(run("npx", ["uniwasm", "--version"], dir)).toMatchObject({ code: 0, out: `uniwasm ${version}\n` });
    // what the project's tsconfig.json extends and its test imports are there
    expect(existsSync(join(dir, "node_modules/assemblyscript/std/assembly.json"))).toBe(true);
    expect(existsSync(join(dir, "node_modules/uniwasm/dist/build.js"))).toBe(true);
  });

  it("refuses a folder that is not empty, and a template that does not exist", () => {
    expect(run(process.execPath, [CLI, "new", first], tmp)).toMatchObject({ code: 1, err: `uniwasm: ${first} already exists and is not an empty folder; uniwasm new makes a new project\n` });
    const r = run(process.execPath, [CLI, "new", join(tmp, "x"), "--template", "nope"], tmp);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`uniwasm: --template nope: no such template; templates: ${templates.join(", ")}\n`);
  });

  for (const name of templates) {
    it(`the ${name} template builds, boots and answers its client (npm test in the project)`, { timeout: 1_200_000 }, async () => {
      let dir = first;
      if (name !== templates[0]) {
        dir = join(tmp, name);
        const made = run(process.execPath, [CLI, "new", dir, "--template", name, "--dependency", `file:${tarball}`], tmp);
        expect(made.code, made.err).toBe(0);
        symlinkSync(join(first, "node_modules"), join(dir, "node_modules"));
      }
      for (const f of readdirSync(dir).filter((n) => n.endsWith(".ts") && n !== "types-check.ts")) {
        const imports = [...readFileSync(join(dir, f), "utf8").matchAll(/(?:from|import)\s+"([^"]+)"/g)].map((m) => m[1]);
        expect(imports.filter((i) => !/^(uniwasm(\/.*)?|\.\/[^/]+)$/.test(i)), f).toEqual([]);
      }
      const r = await runAsync("npm", ["test"], dir);
      expect(r.code, r.out + r.err).toBe(0);
      expect(r.out).toMatch(/^# pass 1$/m);
      if (name === "echo") {
        // the project's test fails, with the guest's console, when the app stops before answering
        const settings = join(dir, "uniwasm.json");
        const good = readFileSync(settings, "utf8");
        writeFileSync(settings, JSON.stringify({ ...JSON.parse(good), cmdline: "ip=10.0.2.300/24" }));
        const bad = await runAsync("npm", ["test"], dir);
        writeFileSync(settings, good);
        expect(bad.code).not.toBe(0);
        expect(bad.out).toContain("the guest exited with code 3 before it answered");
        expect(bad.out).toContain("bad address in ip=10.0.2.300/24");
        expect(bad.out).toMatch(/^# fail 1$/m);
        // npm run sim: the same kernel in Node, reached through the same kind of port forward
        const sim = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).scripts.sim as string;
        expect(sim).toBe("uniwasm node . --hostfwd tcp:127.0.0.1:7007-:7");
        const port = await freePort();
        const pcap = join(dir, "sim.pcap");
        const node = spawn("npx", [...sim.replace("127.0.0.1:7007", `127.0.0.1:${port}`).split(" "), "--pcap", pcap], { cwd: dir, detached: true, stdio: ["ignore", "pipe", "pipe"] });
        let log = "";
        node.stdout!.on("data", (d) => (log += d));
        node.stderr!.on("data", (d) => (log += d));
        const ended = new Promise((r) => node.on("close", r));
        try {
          expect(await echoOnce(port, "hello, simulation\n"), log).toBe("hello, simulation\n");
        } finally {
          process.kill(-node.pid!, "SIGTERM"); // npx and the CLI under it: its own process group
          await ended;
        }
        // the capture, written as the run ended by the signal, holds the forwarded connection's bytes
        const frames = execFileSync("tcpdump", ["-n", "-A", "-r", pcap], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        expect(frames).toMatch(/IP 10\.0\.2\.2\.\d+ > 10\.0\.2\.15\.7: Flags \[S\]/);
        expect(frames).toMatch(/IP 10\.0\.2\.15\.7 > 10\.0\.2\.2\.\d+: Flags \[P\.\], .*length 18/);
        expect(frames).toContain("hello, simulation");
      }
    });
  }
});
