// A scenario: the parameters to sweep, the seeds, and how one run is set up
// and measured. It is a JSON file (declarative: nodes, links, metrics, with
// "${param}" placeholders) or a TypeScript/JavaScript module whose default
// export has the same fields plus functions (build, measure, invariants).
// docs/simulation.md describes both forms.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { SimKernel } from "./build.ts";
import type { Counters } from "./counters.ts";
import type { LinkSpec, NodeOptions, RunReport, SimNode, World } from "./world.ts";

export type ParamValue = number | string;
export type Point = Record<string, ParamValue>;

/** What the build/measure/invariants functions of a scenario receive. */
export interface RunContext {
  world: World;
  /** The scenario's kernels, built. */
  kernels: Record<string, SimKernel>;
  point: Point;
  seed: number;
}

export interface ScenarioNode {
  name: string;
  /** A name from `kernels`. */
  kernel: string;
  cmdline?: string;
  memory?: number | string;
  /** Serves until stopped: not expected to end by `until` (failure hunting does not call it stuck). */
  daemon?: boolean;
}

export interface ScenarioLink extends LinkSpec {
  /** Endpoint names: nodes or switches. */
  a: string;
  b: string;
}

export interface ChartSpec {
  /** A parameter, on the horizontal axis (numeric values). */
  x: string;
  /** A metric. */
  y: string;
  /** A parameter: one line per value. */
  series?: string;
  /** A parameter: one chart per value. */
  facet?: string;
  title?: string;
  logX?: boolean;
}

export interface Scenario {
  name?: string;
  /** Kernel name -> app folder (relative to the scenario file). */
  kernels: Record<string, string>;
  /** Parameter -> the values to sweep; every combination is a point. */
  params?: Record<string, ParamValue[]>;
  /** Seeds per point: a count (1..n) or the list. Default 3. */
  seeds?: number | number[];
  /** Virtual seconds a run may take. Default 60. */
  until?: number;
  /** Virtual nanoseconds a kernel's clock read costs (World's clockReadNs). Default 0. */
  clockReadNs?: number;
  /** Most linear memory a kernel may hold at the end (bytes), for failure hunting. */
  maxMemory?: number;
  // ---- declarative form ----
  switches?: string[];
  nodes?: ScenarioNode[];
  links?: ScenarioLink[];
  /** Metric -> "node.counter" (the node's counter at the end of the run). */
  metrics?: Record<string, string>;
  // ---- module form ----
  /** Builds the world of one run (instead of nodes/links/switches). Returns the nodes that are daemons, if any. */
  build?(ctx: RunContext): void | { daemons?: SimNode[] } | Promise<void | { daemons?: SimNode[] }>;
  /** The metrics of one run (instead of `metrics`). */
  measure?(ctx: RunContext, report: RunReport): Record<string, number>;
  /** Failures of one run beyond the built-in ones (a list of sentences; empty when fine). */
  invariants?(ctx: RunContext, report: RunReport): string[];
  charts?: ChartSpec[];
}

export interface LoadedScenario {
  scenario: Scenario;
  file: string;
  /** The file's bytes (finished points are cached under a hash of them). */
  source: string;
  /** Kernel name -> absolute app folder. */
  kernelDirs: Record<string, string>;
  /** For a module scenario: the JavaScript that was imported (workers import the same file). */
  module?: string;
}

const KEYS = new Set(["name", "kernels", "params", "seeds", "until", "clockReadNs", "maxMemory", "switches", "nodes", "links", "metrics", "build", "measure", "invariants", "charts"]);

