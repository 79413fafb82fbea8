// What bounds checking costs: the scheduler benchmark kernel (bench/sched-kernel)
// built twice — guard pages (the default: no check in the code, the MMU
// catches an access beyond memory) and explicit checks (a compare before
// every load and store) — booted alternately on QEMU; medians of ns/op and
// the image's code size.
//
//   ./uniwasm bench bounds [--runs=5]
import { join } from "node:path";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { boot } from "../tools/qemu.ts";
import { fmt, median, table } from "./stats.ts";
import { flag } from "./args.ts";

const quiet = { stage: () => {}, info: () => {} };

function perOp(output: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const [, op, ns] of output.matchAll(/^bench (\S+) ([\d.]+)$/gm)) m.set(op, Number(ns));
  if (!output.includes("bench done")) throw new Error(`the benchmark kernel did not finish:\n${output}`);
  return m;
}

export async function boundsBench(flags: string[]): Promise<void> {
  const runs = flag(flags, "runs", 5);
  const app = loadApp(join(ROOT, "bench/sched-kernel"));
  const modes = ["guard", "explicit"] as const;
  const images = Object.fromEntries(
    await Promise.all(modes.map(async (b) => [b, await buildImage(app, { arch: "x86_64", outDir: join(ROOT, "build", "bench", `bounds-${b}`), bounds: b }, quiet)] as const)),
  );
  const samples: Record<string, Map<string, number[]>> = { guard: new Map(), explicit: new Map() };
  for (let i = 0; i < runs; i++) {
    for (const b of modes) {
      const r = await boot({ arch: "x86_64", image: images[b].image, memory: "128M", timeout: 600, onOutput: () => {} });
      for (const [op, ns] of perOp(r.output)) samples[b].set(op, [...(samples[b].get(op) ?? []), ns]);
    }
  }
  console.log(`bounds checks: bench/sched-kernel on QEMU (TCG), ${runs} runs each, alternating (medians, ns/op)\n`);
  const rows = [...samples.guard.keys()].map((op) => {
    const g = median(samples.guard.get(op)!);
    const e = median(samples.explicit.get(op)!);
    return [op, fmt(g), fmt(e), fmt(e / g, 2)];
  });
  rows.push(["code size (text, bytes)", String(images.guard.sizes.text), String(images.explicit.sizes.text), fmt(images.explicit.sizes.text / images.guard.sizes.text, 2)]);
  console.log(table(["operation", "guard pages", "explicit checks", "explicit / guard"], rows));
}
