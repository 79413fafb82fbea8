// The experiment runner and failure hunting (uniwasm experiment / hunt):
// a JSON scenario swept over seeds on worker threads, to CSV and SVG with
// error bars, resumed from its cache after an interruption; and the
// invariant checker catching a deliberately broken kernel (an off-by-one in
// the receive window, built here, never shipped), printing its seed and a
// replay command that reproduces the failure with captures.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { runExperiment } from "../host/sim/experiment.ts";
import { renderChart } from "../host/sim/chart.ts";
import { huntFailures } from "../host/sim/hunt.ts";
import { loadScenario } from "../host/sim/scenario.ts";
import { parsePcap } from "../host/pcap.ts";
import { ROOT } from "../tools/paths.ts";
import { brokenKernel, RECEIVE_WINDOW_OFF_BY_ONE } from "./helpers/broken-kernel.ts";
import { scratchDir } from "./helpers/kernel.ts";
import { startCli } from "./helpers/cli.ts";

const uniwasm = (args: string[], cwd = ROOT) => spawnSync(join(ROOT, "uniwasm"), args, { cwd, encoding: "utf8", timeout: 600_000 });

/** A declarative scenario: two tcp-peer kernels, loss swept, goodput measured. */
function jsonScenario(dir: string): string {
  const file = join(dir, "loss.json");
  writeFileSync(file, JSON.stringify({
    name: "loss",
    kernels: { peer: join(ROOT, "tests/kernels/tcp-peer") },
    params: { loss: [0, 0.03], delay: [2, 8] },
    seeds: 2,
    until: 60,
    nodes: [
      { name: "client", kernel: "peer", cmdline: "ip=10.0.0.1/24 role=client peer=10.0.0.2 bytes=200000 modes=up linger_ms=10" },
      { name: "server", kernel: "peer", cmdline: "ip=10.0.0.2/24 role=server expect=1" },
    ],
    links: [{ a: "client", b: "server", delayMs: "${delay}", bandwidth: 10e6, queue: 40, loss: "${loss}" }],
    metrics: { elapsed_us: "client.cli_elapsed_us", retransmits: "client.tcp.retransSegments", ok: "client.cli_ok" },
    charts: [{ x: "loss", y: "elapsed_us", series: "delay" }],
  }));
  return file;
}

