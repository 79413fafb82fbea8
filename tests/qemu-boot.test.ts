// The image pipeline end to end: build, boot in QEMU (TCG), read the serial
// console and the exit code; and the same wasm on the Node platform.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadApp } from "../tools/app.ts";
import { buildImage, type BoundsChecks } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { boot, qemuArgs } from "../tools/qemu.ts";
import { findTool, TOOLS } from "../tools/toolchain.ts";
import { TEST_ARCHES } from "./helpers/arches.ts";
import { runWasm } from "./helpers/kernel.ts";

const quiet = { stage: () => {}, info: () => {} };

/** Output with every number replaced, for comparing platforms. */
const shape = (s: string) => s.replace(/\d+(\.\d+)?/g, "N");

describe.each(TEST_ARCHES)("$arch images on QEMU", (a) => {
  const dirOf = (name: string, bounds: string) => join(ROOT, "build", "test-qemu", a.arch, `${name}-${bounds}`);
  async function image(dir: string, bounds: BoundsChecks = "guard") {
    const app = loadApp(dir);
    return buildImage(app, { arch: a.arch, outDir: dirOf(app.name, bounds), bounds }, quiet);
  }
  async function bootQuiet(img: string, extra: Partial<Parameters<typeof boot>[0]> = {}) {
    return boot({ arch: a.arch, image: img, timeout: 120, onOutput: () => {}, ...extra });
  }
  const wasmOf = (name: string) => readFileSync(join(dirOf(name, "guard"), `${name}.wasm`));

  let hello: Awaited<ReturnType<typeof image>>;
  beforeAll(async () => {
    if (a.available) hello = await image(join(ROOT, "apps/hello"));
  });
  if (!a.available) {
    it.skip(`needs qemu for ${a.arch} and clang (run ./uniwasm setup)`, () => {});
    return;
  }

  it("boots apps/hello on the default machine: banner, memory, boot time, exit 0", async () => {
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
    // the shim's last line, on every exit path (boot/<arch>/README.md "Exit")
    expect(r.output.trimEnd().endsWith("goodbye\nexit code 0")).toBe(true);
  });

  it("boots the same image on the other machine types (x86_64: microvm's PVH entry; aarch64: GICv3, entry at EL2)", async () => {
    for (const machine of a.otherMachines) {
      const r = await bootQuiet(hello.image, { machine });
      expect(r.exitCode, machine).toBe(0);
      expect(r.output, machine).toContain("goodbye\n");
    }
  });

  it.runIf(a.arch === "x86_64")("boots through the PVH entry when the image has no Multiboot header", async () => {
    const app = loadApp(join(ROOT, "apps/hello"));
    const pvh = await buildImage(app, { arch: a.arch, outDir: dirOf("hello", "pvh"), cflags: ["-DUNIWASM_PVH_ONLY"] }, quiet);
    for (const machine of ["microvm", "pc"] as const) {
      const r = await bootQuiet(pvh.image, { machine, cmdline: "via=pvh" });
      expect(r.exitCode, machine).toBe(0);
      expect(r.output).toContain("goodbye\n");
    }
  });

  it("prints the same lines as the Node platform running the same wasm", async () => {
    const q = await bootQuiet(hello.image);
    const n = await runWasm(wasmOf("hello"));
    expect(n.exitCode).toBe(q.exitCode);
    expect(q.output).toMatch(/\nexit code 0\n$/);
    expect(shape(n.output)).toBe(shape(q.output.replace(/exit code 0\n$/, "")));
  });

  it("hands the kernel the command line, with the devices the machine describes appended", async () => {
    const img = await image(join(ROOT, "tests/kernels/cmdline"));
    if (a.arch === "x86_64") {
      const pc = await bootQuiet(img.image, { cmdline: "a=1 b=two" });
      expect(pc.output).toContain("cmdline [a=1 b=two]\n");
      const none = await bootQuiet(img.image);
      expect(none.output).toContain("cmdline []\n");
      const micro = await bootQuiet(img.image, { machine: "microvm", net: "user", cmdline: "a=1" });
      expect(micro.output).toMatch(/cmdline \[a=1 virtio_mmio\.device=512@0xfeb[0-9a-f]+:\d+\]\n/);
    } else {
      // the shim reads the device tree: the PCIe host bridge's ECAM window
      // always, a virtio-mmio transport only where a device sits
      const plain = await bootQuiet(img.image, { cmdline: "a=1 b=two" });
      expect(plain.output).toContain("cmdline [a=1 b=two pci.ecam=268435456@0x4010000000]\n");
      const mmio = await bootQuiet(img.image, { net: "user", transport: "mmio" });
      expect(mmio.output).toMatch(/cmdline \[virtio_mmio\.device=512@0xa00[0-9a-f]+:\d+ pci\.ecam=268435456@0x4010000000\]\n/);
    }
  });

  it("keeps the hello image small (x86_64: 32 KB, aarch64: 64 KB)", () => {
    expect(hello.sizes.image).toBeLessThan((a.arch === "x86_64" ? 32 : 64) * 1024);
  });

  it("passes the guest's exit code through", async () => {
    const img = await image(join(ROOT, "tests/kernels/exit-code"));
    const r = await bootQuiet(img.image, { cmdline: "code=42" });
    expect(r.exitCode).toBe(42);
    if (a.arch === "aarch64") {
      // without semihosting: the code on the console, then PSCI SYSTEM_OFF (status 0, "no code")
      const args = qemuArgs({ arch: a.arch, image: img.image, cmdline: "code=42" });
      const at = args.indexOf("-semihosting-config");
      args.splice(at, 2);
      const q = spawnSync(findTool(TOOLS.qemuArm)!, args, { encoding: "utf8", timeout: 60_000 });
      expect(q.stdout.replace(/\r/g, "")).toContain("exiting with the code from the command line\nexit code 42\n");
      expect(q.status).toBe(0);
    }
  });

  describe("failures end in a report and a non-zero exit, never a hang", () => {
    it("out-of-bounds read and index: reports naming the app's functions, source file and line, on QEMU and in Node", async () => {
      // the line of each function's first statement in the kernel's source
      const source = readFileSync(join(ROOT, "tests/kernels/oob/main.ts"), "utf8").split("\n");
      const lineOf = (text: string) => `tests/kernels/oob/main.ts:${source.findIndex((l) => l.includes(text)) + 1}`;
      const at = { checksum: lineOf("return n == 0 ? load"), pick: lineOf("return n <= 0 ? xs[i]"), main: lineOf('if (cmdlineArg("what"') };
      const img = await image(join(ROOT, "tests/kernels/oob"));
      const r = await bootQuiet(img.image);
      expect(r.exitCode).toBe(71);
      expect(r.output).toContain("uniwasm: wasm trap: out of bounds memory access");
      expect(r.output).toContain(`\n  in tests/kernels/oob/main/checksum+0x`);
      expect(r.output).toMatch(new RegExp(`in tests/kernels/oob/main/checksum\\+0x[0-9a-f]+ at ${at.checksum}\n`));
      expect(r.output).toMatch(/call chain:\n(\s+0x[0-9a-f]+ .*\n)+/);
      expect(r.output).toMatch(new RegExp(` tests/kernels/oob/main/main\\+0x[0-9a-f]+ at ${at.main}\n`));
      const n = await runWasm(wasmOf("oob"));
      expect(n.exitCode).toBe(71);
      expect(n.output).toContain(`\n  in tests/kernels/oob/main/checksum at ${at.checksum}\n`);
      expect(n.output).toContain(`\n    tests/kernels/oob/main/main at ${at.main}\n`);
      // an abort in the runtime (~lib/array.ts) called by the app: the chain names the app's lines
      const q = await bootQuiet(img.image, { cmdline: "what=index" });
      expect(q.exitCode).toBe(70);
      expect(q.output).toMatch(/uniwasm: abort: Index out of range at ~lib\/array\.ts:\d+:\d+\n  call chain:\n/);
      expect(q.output).toMatch(new RegExp(` tests/kernels/oob/main/pick\\+0x[0-9a-f]+ at ${at.pick}\n`));
      expect(q.output).toMatch(new RegExp(` tests/kernels/oob/main/main\\+0x[0-9a-f]+ at ${at.main}\n`));
      const m = await runWasm(wasmOf("oob"), { cmdline: "what=index" });
      expect(m.exitCode).toBe(70);
      expect(m.output).toContain(`uniwasm: abort: Index out of range at ~lib/array.ts:`);
      expect(m.output).toMatch(new RegExp(`\n  call chain:\n    tests/kernels/oob/main/pick at ${at.pick}\n(    .*\n)*    tests/kernels/oob/main/main at ${at.main}\n`));
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
      const n = await runWasm(wasmOf("divzero"));
      expect(n.exitCode).toBe(71);
      expect(n.output).toContain("uniwasm: wasm trap: integer divide by zero");
    });

    it("a CPU exception in native code: what it was, the registers, the address and the call chain", async () => {
      const img = await image(join(ROOT, "tests/kernels/mmio-fault"));
      const r = await bootQuiet(img.image);
      expect(r.exitCode).toBe(72);
      expect(r.output).toContain(a.mmioFault.title);
      expect(r.output).toMatch(a.mmioFault.detail);
      expect(r.output).toMatch(a.mmioFault.pc);
      expect(r.output).toContain(a.mmioFault.address);
      expect(r.output).toMatch(/backtrace:\n\s+0x[0-9a-f]+ (\S+\/)?main\+0x/);
      const n = await runWasm(wasmOf("mmio-fault"));
      expect(n.exitCode).toBe(72);
      expect(n.output).toContain("page fault: mmio access at 0xdead0000");
    });

    it("out of memory: named as such, with the size asked for and the memory there was (exit 75)", async () => {
      const img = await image(join(ROOT, "tests/kernels/oom"));
      const r = await bootQuiet(img.image, { memory: "16M" });
      expect(r.exitCode).toBe(75);
      // the allocator's request: the 64 KiB buffer and its 16-byte GC header
      expect(r.output).toContain("uniwasm: out of memory: the kernel's heap could not grow for an allocation of 65552 bytes\n");
      // the heap grows in steps: what was refused no longer fit in what was left
      const [, used, limit, refused] = /linear memory: (\d+) KiB in use of (\d+) KiB the machine gives it \(--mem\); (\d+) KiB more were refused/.exec(r.output)!.map(Number);
      expect(used).toBeLessThanOrEqual(limit);
      expect(used + refused).toBeGreaterThan(limit);
      expect(r.output).toMatch(/call chain:\n(.*~lib\/rt\/.*\n)+\s+0x[0-9a-f]+ (\S+\/)?main\+0x/); // the allocator's frames, then the app's
      expect(r.output).not.toContain("wasm trap");
      const n = await runWasm(wasmOf("oom"), { memory: 16 << 20 });
      expect(n.exitCode).toBe(75);
      expect(n.output).toContain("uniwasm: out of memory: the kernel's heap could not grow for an allocation of 65552 bytes\n");
      expect(n.output).toMatch(/linear memory: 16384 KiB in use of 16384 KiB the machine gives it/);
      expect(n.output).toContain("tests/kernels/oom/main/main");
    });

    it("unbounded recursion: call stack exhausted", async () => {
      const img = await image(join(ROOT, "tests/kernels/recurse"));
      const r = await bootQuiet(img.image);
      expect(r.exitCode).toBe(71);
      expect(r.output).toContain("uniwasm: wasm trap: call stack exhausted");
      expect(r.output).toMatch(/in .*deeper/);
      const n = await runWasm(wasmOf("recurse"));
      expect(n.exitCode).toBe(71);
      expect(n.output).toContain("uniwasm: wasm trap: call stack exhausted");
    });
  });
});
