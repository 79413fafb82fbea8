// Boot benchmark: image size of apps/hello; wall time from starting QEMU to
// the banner and to QEMU's exit; the guest's own boot-to-main; and the floor
// (an image whose entry point exits at once) on the same QEMU flags, so the
// kernel's own cost shows as a ratio. Runs alternate hello and floor so that
// machine noise hits both alike. `--arch=aarch64` (or `--arch aarch64`)
// measures the aarch64 images on its machine types instead of x86_64's.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { loadApp } from "../tools/app.ts";
import { buildFloorImage, buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { qemuArgs } from "../tools/qemu.ts";
import { ARCH, ARCHES, type Arch } from "../tools/arch.ts";
import { requireTool } from "../tools/toolchain.ts";
import { fmt, median, quantile, table } from "./stats.ts";
import { flag, value } from "./args.ts";

interface Run {
  banner?: number; // ms from spawn to the banner on the console
  exit: number; // ms from spawn to QEMU's exit
  bootToMain?: number; // ms, as the guest reports it
}

function once(qemu: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
    const child = spawn(qemu, args, { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    let banner: number | undefined;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      out += d;
      if (banner === undefined && out.includes("uniwasm hello")) banner = ms();
    });
    child.on("error", reject);
    child.on("close", () => {
      const m = /boot to main: (\d+\.\d+) ms/.exec(out);
      resolve({ banner, exit: ms(), bootToMain: m ? Number(m[1]) : undefined });
    });
  });
}

export async function bootBench(flags: string[]): Promise<void> {
  const runs = flag(flags, "runs", 21);
  const arch = (value(flags, "arch") ?? "x86_64") as Arch;
  if (!ARCHES.includes(arch)) throw new Error(`bench boot: --arch ${arch}: expected one of ${ARCHES.join(", ")}`);
  const quiet = { stage: () => {}, info: () => {} };
  const out = join(ROOT, "build", "bench", arch);
  const hello = await buildImage(loadApp(join(ROOT, "apps/hello")), { arch, outDir: join(out, "hello") }, quiet);
  const floor = await buildFloorImage(arch, join(out, "floor"));
  const qemu = requireTool(ARCH[arch].qemu);
  const machines = Object.keys(ARCH[arch].machines);
  console.log(`boot benchmark (${arch}): ${runs} runs per machine, alternating hello and floor (medians, p10-p90 in brackets)\n`);
  console.log(`hello image: ${hello.sizes.image} bytes (text ${hello.sizes.text}, data ${hello.sizes.data}, bss ${hello.sizes.bss}; wasm ${hello.sizes.wasm}, C ${hello.sizes.c})\n`);
  const rows: (string | number)[][] = [];
  for (const machine of machines) {
    const h: Run[] = [];
    const f: Run[] = [];
    await once(qemu, qemuArgs({ arch, image: floor, machine })); // warm the page cache
    for (let i = 0; i < runs; i++) {
      h.push(await once(qemu, qemuArgs({ arch, image: hello.image, machine })));
      f.push(await once(qemu, qemuArgs({ arch, image: floor, machine })));
    }
    const hb = median(h.map((r) => r.banner ?? NaN));
    const he = median(h.map((r) => r.exit));
    const fe = median(f.map((r) => r.exit));
    const btm = median(h.map((r) => r.bootToMain ?? NaN));
    const spread = (rs: Run[]) => `[${fmt(quantile(rs.map((r) => r.exit), 0.1))}-${fmt(quantile(rs.map((r) => r.exit), 0.9))}]`;
    rows.push([machine, `${fmt(fe)} ${spread(f)}`, fmt(hb), `${fmt(he)} ${spread(h)}`, fmt(btm, 3), fmt(he / fe, 3)]);
  }
  console.log(table(["machine", "floor: start to exit (ms)", "hello: start to banner (ms)", "hello: start to exit (ms)", "guest boot-to-main (ms)", "hello/floor (exit)"], rows));
}