/** Loads and checks a scenario file (.json, .ts, .mjs or .js). */
export async function loadScenario(file: string, kernelOverrides: Record<string, string> = {}, prebuilt?: string): Promise<LoadedScenario> {
  const path = resolve(file);
  if (!existsSync(path)) throw new ScenarioError(`no scenario file at ${file}`);
  const source = readFileSync(path, "utf8");
  let scenario: Scenario;
  let module: string | undefined;
  if (path.endsWith(".json")) {
    try {
      scenario = JSON.parse(source);
    } catch (e) {
      throw new ScenarioError(`${file}: not valid JSON (${(e as Error).message})`);
    }
  } else if (/\.(ts|mts|js|mjs)$/.test(path)) {
    module = prebuilt ?? (path.endsWith("ts") ? await bundleModule(path) : path);
    const mod = await import(pathToFileURL(module).href);
    scenario = mod.default ?? mod.scenario;
    if (!scenario) throw new ScenarioError(`${file}: the module has no default export (the scenario object)`);
  } else throw new ScenarioError(`${file}: a scenario is a .json, .ts or .js file`);
  checkScenario(scenario, file);
  const base = dirname(path);
  const kernelDirs: Record<string, string> = {};
  for (const [k, d] of Object.entries(scenario.kernels)) kernelDirs[k] = isAbsolute(d) ? d : resolve(base, d);
  for (const [k, d] of Object.entries(kernelOverrides)) {
    if (!(k in kernelDirs)) throw new ScenarioError(`--kernel ${k}=${d}: the scenario has no kernel named ${k} (it has ${Object.keys(kernelDirs).join(", ")})`);
    kernelDirs[k] = resolve(d);
  }
  return { scenario, file: path, source, kernelDirs, module };
}

export class ScenarioError extends Error {}

function checkScenario(s: Scenario, file: string): void {
  const bad = (why: string): never => {
    throw new ScenarioError(`${file}: ${why}`);
  };
  if (typeof s !== "object" || s === null) bad("the scenario must be an object");
  for (const k of Object.keys(s)) if (!KEYS.has(k)) bad(`unknown field "${k}" (known: ${[...KEYS].join(", ")})`);
  if (typeof s.kernels !== "object" || !s.kernels || Object.keys(s.kernels).length === 0) bad(`"kernels" must name at least one app folder, e.g. { "peer": "../tests/kernels/tcp-peer" }`);
  for (const [k, v] of Object.entries(s.params ?? {})) {
    if (!Array.isArray(v) || v.length === 0) bad(`params.${k} must be a non-empty list of values`);
    for (const x of v) if (typeof x !== "number" && typeof x !== "string") bad(`params.${k}: ${JSON.stringify(x)} is neither a number nor a string`);
  }
  if (s.seeds !== undefined) {
    const ok = (typeof s.seeds === "number" && Number.isInteger(s.seeds) && s.seeds > 0) || (Array.isArray(s.seeds) && s.seeds.length > 0 && s.seeds.every((x) => Number.isInteger(x) && x >= 0));
    if (!ok) bad(`"seeds" is a positive count or a list of non-negative integers`);
  }
  if (s.until !== undefined && !(typeof s.until === "number" && s.until > 0)) bad(`"until" is a positive number of virtual seconds`);
  if (!s.build && !s.nodes) bad(`give either "nodes" (and "links") or a build() function`);
  if (s.nodes) {
    for (const n of s.nodes) if (!(n.kernel in s.kernels)) bad(`node ${n.name}: kernel "${n.kernel}" is not in "kernels"`);
  }
  if (!s.measure && !s.metrics) bad(`give either "metrics" ({ "name": "node.counter" }) or a measure() function`);
  for (const [m, ref] of Object.entries(s.metrics ?? {})) if (!/^[\w-]+\.[\w.]+$/.test(ref)) bad(`metrics.${m}: "${ref}" is not "node.counter"`);
  const params = new Set(Object.keys(s.params ?? {}));
  for (const c of s.charts ?? []) {
    if (!params.has(c.x)) bad(`chart x "${c.x}" is not a parameter`);
    for (const p of [c.series, c.facet]) if (p !== undefined && !params.has(p)) bad(`chart "${p}" is not a parameter`);
  }
}

/** Every combination of the parameters, in a fixed order (the first parameter varies slowest). */
export function points(s: Scenario): Point[] {
  let out: Point[] = [{}];
  for (const [k, values] of Object.entries(s.params ?? {})) out = out.flatMap((p) => values.map((v) => ({ ...p, [k]: v })));
  return out;
}

export function seedsOf(s: Scenario): number[] {
  const n = s.seeds ?? 3;
  return typeof n === "number" ? Array.from({ length: n }, (_, i) => i + 1) : n;
}

