// `uniwasm bench [name...]`: runs the named benchmarks (all by default).
// Benchmarks report medians of repeated runs and ratios against a peer
// measured in the same session; they are not tests and assert nothing.
import { bootBench } from "./boot.ts";
import { schedBench } from "./sched.ts";
import { tcpBench } from "./tcp.ts";
import { boundsBench } from "./bounds.ts";
import { peersBench } from "./peers.ts";
import { simBench } from "./sim.ts";
import { appsBench } from "./apps.ts";
import { lowmemBench } from "./lowmem.ts";
import { codegenBench } from "./codegen.ts";
import { buildTimeBench } from "./build-time.ts";

/**
 * An option a benchmark reads: `n` a number, `list` numbers separated by
 * commas, `text` any value, `flag` no value, or the values allowed (`a|b`).
 * `repeat`: may be given more than once.
 */
interface Opt { kind: "n" | "list" | "text" | "flag" | string; repeat?: boolean }
interface Bench { run: (args: string[]) => Promise<void>; options: Record<string, Opt>; byName?: true }

const n: Opt = { kind: "n" };
const arch: Opt = { kind: "x86_64|aarch64" };
const BENCHES: Record<string, Bench> = {
  boot: { run: bootBench, options: { runs: n, arch } },
  sched: { run: schedBench, options: { "no-qemu": { kind: "flag" }, kvm: { kind: "flag" } } },
  tcp: { run: tcpBench, options: { runs: n, bytes: n, kvm: { kind: "flag" }, "no-qemu": { kind: "flag" }, "no-sim": { kind: "flag" }, app: { kind: "text" } } },
  bounds: { run: boundsBench, options: { runs: n } },
  // `peers` and `apps` boot a Linux guest and take minutes, `codegen` compares build variants, `lowmem` runs minutes of wrk, `build` builds apps/httpd 18 times: only when named.
  peers: { run: peersBench, options: { runs: n, duration: n, mem: n, "no-memory": { kind: "flag" }, "memory-duration": n, "bulk-only": { kind: "flag" } }, byName: true },
  sim: { run: simBench, options: { runs: n, bytes: n } },
  apps: { run: appsBench, options: { runs: n, duration: n, requests: n, mem: n, only: { kind: "http|redis" } }, byName: true },
  lowmem: { run: lowmemBench, options: { mems: { kind: "list" }, runs: n, duration: n }, byName: true },
  codegen: { run: codegenBench, options: { arch, runs: n, bytes: n, variant: { kind: "text", repeat: true } }, byName: true },
  build: { run: buildTimeBench, options: { base: { kind: "text" }, runs: n }, byName: true },
};

const usage = (name: string) =>
  `  uniwasm bench ${name}${Object.entries(BENCHES[name].options).map(([o, { kind, repeat }]) => ` [--${o}${kind === "flag" ? "" : `=<${kind === "n" ? "n" : kind === "list" ? "n,n..." : kind === "text" ? "value" : kind}>`}]${repeat ? "..." : ""}`).join("")}`;

/** Why `flag` is not an option of any of `names` or has a wrong value; undefined when it is fine. */
function badFlag(flag: string, names: string[], seen: Set<string>): string | undefined {
  const m = /^--([a-z-]+)(?:=(.*))?$/.exec(flag);
  const key = m?.[1] ?? flag;
  const opt = names.map((b) => BENCHES[b].options[key]).find((o) => o);
  if (!m || !opt) return `unknown option ${flag.split("=")[0]} for ${names.join(", ")}`;
  const v = m[2];
  if (seen.has(key) && !opt.repeat) return `--${key} given more than once`;
  seen.add(key);
  if (opt.kind === "flag") return v === undefined ? undefined : `--${key} takes no value`;
  if (v === undefined || v === "") return `--${key} needs a value (--${key}=...)`;
  if (opt.kind === "n") return /^\d+(\.\d+)?$/.test(v) ? undefined : `--${key}=${v}: expected a number`;
  if (opt.kind === "list") return /^\d+(,\d+)*$/.test(v) ? undefined : `--${key}=${v}: expected numbers separated by commas`;
  if (opt.kind === "text") return undefined;
  return opt.kind.split("|").includes(v) ? undefined : `--${key}=${v}: expected one of ${opt.kind.split("|").join(", ")}`;
}

// `--arch aarch64` is one flag (`--arch=aarch64`), not a flag and a benchmark name
const argv = process.argv.slice(2).flatMap((a, i, all) => (a === "--arch" ? [] : all[i - 1] === "--arch" ? [`--arch=${a}`] : [a]));
const wanted = argv.filter((a) => !a.startsWith("-"));
const flags = argv.filter((a) => a.startsWith("-"));
const names = wanted.length ? wanted : Object.keys(BENCHES).filter((b) => !BENCHES[b].byName);
const unknown = names.find((b) => !BENCHES[b]);
const fail = (why: string) => {
  process.stderr.write(`uniwasm bench: ${why}\n`);
  process.exitCode = 2;
};
if (unknown) fail(`no benchmark "${unknown}" (have: ${Object.keys(BENCHES).join(", ")})`);
else if (flags.includes("--help") || flags.includes("-h")) {
  process.stdout.write(`${names.map(usage).join("\n")}\n(bench/README.md says what each measures)\n`);
} else {
  const seen = new Set<string>();
  const bad = flags.map((f) => badFlag(f, names, seen)).find((w) => w);
  if (bad) fail(`${bad}; see uniwasm bench ${wanted.join(" ")}${wanted.length ? " " : ""}--help`);
  else for (const b of names) await BENCHES[b].run(flags);
}
