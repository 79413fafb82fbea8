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

const BENCHES: Record<string, (args: string[]) => Promise<void>> = {
  boot: bootBench,
  sched: schedBench,
  tcp: tcpBench,
  bounds: boundsBench,
  peers: peersBench,
  sim: simBench,
  apps: appsBench,
  lowmem: lowmemBench,
  codegen: codegenBench,
};

// `--arch aarch64` is one flag (`--arch=aarch64`), not a flag and a benchmark name
const argv = process.argv.slice(2).flatMap((a, i, all) => (a === "--arch" ? [] : all[i - 1] === "--arch" ? [`--arch=${a}`] : [a]));
const wanted = argv.filter((a) => !a.startsWith("-"));
const flags = argv.filter((a) => a.startsWith("-"));
// `peers` and `apps` boot a Linux guest and take minutes, `codegen` compares build variants, `lowmem` runs minutes of wrk: only when named.
const names = wanted.length ? wanted : Object.keys(BENCHES).filter((n) => n !== "peers" && n !== "apps" && n !== "codegen" && n !== "lowmem");
for (const n of names) {
  const b = BENCHES[n];
  if (!b) {
    process.stderr.write(`uniwasm bench: no benchmark "${n}" (have: ${Object.keys(BENCHES).join(", ")})\n`);
    process.exitCode = 2;
    break;
  }
  await b(flags);
}