/** "${name}" in strings, replaced by the point's values; a string that is only a placeholder becomes the value itself. */
export function substitute<T>(v: T, point: Point): T {
  if (typeof v === "string") {
    const whole = /^\$\{(\w+)\}$/.exec(v);
    if (whole) return lookup(point, whole[1]) as T;
    return v.replace(/\$\{(\w+)\}/g, (_, k) => String(lookup(point, k))) as T;
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, point)) as T;
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, point)])) as T;
  return v;
}

function lookup(point: Point, k: string): ParamValue {
  if (!(k in point)) throw new ScenarioError(`"\${${k}}" names no parameter (parameters: ${Object.keys(point).join(", ") || "none"})`);
  return point[k];
}

/** Sets up the declarative form's world for one run. Returns the daemon nodes. */
export function buildDeclared(s: Scenario, ctx: RunContext): SimNode[] {
  const named = new Map<string, SimNode | ReturnType<World["switch"]>>();
  const daemons: SimNode[] = [];
  for (const sw of s.switches ?? []) named.set(sw, ctx.world.switch(sw));
  for (const n of substitute(s.nodes ?? [], ctx.point)) {
    const opts: NodeOptions = { kernel: ctx.kernels[n.kernel], cmdline: n.cmdline, memory: n.memory };
    const node = ctx.world.node(n.name, opts);
    named.set(n.name, node);
    if (n.daemon) daemons.push(node);
  }
  for (const l of substitute(s.links ?? [], ctx.point)) {
    const { a, b, ...spec } = l;
    const ea = named.get(a);
    const eb = named.get(b);
    if (!ea || !eb) throw new ScenarioError(`link ${a}-${b}: ${!ea ? a : b} is neither a node nor a switch`);
    ctx.world.link(ea, eb, spec);
  }
  return daemons;
}

/** The declarative form's metrics: "node.counter" read from the report. */
export function measureDeclared(s: Scenario, report: RunReport): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [m, ref] of Object.entries(s.metrics ?? {})) {
    const dot = ref.indexOf(".");
    const counters: Counters | undefined = report.nodes[ref.slice(0, dot)]?.counters;
    out[m] = counters?.[ref.slice(dot + 1)] ?? NaN;
  }
  return out;
}

/**
 * A TypeScript scenario as one ES module (esbuild, which is a dependency).
 * Its packages stay imports, so the bundle goes where they resolve as they
 * do for the file: the cache folder of the nearest node_modules above it
 * (the user's project; in a checkout, the checkout's own), never inside an
 * installed package, which may be read-only.
 */
async function bundleModule(path: string): Promise<string> {
  const { buildSync } = await import("esbuild");
  const { createHash } = await import("node:crypto");
  const { ROOT } = await import("../../tools/paths.ts");
  // the bundle's own copy of tools/paths.ts must find the package, not the cache folder
  (globalThis as any).UNIWASM_ROOT ??= ROOT;
  let project = dirname(path);
  while (!existsSync(join(project, "node_modules")) && dirname(project) !== project) project = dirname(project);
  if (!existsSync(join(project, "node_modules"))) project = ROOT;
  const dir = join(project, "node_modules", ".cache", "uniwasm", "scenarios", createHash("sha256").update(path).digest("hex").slice(0, 12));
  const built = buildSync({ entryPoints: [path], bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", write: false, outdir: dir, logLevel: "error" });
  const code = built.outputFiles[0].contents;
  // named by its contents: an edit to the scenario or a module it imports is a new
  // file, which this process imports afresh (it keeps every URL it imported)
  const outfile = join(dir, `${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`);
  if (!existsSync(outfile)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(outfile, code);
    pruneBundles(dir);
  } else {
    const now = new Date();
    utimesSync(outfile, now, now); // last used: what pruning goes by
  }
  return outfile;
}

/** Bundles of one scenario kept: the most recently used, and any used in the last hour (another process may be starting from one). */
const BUNDLES_KEPT = 8;
const BUNDLE_GRACE_MS = 3_600_000;

/** Every edit of a scenario makes a new bundle: the old ones go, so the cache stays the size of a few. */
function pruneBundles(dir: string): void {
  const now = Date.now();
  const files = readdirSync(dir)
    .filter((n) => n.endsWith(".mjs"))
    .map((n) => ({ path: join(dir, n), used: statSync(join(dir, n)).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  for (const f of files.slice(BUNDLES_KEPT)) if (now - f.used > BUNDLE_GRACE_MS) rmSync(f.path, { force: true });
}
