// What a code-generation choice costs in speed: tests/kernels/tcp-sim (two TCP
// stacks in one kernel over the in-kernel link, no rate limit or delay, every
// byte checked: protocol, checksum and copy work in the generated code) built
// with the default flags and with each variant's extra clang flags, booted
// alternately on QEMU (TCG). Two figures per boot: the wall time from QEMU's
// start to its exit (moved by the machine's load), and the guest instructions
// of the transfer, counted by QEMU's -icount (shift=0: the guest clock advances
// 1 ns per instruction, so the kernel's transfer_us is instructions / 1000;
// the load of the host does not move it). Medians with min-max, and the text size.
//
//   ./uniwasm bench codegen [--arch=aarch64] [--runs=5] [--bytes=4000000] [--variant=<name>:<flag>,<flag>]...
//   e.g. --variant=outline:-moutline --variant=oz:-Oz
import { join } from "node:path";
import { loadApp } from "../tools/app.ts";
import { buildImage, type ImageResult } from "../tools/image.ts";
import { ARCHES, type Arch } from "../tools/arch.ts";
import { ROOT } from "../tools/paths.ts";
import { boot } from "../tools/qemu.ts";
import { fmt, median, table } from "./stats.ts";
import { value } from "./args.ts";

const quiet = { stage: () => {}, info: () => {} };

interface Variant { name: string; cflags: string[] }


export async function codegenBench(flags: string[]): Promise<void> {
  const runs = Number(value(flags, "runs") ?? 5);
  const bytes = Number(value(flags, "bytes") ?? 4_000_000);
  const arch = (value(flags, "arch") ?? "aarch64") as Arch;
  if (!ARCHES.includes(arch)) throw new Error(`--arch=${arch}: expected one of ${ARCHES.join(", ")}`);
  const variants: Variant[] = [{ name: "default", cflags: [] }];
  for (const f of flags.filter((x) => x.startsWith("--variant="))) {
    const [name, list] = f.slice(10).split(":");
    if (!name || !list) throw new Error(`${f}: expected --variant=<name>:<flag>[,<flag>...]`);
    variants.push({ name, cflags: list.split(",") });
  }
  const app = loadApp(join(ROOT, "tests/kernels/tcp-sim"));
  const images: ImageResult[] = [];
  for (const v of variants) images.push(await buildImage(app, { arch, outDir: join(ROOT, "build", "bench", `codegen-${arch}-${v.name}`), cflags: v.cflags }, quiet));
  const cmdline = `bytes=${bytes} conns=4 rate=0 delay_us=0`;
  const wall: number[][] = variants.map(() => []);
  const insns: number[][] = variants.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, img] of images.entries()) {
      for (const icount of [false, true]) {
        const start = Date.now();
        const r = await boot({ arch, image: img.image, memory: "256M", cmdline, timeout: 600, onOutput: () => {}, extraArgs: icount ? ["-icount", "shift=0,sleep=off"] : [] });
        const elapsed = (Date.now() - start) / 1000;
        const us = /^transfer_us=(\d+)$/m.exec(r.output)?.[1];
        if (r.exitCode !== 0 || !/^bad=0$/m.test(r.output) || !/^errors=0$/m.test(r.output) || us === undefined) {
          throw new Error(`${variants[k].name}: the transfer did not complete cleanly (exit ${r.exitCode}):\n${r.output}`);
        }
        if (icount) insns[k].push(Number(us) / 1000); // millions of instructions
        else wall[k].push(elapsed);
      }
    }
  }
  const spread = (xs: number[], d: number) => `${fmt(median(xs), d)} (${fmt(Math.min(...xs), d)}-${fmt(Math.max(...xs), d)})`;
  console.log(`code generation: tests/kernels/tcp-sim on QEMU ${arch} (TCG), ${cmdline}, ${runs} rounds alternating\n`);
  console.log(table(
    ["variant", "clang flags", "wall s, median (min-max)", "vs default", "transfer, M instructions", "vs default", "text bytes"],
    variants.map((v, k) => [v.name, v.cflags.join(" ") || "-", spread(wall[k], 2), fmt(median(wall[k]) / median(wall[0]), 3), spread(insns[k], 1), fmt(median(insns[k]) / median(insns[0]), 3), images[k].sizes.text]),
  ));
}
