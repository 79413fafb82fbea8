// The image pipeline end to end: build, boot in QEMU (TCG), read the serial
// console and the exit code; and the same wasm on the Node platform.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadApp } from "../tools/app.ts";
import { buildImage, type BoundsChecks } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { boot } from "../tools/qemu.ts";
import { findTool, TOOLS } from "../tools/toolchain.ts";
import { runWasm } from "./helpers/kernel.ts";

const quiet = { stage: () => {}, info: () => {} };
const haveQemu = !!findTool(TOOLS.qemuX86) && !!findTool(TOOLS.clang);

async function image(dir: string, bounds: BoundsChecks = "guard") {
  const app = loadApp(dir);
  return buildImage(app, { arch: "x86_64", outDir: join(ROOT, "build", "test-qemu", `${app.name}-${bounds}`), bounds }, quiet);
}

async function bootQuiet(img: string, extra: Partial<Parameters<typeof boot>[0]> = {}) {
  return boot({ arch: "x86_64", image: img, timeout: 120, onOutput: () => {}, ...extra });
}

/** Output with every number replaced, for comparing platforms. */
const shape = (s: string) => s.replace(/\d+(\.\d+)?/g, "N");

describe.skipIf(!haveQemu)("x86_64 images on QEMU", () => {
  let hello: Awaited<ReturnType<typeof image>>;
  beforeAll(async () => {
    hello = await image(join(ROOT, "apps/hello"));
  });

  it("boots apps/hello on -M pc: banner, memory, boot time, exit 0", async () => {
    const r = await bootQuiet(hello.image, { memory: "32M" });
    expect(r.reason).toBeUndefined();
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain("uniwasm hello: a WebAssembly kernel, up and running\n");
    const mem = /memory: (\d+) KiB for linear memory, 64 KiB in use/.exec(r.output);
    expect(mem).not.toBeNull();
    // most of 32 MiB, less what sits below 1 MiB and the image itself
    expect(Number(mem![1])).toBeGreaterThan(28 * 1024);
    expect(Number(mem![1])).toBeLessThan(32 * 1024);
    const ms = Number(/boot to main: (\d+\.\d+) ms/.exec(r.output)![1]);
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(5000);
    expect(r.output.trimEnd().endsWith("goodbye")).toBe(true);
  });

  it("boots the same image on -M microvm (PVH entry)", async () => {
    const r = await bootQuiet(hello.image, { machine: "microvm" });
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain("goodbye\n");
  });

  it("boots through the PVH entry when the image has no Multiboot header", async () => {
    const app = loadApp(join(ROOT, "apps/hello"));
    const pvh = await buildImage(app, { arch: "x86_64", outDir: join(ROOT, "build", "test-qemu", "hello-pvh"), cflags: ["-DUNIWASM_PVH_ONLY"] }, quiet);
    for (const machine of ["microvm", "pc"] as const) {
      const r = await bootQuiet(pvh.image, { machine, cmdline: "via=pvh" });
      expect(r.exitCode, machine).toBe(0);
      expect(r.output).toContain("goodbye\n");
    }
  });

  it("prints the same lines as the Node platform running the same wasm", async () => {
    const q = await bootQuiet(hello.image);
    const wasm = readFileSync(join(ROOT, "build", "test-qemu", "hello-guard", "hello.wasm"));
    const n = await runWasm(wasm);
    expect(n.exitCode).toBe(q.exitCode);
    expect(shape(n.output)).toBe(shape(q.output));
  });

  it("hands the kernel the command line: as given on pc, with QEMU's device entries on microvm", async () => {
    const img = await image(join(ROOT, "tests/kernels/cmdline"));
    const pc = await bootQuiet(img.image, { cmdline: "a=1 b=two" });
    expect(pc.output).toContain("cmdline [a=1 b=two]\n");
    const none = await bootQuiet(img.image);
    expect(none.output).toContain("cmdline []\n");
    const micro = await bootQuiet(img.image, { machine: "microvm", net: "user", cmdline: "a=1" });
    expect(micro.output).toMatch(/cmdline \[a=1 virtio_mmio\.device=512@0xfeb[0-9a-f]+:\d+\]\n/);
  });

  it("keeps a 32 KB budget for the hello image", () => {
    expect(hello.sizes.image).toBeLessThan(32 * 1024);
  });

  it("passes the guest's exit code through", async () => {
    const img = await image(join(ROOT, "tests/kernels/exit-code"));
    const r = await bootQuiet(img.image, { cmdline: "code=42" });
    expect(r.exitCode).toBe(42);
  });

  describe("failures end in a report and a non-zero exit, never a hang", () => {
    it("out-of-bounds read: trap report naming the function", async () => {
      const img = await image(join(ROOT, "tests/kernels/oob"));
      const r = await bootQuiet(img.image);
      expect(r.exitCode).toBe(71);
      expect(r.output).toContain("uniwasm: wasm trap: out of bounds memory access");
      expect(r.output).toMatch(/in .*checksum\+0x[0-9a-f]+/);
      expect(r.output).toMatch(/call chain:\n(\s+0x[0-9a-f]+ .*\n)+/);
      const n = await runWasm(readFileSync(join(ROOT, "build", "test-qemu", "oob-guard", "oob.wasm")));
      expect(n.exitCode).toBe(71);
      expect(n.output).toMatch(/in .*checksum/);
    });

    it("the same report with explicit bounds checks instead of guard pages", async () => {
      const img = await image(join(ROOT, "tests/kernels/oob"), "explicit");
      const r = await bootQuiet(img.image);
      expect(r.exitCode).toBe(71);
      expect(r.output).toContain("uniwasm: wasm trap: out of bounds memory access");
      expect(r.output).toMatch(/in .*checksum\+0x[0-9a-f]+/);
    });

    it("memory.grow maps the new pages; one byte past the end still traps, in both modes", async () => {
      for (const bounds of ["guard", "explicit"] as const) {
        const img = await image(join(ROOT, "tests/kernels/grow"), bounds);
        const ok = await bootQuiet(img.image, { memory: "32M" });
        expect(ok.output, bounds).toMatch(/grew to \d+ pages, every new page written and read back/);
        expect(ok.exitCode, bounds).toBe(0);
        const beyond = await bootQuiet(img.image, { memory: "32M", cmdline: "touch=beyond" });
        expect(beyond.output, bounds).toContain("uniwasm: wasm trap: out of bounds memory access");
        expect(beyond.exitCode, bounds).toBe(71);
      }
    });

    it("integer division by zero: trap report", async () => {
      const img = await image(join(ROOT, "tests/kernels/divzero"));
      const r = await bootQuiet(img.image);
      expect(r.exitCode).toBe(71);
      expect(r.output).toContain("uniwasm: wasm trap: integer divide by zero");
      expect(r.output).toMatch(/in .*main\+0x/);
      const n = await runWasm(readFileSync(join(ROOT, "build", "test-qemu", "divzero-guard", "divzero.wasm")));
      expect(n.exitCode).toBe(71);
      expect(n.output).toContain("uniwasm: wasm trap: integer divide by zero");
    });

    it("a CPU exception in native code: vector, error code, RIP, CR2 and the call chain", async () => {
      const img = await image(join(ROOT, "tests/kernels/mmio-fault"));
      const r = await bootQuiet(img.image);
      expect(r.exitCode).toBe(72);
      expect(r.output).toContain("*** CPU exception: page fault (#PF)");
      expect(r.output).toMatch(/vector 14, error code 0x[0-9a-f]+/);
      expect(r.output).toMatch(/rip 0x[0-9a-f]+ plat_mmio_read\+0x/);
      expect(r.output).toContain("cr2 0xdead0000");
      expect(r.output).toMatch(/backtrace:\n\s+0x[0-9a-f]+ main\+0x/);
      const n = await runWasm(readFileSync(join(ROOT, "build", "test-qemu", "mmio-fault-guard", "mmio-fault.wasm")));
      expect(n.exitCode).toBe(72);
      expect(n.output).toContain("page fault: mmio access at 0xdead0000");
    });

    it("out of memory: named as such, with the size asked for and the memory there was (exit 75)", async () => {
      const img = await image(join(ROOT, "tests/kernels/oom"));
      const r = await bootQuiet(img.image, { memory: "16M" });
      expect(r.exitCode).toBe(75);
      expect(r.output).toContain("uniwasm: out of memory: the kernel's heap could not grow for an allocation of 65536 bytes\n");
      expect(r.output).toMatch(/linear memory: (\d+) KiB in use of \1 KiB the machine gives it \(--mem\); \d+ KiB more were refused/);
      expect(r.output).toMatch(/call chain:\n.*~lib\/rt\/.*\n\s+0x[0-9a-f]+ main\+0x/);
      expect(r.output).not.toContain("wasm trap");
      const n = await runWasm(readFileSync(join(ROOT, "build", "test-qemu", "oom-guard", "oom.wasm")), { memory: 16 << 20 });
      expect(n.exitCode).toBe(75);
      expect(n.output).toContain("uniwasm: out of memory: the kernel's heap could not grow for an allocation of 65536 bytes\n");
      expect(n.output).toMatch(/linear memory: 16384 KiB in use of 16384 KiB the machine gives it/);
      expect(n.output).toContain("tests/kernels/oom/main/main");
    });

    it("unbounded recursion: call stack exhausted", async () => {
      const img = await image(join(ROOT, "tests/kernels/recurse"));
      const r = await bootQuiet(img.image);
      expect(r.exitCode).toBe(71);
      expect(r.output).toContain("uniwasm: wasm trap: call stack exhausted");
      expect(r.output).toMatch(/in .*deeper/);
      const n = await runWasm(readFileSync(join(ROOT, "build", "test-qemu", "recurse-guard", "recurse.wasm")));
      expect(n.exitCode).toBe(71);
      expect(n.output).toContain("uniwasm: wasm trap: call stack exhausted");
    });
  });
});