describe("uniwasm experiment", () => {
  it("sweeps a JSON scenario over seeds on workers, writes CSV and SVG, and resumes an interrupted sweep", async () => {
    const dir = scratchDir("experiment");
    const file = jsonScenario(dir);
    const out = join(dir, "out");
    const cli = uniwasm(["experiment", file, "--out", out, "--workers", "2"]);
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/experiment \[#+\] 8\/8 runs/);
    expect(cli.stderr).toContain("8 runs (0 reused from an earlier sweep) of 4 points");
    const points = readFileSync(join(out, "points.csv"), "utf8").trimEnd().split("\n");
    expect(points[0]).toBe("loss,delay,runs,failures,elapsed_us_mean,elapsed_us_sd,elapsed_us_min,elapsed_us_max,retransmits_mean,retransmits_sd,retransmits_min,retransmits_max,ok_mean,ok_sd,ok_min,ok_max");
    expect(points.length).toBe(5);
    const rows = points.slice(1).map((l) => l.split(","));
    for (const r of rows) {
      expect(r[2]).toBe("2"); // two seeds
      expect(r[3]).toBe("0"); // no run broke an invariant
      expect(r[12]).toBe("1"); // every upload completed
    }
    // loss is repaired by retransmission (a clean link can be slower still: slow start overshoots its queue)
    const row = (loss: string, delay: string) => rows.find((r) => r[0] === loss && r[1] === delay)!;
    expect(Number(row("0.03", "8")[8])).toBeGreaterThan(0);
    // a clean link is the same for every seed (sd 0); a lossy one varies
    expect(row("0", "2")[5]).toBe("0");
    expect(Number(row("0.03", "8")[5])).toBeGreaterThan(0);
    const svg = readFileSync(join(out, "elapsed_us-by-loss.svg"), "utf8");
    expect(svg).toMatch(/^<svg xmlns/);
    expect(svg).toContain("delay=2");
    expect(svg).toContain("delay=8");
    expect(svg.match(/<polyline/g)?.length).toBe(2);
    expect(svg).toContain("±1 sd");
    const csv = readFileSync(join(out, "points.csv"), "utf8");

    // resume: everything cached
    const again = await runExperiment(file, { outDir: out, workers: 1 });
    expect(again.reused).toBe(8);
    expect(readFileSync(join(out, "points.csv"), "utf8")).toBe(csv);

    // an interruption: three runs lost, the last line cut short
    const lines = readFileSync(join(out, "runs.jsonl"), "utf8").trimEnd().split("\n");
    writeFileSync(join(out, "runs.jsonl"), lines.slice(0, 5).join("\n") + "\n" + lines[5].slice(0, 40));
    const done: number[] = [];
    const resumed = await runExperiment(file, { outDir: out, workers: 2, onProgress: (d) => done.push(d) });
    expect(resumed.reused).toBe(5);
    expect(done[0]).toBe(5);
    expect(done.at(-1)).toBe(8);
    expect(readFileSync(join(out, "points.csv"), "utf8")).toBe(csv); // the same numbers: runs are pure functions of point and seed
  }, 600_000);

  it("runs on worker threads, and a sweep stopped by Ctrl-C resumes with the runs that had finished", async () => {
    const dir = scratchDir("experiment-stop");
    const hold = join(dir, "hold");
    writeFileSync(hold, "");
    const file = join(dir, "stop.mjs");
    writeFileSync(file, `
      import { existsSync } from "node:fs";
      import { threadId } from "node:worker_threads";
      export default {
        kernels: { peer: ${JSON.stringify(join(ROOT, "tests/kernels/tcp-peer"))} },
        params: { delay: [2, 8] },
        seeds: 4,
        until: 60,
        async build({ world, kernels, point, seed }) {
          // seeds 3 and 4 wait while the hold file exists: the sweep is stopped there
          while (seed > 2 && existsSync(${JSON.stringify(hold)})) await new Promise((r) => setTimeout(r, 50));
          const client = world.node("client", { kernel: kernels.peer, cmdline: "ip=10.0.0.1/24 role=client peer=10.0.0.2 bytes=100000 modes=up linger_ms=10" });
          const server = world.node("server", { kernel: kernels.peer, cmdline: "ip=10.0.0.2/24 role=server expect=1" });
          world.link(client, server, { delayMs: point.delay, bandwidth: 10e6, queue: 40 });
        },
        // which thread ran it: the main thread is 0, workers count from 1
        measure: (_ctx, r) => ({ elapsed_us: r.nodes.client.counters.cli_elapsed_us, thread: threadId }),
      };
    `);
    const out = join(dir, "out");
    const run = startCli(["experiment", file, "--out", out, "--workers", "2"]);
    await run.ready(/ 2\/8 runs/);
    run.child.kill("SIGINT"); // both workers are now held on a seed-3 run
    expect(await run.exit).toBe(130);
    expect(run.out()).toContain("uniwasm: stopped by SIGINT after 2 of 8 runs; the finished ones are kept in runs.jsonl, and the same command resumes from there");
    expect(readFileSync(join(out, "runs.jsonl"), "utf8").trimEnd().split("\n")).toHaveLength(2);
    rmSync(hold);
    const again = uniwasm(["experiment", file, "--out", out]); // as many workers as cores, by default
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toContain("8 runs (2 reused from an earlier sweep) of 2 points");
    const runs = readFileSync(join(out, "runs.csv"), "utf8").trimEnd().split("\n");
    expect(runs[0]).toBe("delay,seed,virtual_s,wall_ms,violations,elapsed_us,thread");
    const threads = new Set(runs.slice(1).map((l) => Number(l.split(",").at(-1))));
    if (availableParallelism() > 1) {
      expect([...threads].every((t) => t > 0)).toBe(true); // none ran on the main thread
      expect(threads.size).toBeGreaterThanOrEqual(2); // every core had a worker
    } else expect(threads.has(0)).toBe(true); // one core: the resumed runs stay in the main thread
  }, 300_000);

  it("a TypeScript scenario's cached runs are those of its imports too: an edit to a module it imports runs the sweep afresh", async () => {
    const dir = scratchDir("experiment-ts");
    const sizes = (bytes: number) => writeFileSync(join(dir, "sizes.ts"), `export const BYTES: number = ${bytes};\n`);
    sizes(20000);
    writeFileSync(join(dir, "upload.ts"), `
      import { BYTES } from "./sizes.ts";
      export default {
        kernels: { peer: ${JSON.stringify(join(ROOT, "tests/kernels/tcp-peer"))} },
        params: { delay: [1, 3] },
        seeds: 1,
        until: 30,
        nodes: [
          { name: "client", kernel: "peer", cmdline: "ip=10.0.0.1/24 role=client peer=10.0.0.2 bytes=" + BYTES + " modes=up linger_ms=10" },
          { name: "server", kernel: "peer", cmdline: "ip=10.0.0.2/24 role=server expect=1" },
        ],
        links: [{ a: "client", b: "server", delayMs: "\${delay}" }],
        metrics: { sent: "client.cli_bytes_sent" },
      };
    `);
    const out = join(dir, "out");
    const first = await runExperiment(join(dir, "upload.ts"), { outDir: out, workers: 1 });
    expect(first.reused).toBe(0);
    expect((await runExperiment(join(dir, "upload.ts"), { outDir: out, workers: 1 })).reused).toBe(2);
    sizes(30000); // the scenario file itself is unchanged
    const edited = await runExperiment(join(dir, "upload.ts"), { outDir: out, workers: 1 });
    expect(edited.reused).toBe(0);
    const sent = (e: typeof first) => e.points.map((p) => p.metrics.sent.mean);
    for (const [a, b] of sent(first).map((v, i) => [v, sent(edited)[i]])) expect(b - a).toBe(10000);
  });

  it("keeps a few bundles of an edited TypeScript scenario, not one per edit", async () => {
    const dir = scratchDir("scenario-bundles");
    const file = join(dir, "s.ts");
    const cache = join(ROOT, "node_modules/.cache/uniwasm/scenarios", createHash("sha256").update(file).digest("hex").slice(0, 12));
    rmSync(cache, { recursive: true, force: true });
    const bundles = () => readdirSync(cache).filter((n) => n.endsWith(".mjs"));
    const load = (n: number) => {
      writeFileSync(file, `export default { kernels: { k: "." }, nodes: [{ name: "n${n}", kernel: "k" }], metrics: { x: "n${n}.x" } };\n`);
      return loadScenario(file);
    };
    // used within the hour: every one is kept (another process may be starting from it)
    for (let n = 0; n < 10; n++) await load(n);
    expect(bundles()).toHaveLength(10);
    // last used two hours ago: the next new bundle leaves the 8 most recent
    const old = new Date(Date.now() - 7_200_000);
    for (const b of bundles()) utimesSync(join(cache, b), old, old);
    const latest = await load(10);
    expect(bundles()).toHaveLength(8);
    expect(bundles()).toContain(basename(latest.module!));
    expect(latest.scenario.nodes[0].name).toBe("n10");
  });

  it("refuses a bad scenario with a message that says what is wrong", () => {
    const dir = scratchDir("experiment-bad");
    const cases: [object, RegExp][] = [
      [{ kernels: {}, nodes: [], metrics: {} }, /"kernels" must name at least one app folder/],
      [{ kernels: { a: "x" }, nodes: [], metrics: {}, colour: 1 }, /unknown field "colour"/],
      [{ kernels: { a: "x" }, nodes: [{ name: "n", kernel: "b" }], metrics: {} }, /kernel "b" is not in "kernels"/],
      [{ kernels: { a: "x" }, nodes: [], metrics: { m: "nodot" } }, /"nodot" is not "node.counter"/],
      [{ kernels: { a: "x" }, params: { p: [] }, nodes: [], metrics: {} }, /params.p must be a non-empty list/],
    ];
    for (const [s, re] of cases) {
      const f = join(dir, "s.json");
      writeFileSync(f, JSON.stringify(s));
      const r = uniwasm(["experiment", f, "--out", join(dir, "o")]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/internal error/);
    }
    writeFileSync(join(dir, "bad.json"), "{ nope");
    expect(uniwasm(["experiment", join(dir, "bad.json")]).stderr).toMatch(/not valid JSON/);
    expect(uniwasm(["experiment", join(dir, "missing.json")]).stderr).toMatch(/no scenario file at/);
    expect(uniwasm(["hunt", join(ROOT, "bench/experiments/tcp-invariants.ts"), "--pcap", "x"]).stderr).toMatch(/--pcap goes with --replay/);
    const vague = uniwasm(["hunt", join(ROOT, "bench/experiments/tcp-invariants.ts"), "--replay", "3"], dir);
    expect(vague.status).toBe(1);
    expect(vague.stderr).toContain("a replay needs one point, but 4 match: choose with --set buf=... --set partition=...");
  }, 120_000);
});

describe("the charts", () => {
  it("draw each series' means joined by a line, with a bar of ±1 sd where the seeds differed", () => {
    const svg = renderChart({
      title: "t", xLabel: "x", yLabel: "y",
      series: [{ label: "a", points: [{ x: 0, mean: 10, sd: 2 }, { x: 1, mean: 5, sd: 0 }] }],
    });
    // the plot spans y 0..20 (the round bound above 12) over pixels 350 to 40; x 0..1 over 70..490
    const py = (v: number) => (350 - (v / 20) * 310).toFixed(1);
    expect(svg).toContain(`<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="70.0,${py(10)} 490.0,${py(5)}"/>`);
    expect(svg).toContain(`<line x1="70.0" y1="${py(8)}" x2="70.0" y2="${py(12)}" stroke="#1f77b4"/>`); // the bar, 8..12
    for (const y of [8, 12]) expect(svg).toContain(`<line x1="66.0" y1="${py(y)}" x2="74.0" y2="${py(y)}" stroke="#1f77b4"/>`); // its caps
    expect(svg).not.toMatch(/<line x1="490\.0"/); // no bar where sd is 0
  });
});

describe("uniwasm hunt", () => {
  const scenario = join(ROOT, "bench/experiments/tcp-invariants.ts");
  const point = ["--set", "buf=32768", "--set", "partition=0"];

  it("holds every invariant for the shipped kernel over the seeds that break the broken one", () => {
    const r = uniwasm(["hunt", scenario, "--seeds", "4", ...point, "--workers", "2"]);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stderr).toContain("4 runs, every invariant held");
  }, 600_000);

  it("checks the built-in invariants: a trap, out of memory, a non-zero exit, memory past maxMemory and a kernel stuck at the deadline are each caught", async () => {
    const dir = scratchDir("hunt-builtin");
    const file = join(dir, "faults.mjs");
    const k = (name: string) => JSON.stringify(join(ROOT, "tests/kernels", name));
    writeFileSync(file, `
      // one node per point, each with its own way of going wrong (none: exits 0 at once)
      const nodes = {
        none: ["exit", "code=0"], exit: ["exit", "code=3"], trap: ["divzero", ""], oom: ["oom", ""],
        memory: ["grow", ""], // grows 2.5 MiB and exits 0
        stuck: ["sleeper", ""], // 200 timed sleeps: still running at until
      };
      export default {
        kernels: { exit: ${k("exit-code")}, divzero: ${k("divzero")}, oom: ${k("oom")}, grow: ${k("grow")}, sleeper: ${k("sleep-lateness")} },
        params: { fault: Object.keys(nodes) },
        seeds: 1,
        until: 0.05,
        maxMemory: 1 << 20,
        build({ world, kernels, point }) {
          const [kernel, cmdline] = nodes[point.fault];
          world.node("n", { kernel: kernels[kernel], cmdline, memory: "8M" });
        },
        measure: () => ({}),
      };
    `);
    const r = await huntFailures(file, { seeds: 2, stopAfter: 100, workers: 1 });
    expect(r.checked).toBe(12);
    const why = (fault: string) => r.failures.filter((f) => f.point.fault === fault).map((f) => f.violations.join("; "));
    expect(why("none")).toEqual([]);
    for (const fault of ["exit", "trap", "oom", "memory", "stuck"]) expect(why(fault), fault).toHaveLength(2); // both seeds
    expect(why("exit")[0]).toMatch(/^node n exited with code 3: /);
    expect(why("trap")[0]).toMatch(/^node n exited with code 71 \(wasm trap\): .*integer divide by zero/);
    expect(why("oom")[0]).toMatch(/node n exited with code 75 \(out of memory\)/);
    expect(why("memory")[0]).toBe("node n holds 2686976 bytes of linear memory, more than maxMemory 1048576");
    expect(why("stuck")[0]).toBe("node n is still running at 0.05 s: stuck past the deadline");
    expect(r.failures.map((f) => f.seed)).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
  }, 300_000);

  it("catches a kernel with an off-by-one in the receive window, prints its seed, and the replay reproduces it with captures", () => {
    const broken = brokenKernel("tests/kernels/tcp-peer", RECEIVE_WINDOW_OFF_BY_ONE);
    expect(broken.file).toMatch(/^kernel\/net\/tcp\//);
    const dir = scratchDir("hunt");
    const r = uniwasm(["hunt", scenario, "--seeds", "4", ...point, "--workers", "2", "--kernel", `peer=${broken.appDir}`], dir);
    expect(r.status, r.stderr).toBe(1);
    const m = /^FAIL seed (\d+) at buf=32768 partition=0$/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(r.stdout).toMatch(/the client checked \d+ bytes, not 120000|not the ones sent/);
    const replay = /^ {4}(uniwasm hunt .*)$/m.exec(r.stdout)![1];
    expect(replay).toContain(`--replay ${m![1]}`);
    // the printed command, run as printed (from the same folder)
    const args = replay.split(" ").slice(1);
    const again = uniwasm(args, dir);
    expect(again.status, again.stderr).toBe(1);
    expect(again.stderr).toContain(`seed ${m![1]} at buf=32768 partition=0: FAILS`);
    const pcapDir = join(dir, `replay-${m![1]}`);
    const pcaps = readdirSync(pcapDir);
    expect(pcaps).toEqual(["client-server.pcap"]);
    expect(parsePcap(readFileSync(join(pcapDir, pcaps[0]))).records.length).toBeGreaterThan(50);
    const trace = readFileSync(join(dir, `replay-${m![1]}.jsonl`), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(trace.length).toBeGreaterThan(20);
    expect(trace.some((e) => e.event.startsWith("tcp."))).toBe(true);
    expect(trace[0]).toMatchObject({ node: expect.stringMatching(/client|server/), event: expect.any(String), t: expect.any(Number) });
    expect(existsSync(join(dir, "build"))).toBe(true); // kernels were built where the command ran
  }, 600_000);
});
