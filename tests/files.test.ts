// Files baked into a kernel (tools/files.ts -> kernel/files.ts): the table the
// kernel reads in place matches the folder, byte for byte, in Node.
import { describe, expect, it, beforeAll } from "vitest";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { buildAppWasm, runWasm, scratchDir } from "./helpers/kernel.ts";
import { ROOT } from "../tools/paths.ts";
import { contentType, encodeFiles, readFolder } from "../tools/files.ts";

const KERNEL = join(ROOT, "tests/kernels/files");

function fnv(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const x of b) h = Math.imul(h ^ x, 0x01000193) >>> 0;
  return h.toString(16);
}

describe("embedded files", () => {
  let site: string;
  let big: Buffer;
  beforeAll(() => {
    site = scratchDir("files");
    mkdirSync(join(site, "sub", "deep"), { recursive: true });
    writeFileSync(join(site, "index.html"), "<h1>hello</h1>\n");
    writeFileSync(join(site, "sub", "style.CSS"), "body{}\n");
    writeFileSync(join(site, "sub", "deep", "empty.txt"), "");
    writeFileSync(join(site, "noext"), "x");
    big = Buffer.alloc(5 * 1024 * 1024 + 7);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    writeFileSync(join(site, "big.bin"), big);
    symlinkSync(join(site, "index.html"), join(site, "link.html"));
  });

  it("reads the folder with types by extension and strong ETags", () => {
    const files = readFolder(site);
    expect(files.map((f) => f.path)).toEqual(["/big.bin", "/index.html", "/link.html", "/noext", "/sub/deep/empty.txt", "/sub/style.CSS"]);
    expect(contentType("/a/b.CSS")).toBe("text/css; charset=utf-8");
    expect(contentType("/noext")).toBe("application/octet-stream");
    const index = files.find((f) => f.path === "/index.html")!;
    expect(index.etag).toBe(`"${createHash("sha256").update("<h1>hello</h1>\n").digest("hex").slice(0, 16)}"`);
    const blob = encodeFiles(files);
    expect(blob.files).toBe(6);
    expect(blob.contentBytes).toBe(big.length + 15 + 15 + 7 + 1);
  });

  it("refuses a missing folder by name", () => {
    expect(() => readFolder(join(site, "nope"))).toThrow(/--files .*nope: no such folder/);
  });

  it("the kernel sees every file in place, a 5 MB one included", async () => {
    const wasm = await buildAppWasm(KERNEL, site);
    let out = "";
    const r = await runWasm(wasm, { cmdline: "find=/sub/style.CSS", memory: 32 << 20, console: (s: string) => (out += s) });
    expect(r.exitCode, out).toBe(0);
    const lines = out.split("\n").filter((l) => l.startsWith("file "));
    const files = readFolder(site);
    expect(lines).toEqual(files.map((f) => `file ${f.path} ${f.data.length} ${f.type} ${f.etag} ${fnv(f.data)}`));
    expect(out).toMatch(/^files 6 blob \d+$/m);
    expect(out).toContain("find /sub/style.CSS 5");
  }, 300_000);

  it("without files the kernel sees none", async () => {
    const wasm = await buildAppWasm(KERNEL);
    let out = "";
    const r = await runWasm(wasm, { cmdline: "find=/index.html", console: (s: string) => (out += s) });
    expect(r.exitCode, out).toBe(0);
    expect(out).toContain("files 0 blob 0");
    expect(out).toContain("find /index.html -1");
  }, 300_000);
});
