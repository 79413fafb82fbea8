// The import graph of kernel/ and drivers/: no cycles, and no module imports
// a layer above its own. The layer table below is the rule (docs/network.md
// and /DESIGN's "layering rule"): a module may import from its own layer
// (same name) and from layers of a lower rank, nothing else. Layers of one
// rank are siblings that know nothing of each other (ICMP, UDP and TCP reach
// each other only through the IP layer's interfaces). Every source file must
// be placed by the table, so a new folder is a decision, not an accident.
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../tools/paths.ts";

interface Layer {
  name: string;
  rank: number;
  /** Files (exact) and folders (ending in "/") of this layer. */
  modules: string[];
}

export const LAYERS: Layer[] = [
  { name: "base", rank: 0, modules: ["kernel/hal.ts", "kernel/console.ts", "kernel/cmdline.ts", "kernel/trace.ts", "kernel/counters.ts", "kernel/counters-export.ts", "kernel/files.ts", "kernel/sched/", "kernel/mem/"] },
  { name: "wire", rank: 1, modules: ["kernel/net/wire/"] },
  { name: "device", rank: 2, modules: ["kernel/net/device.ts", "drivers/"] },
  { name: "link", rank: 3, modules: ["kernel/net/link.ts", "kernel/net/arp.ts", "kernel/net/counters.ts"] },
  { name: "ip", rank: 4, modules: ["kernel/net/ip.ts", "kernel/net/ip-protocol.ts", "kernel/net/route.ts", "kernel/net/reassembly.ts", "kernel/net/ports.ts"] },
  { name: "icmp", rank: 5, modules: ["kernel/net/icmp.ts"] },
  { name: "udp", rank: 5, modules: ["kernel/net/udp.ts"] },
  { name: "tcp", rank: 5, modules: ["kernel/net/tcp/"] },
  { name: "stack", rank: 6, modules: ["kernel/net/stack.ts", "kernel/net/config.ts", "kernel/net/dhcp.ts", "kernel/net/dns.ts", "kernel/net/index.ts"] },
  { name: "app", rank: 7, modules: ["kernel/app/", "kernel/index.ts"] },
];

/**
 * Cycles known to exist, each as the sorted list of its modules; the test
 * fails on any other cycle, and on an entry here that no longer is one (the
 * list only shrinks).
 */
const KNOWN_CYCLES: string[][] = [];

function layerOf(file: string): Layer | undefined {
  let best: Layer | undefined;
  let bestLen = -1;
  for (const l of LAYERS) {
    for (const m of l.modules) {
      const hit = m.endsWith("/") ? file.startsWith(m) : file === m;
      if (hit && m.length > bestLen) {
        best = l;
        bestLen = m.length;
      }
    }
  }
  return best;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir))) {
    const rel = `${dir}/${e}`;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...sources(rel));
    else if (e.endsWith(".ts")) out.push(rel);
  }
  return out;
}

/** The modules `file` imports or re-exports from, as repository paths (comments and strings' contents ignored). */
export function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith(".")) continue;
    const base = resolve(dirname(join(ROOT, file)), spec);
    const target = [`${base}.ts`, join(base, "index.ts"), base].find((p) => existsSync(p) && statSync(p).isFile());
    out.push(target ? relative(ROOT, target) : `${relative(ROOT, base)} (unresolved)`);
  }
  return out;
}

/** Strongly connected components with more than one module (or a self-import): the cycles. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const files = [...sources("kernel"), ...sources("drivers")];
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe("import graph of kernel/ and drivers/", () => {
  it("places every module in a layer", () => {
    expect(files.filter((f) => !layerOf(f))).toEqual([]);
  });

  it("resolves every relative import to a file of the tree", () => {
    const bad = [...graph].flatMap(([f, deps]) => deps.filter((d) => d.endsWith("(unresolved)") || !layerOf(d)).map((d) => `${f} -> ${d}`));
    expect(bad).toEqual([]);
  });

  it("has no module importing a layer above its own, or a sibling layer", () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) {
      const lf = layerOf(f)!;
      for (const d of deps) {
        const ld = layerOf(d);
        if (!ld || ld.name === lf.name || ld.rank < lf.rank) continue;
        bad.push(`${f} (${lf.name}) imports ${d} (${ld.name})`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("has no import cycle but the known ones, and every known one still exists", () => {
    const found = cycles(graph).map((c) => c.join(" "));
    const known = KNOWN_CYCLES.map((c) => [...c].sort().join(" "));
    expect(found.filter((c) => !known.includes(c)), "new cycles").toEqual([]);
    expect(known.filter((c) => !found.includes(c)), "known cycles that are gone: delete them from KNOWN_CYCLES").toEqual([]);
  });

  it("finds a cycle and an upward import when there is one (the checker can fail)", () => {
    const g = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["d"]], ["e", []]]);
    expect(cycles(g).map((c) => c.join(" ")).sort()).toEqual(["a b c", "d"]);
    expect(layerOf("kernel/net/tcp/stack.ts")!.rank).toBeGreaterThan(layerOf("kernel/net/ip.ts")!.rank);
    expect(importsOf("kernel/net/tcp/ip.ts")).toContain("kernel/net/ip-protocol.ts");
  });
});
