// The examples of docs/simulation.md and docs/node-platform.md run as
// written (from a source checkout: the package name becomes the source path,
// the installed apps folder the checkout's, and output files go to a
// scratch folder).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parsePcap } from "../host/pcap.ts";
import { ROOT } from "../tools/paths.ts";
import { scratchDir } from "./helpers/kernel.ts";

function blocks(doc: string, lang: string): string[] {
  const text = readFileSync(join(ROOT, "docs", doc), "utf8");
  return [...text.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);
}

/** Writes `code` one folder below the checkout's root (so "../host/..." resolves) and imports it. */
async function runModule(name: string, code: string): Promise<Record<string, unknown>> {
  const dir = join(ROOT, "build");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `docs-example-${name}`);
  writeFileSync(file, code);
  return await import(file);
}

describe("the simulation docs' examples", () => {
  it("simulation.md: the uniwasm/sim example runs and writes its capture and trace", async () => {
    const dir = scratchDir("docs-sim");
    const [example] = blocks("simulation.md", "js");
    expect(example).toContain('from "uniwasm/sim"');
    const code = example
      .replace('"uniwasm/sim"', JSON.stringify(join(ROOT, "host/sim/index.ts")))
      .replace('"node_modules/uniwasm/apps/httpd"', JSON.stringify(join(ROOT, "apps/httpd")))
      .replace('"client-server.pcap"', JSON.stringify(join(dir, "client-server.pcap")))
      .replace('"trace.jsonl"', JSON.stringify(join(dir, "trace.jsonl")));
    const logged: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => void logged.push(a.join(" "));
    try {
      await runModule("two-nodes.mts", code);
    } finally {
      console.log = log;
    }
    expect(logged[0]).toMatch(/^client exit 0 at [\d.]+ virtual s/);
    expect(logged[1]).toMatch(/^upload 500000 bytes, \d+ segments resent after 0.3 s$/);
    expect(JSON.parse(logged[2].replace(/^link /, ""))).toMatchObject({ partitioned: expect.any(Number), lost: expect.any(Number) });
    expect(parsePcap(readFileSync(join(dir, "client-server.pcap"))).records.length).toBeGreaterThan(300);
    expect(readFileSync(join(dir, "trace.jsonl"), "utf8")).toContain('"event":"tcp.cwnd"');
  }, 300_000);

  it("simulation.md: the JSON scenario sweeps", () => {
    const dir = scratchDir("docs-json");
    const [scenario] = blocks("simulation.md", "json");
    const file = join(dir, "loss-sweep.json");
    writeFileSync(file, scenario.replace('"node_modules/uniwasm/apps/httpd"', JSON.stringify(join(ROOT, "apps/httpd"))));
    const r = spawnSync(join(ROOT, "uniwasm"), ["experiment", file, "--out", join(dir, "out")], { cwd: ROOT, encoding: "utf8", timeout: 600_000 });
    expect(r.status, r.stderr).toBe(0);
    const points = readFileSync(join(dir, "out", "points.csv"), "utf8").trimEnd().split("\n");
    expect(points).toHaveLength(7);
    expect(points.slice(1).every((l) => l.split(",")[3] === "0")).toBe(true); // no failing run
    expect(existsSync(join(dir, "out", "elapsed_us-by-loss.svg"))).toBe(true);
  }, 600_000);

  it("node-platform.md: the examples from a checkout run", async () => {
    const dir = scratchDir("docs-node");
    const examples = blocks("node-platform.md", "ts").filter((b) => b.startsWith("// From a source checkout"));
    expect(examples.length).toBe(2);
    // the World example: both kernels end well, the client having had its answers
    expect(examples[0]).toContain("const [ra, rb] = world.run(");
    const world = await runModule("node-platform-0.ts", examples[0] + "\nexport { ra, rb };\n");
    const [ra, rb] = [world.ra, world.rb] as { exitCode: number; output: string }[];
    expect(ra.exitCode, ra.output).toBe(0);
    expect(rb.exitCode, rb.output).toBe(0);
    // the device model example: the frame reached the driver's buffer as its comment says, and the capture holds it
    const takeUsed = /^rx\.takeUsed\(\); +\/\/ (.*)$/m;
    const said = takeUsed.exec(examples[1])![1];
    const device = await runModule("node-platform-1.ts", examples[1].replace('"run.pcap"', JSON.stringify(join(dir, "run.pcap"))).replace(takeUsed, "export const used = rx.takeUsed();"));
    expect(said).toBe("[{ id: 0, len: 12 + frame.length }]");
    expect(device.used).toEqual([{ id: 0, len: 12 + 60 }]);
    expect(parsePcap(readFileSync(join(dir, "run.pcap"))).records.map((r) => r.data.length)).toEqual([60]);
  }, 300_000);
});
