// The image builder: every stage reported, intermediates kept, unchanged
// stages reused, and the symbol table that trap reports rely on.
import { existsSync, readdirSync, readFileSync, cpSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadApp } from "../tools/app.ts";
import { Elf64 } from "../tools/elf.ts";
import { ARCHES } from "../tools/arch.ts";
import { buildImage, demangle } from "../tools/image.ts";
import { WASM2C_EDITS, editWasm2cOutput } from "../tools/wasm2c-edits.ts";
import { ROOT } from "../tools/paths.ts";
import { findTool, TOOLS } from "../tools/toolchain.ts";
import { scratchDir } from "./helpers/kernel.ts";

const haveToolchain = !!findTool(TOOLS.clang) && !!findTool(TOOLS.lld) && !!findTool(TOOLS.objcopy);

function recorder() {
  const stages: { name: string; cached: boolean }[] = [];
  const info: string[] = [];
  return { stages, info, log: { stage: (name: string, _d: string, cached: boolean) => stages.push({ name, cached }), info: (t: string) => info.push(t) } };
}

describe.skipIf(!haveToolchain)("uniwasm image", () => {
  it("runs every stage, keeps the intermediates, and reuses them on a rebuild", async () => {
    const work = scratchDir("image");
    const appDir = join(work, "hello");
    cpSync(join(ROOT, "apps/hello"), appDir, { recursive: true });
    const out = join(work, "out");
    const first = recorder();
    const r = await buildImage(loadApp(appDir), { arch: "x86_64", outDir: out }, first.log);
    expect(first.stages.map((s) => s.name)).toEqual(["asc", "binaryen", "wasm2c", "clang", "ld.lld", "objcopy"]);
    expect(first.stages.filter((s) => s.cached)).toEqual([]);
    for (const f of ["hello.wasm", "hello.wat", "kernel_0.c", "kernel_1.c", "kernel.h", "kernel-impl.h", "entry.c", "uwsyms.c", "kernel.elf", "hello.img"]) expect(existsSync(join(out, f)), f).toBe(true);
    expect(first.info.join("\n")).toMatch(/sizes: wasm \d+ B, C [\d.]+ KiB, text [\d.]+ KiB, data \d+ B, bss [\d.]+ KiB, image [\d.]+ KiB/);
    expect(r.sizes.image).toBeGreaterThan(1000);

    const second = recorder();
    await buildImage(loadApp(appDir), { arch: "x86_64", outDir: out }, second.log);
    expect(second.stages.filter((s) => !s.cached && s.name !== "clang").map((s) => s.name)).toEqual([]);

    // an edit to the app reruns the pipeline from asc on
    writeFileSync(join(appDir, "main.ts"), readFileSync(join(appDir, "main.ts"), "utf8").replace("goodbye", "farewell"));
    const third = recorder();
    await buildImage(loadApp(appDir), { arch: "x86_64", outDir: out }, third.log);
    expect(third.stages.find((s) => s.name === "asc")!.cached).toBe(false);
    const generated = readdirSync(out).filter((f) => /^kernel_\d+\.c$/.test(f)).map((f) => readFileSync(join(out, f), "utf8")).join("");
    expect(generated.replace(/\s+/g, "")).toContain("0x66,0x00,0x61,0x00,0x72"); // "far" in UTF-16
  });

  it("links a function-name table that covers the kernel's code", async () => {
    const out = join(scratchDir("syms"), "out");
    const r = await buildImage(loadApp(join(ROOT, "apps/hello")), { arch: "x86_64", outDir: out }, recorder().log);
    const elf = new Elf64(readFileSync(r.elf), r.elf);
    const table = elf.sections.find((s) => s.name === ".uwsyms");
    expect(table && table.size > 0n).toBe(true);
    const text = elf.sections.find((s) => s.name === ".text")!;
    expect(table!.addr).toBeGreaterThan(text.addr + text.size - 1n); // after the code, so the second link moved nothing
    expect(readFileSync(join(out, "uwsyms.c"), "utf8")).toContain("kernel/console/print");
  });
});

// The goal of the apps people deploy (issue 11): images under 300 KB. Each
// image as `uniwasm image apps/<app> --arch <arch>` builds it (apps/http with
// its own small site); figures in docs/benchmarks.md ("Image sizes").
describe.skipIf(!haveToolchain)("the deployable apps' images", () => {
  for (const arch of ARCHES) {
    it(`apps/http and apps/kv are under 300,000 bytes on ${arch}, wasm2c's output edited`, async () => {
      for (const app of ["http", "kv"]) {
        const out = join(ROOT, "build", "test-size", arch, app);
        const r = await buildImage(loadApp(join(ROOT, "apps", app)), { arch, outDir: out }, recorder().log);
        expect(statSync(r.image).size, `apps/${app} on ${arch}`).toBe(r.sizes.image);
        expect(r.sizes.image, `apps/${app} on ${arch}`).toBeLessThan(300_000);
        const impl = readFileSync(join(out, "kernel-impl.h"), "utf8");
        for (const e of WASM2C_EDITS) expect(impl).toContain(e.uniwasm);
      }
    }, 600_000);
  }
});

describe("the edits of wasm2c's output", () => {
  const original = WASM2C_EDITS.map((e) => e.wasm2c).join("\n/* ... */\n");
  it("replaces each of wasm2c's macros once, leaves the rest, and is idempotent", () => {
    const segue = "#define MEM_ADDR_MEMOP(mem, addr, n) ((uint8_t __seg_gs*)(uintptr_t)addr)\n";
    const edited = editWasm2cOutput(segue + original);
    expect(edited).toContain("(wasm_rt_linear_base() + (addr))");
    expect(edited).toContain("WASM_RT_BELOW_STACK_FLOOR()");
    expect(edited.startsWith(segue)).toBe(true); // the Segue branch is left alone
    for (const e of WASM2C_EDITS) expect(edited.split(e.wasm2c).length).toBe(2); // kept once, under #else
    expect(editWasm2cOutput(edited)).toBe(edited);
  });
  it("refuses a header without one of them, or with one twice (another wasm2c version)", () => {
    expect(() => editWasm2cOutput(WASM2C_EDITS[0].wasm2c)).toThrow(/FUNC_PROLOGUE/);
    expect(() => editWasm2cOutput(original + original)).toThrow(/MEM_ADDR_MEMOP/);
  });
});

describe("symbol names", () => {
  it("turns wasm2c's escapes back into wasm names", () => {
    expect(demangle("w2c_kernel_0x7Elib0x2Frt0x2Fitcms0x2F_0x5Fnew")).toBe("~lib/rt/itcms/__new");
    expect(demangle("boot_main")).toBe("boot_main");
  });
});
