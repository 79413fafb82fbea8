// drivers/pci's bridge walk on the Node platform, over configuration spaces
// held in memory (tests/kernels/pci-walk): a tree of bridges is followed to
// every bus it names; bus numbers a device reports that would loop, lie
// outside the window the parent bridge decodes, or name a bus already walked
// are refused -- counted and printed, never followed. On QEMU the same walk
// runs over real bridges (tests/virtio-qemu.test.ts).
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../tools/paths.ts";
import { buildAppWasm, runWasm } from "./helpers/kernel.ts";

describe("PCI enumeration through bridges (drivers/pci)", () => {
  let wasm: Uint8Array;
  beforeAll(async () => {
    wasm = await buildAppWasm(join(ROOT, "tests/kernels/pci-walk"));
  }, 120_000);

  const walk = async (topology: string) => {
    const r = await runWasm(wasm, { cmdline: `topology=${topology}` });
    expect(r.exitCode, r.output).toBe(0);
    return { found: [...r.output.matchAll(/^found (\S+)$/gm)].map((m) => m[1]), refused: Number(/^refused (\d+)$/m.exec(r.output)![1]), output: r.output };
  };

  it("follows bridges below bridges to every bus they name", async () => {
    const r = await walk("tree");
    expect(r.found).toEqual(["00:00.0", "00:01.0", "01:00.0", "02:03.0", "00:02.0", "03:00.0"]);
    expect(r.refused).toBe(0);
  });

  it("refuses a bridge that names its own bus again (a loop), and skips an unprogrammed one", async () => {
    const r = await walk("loop");
    expect(r.found).toEqual(["00:00.0", "00:01.0", "01:02.0", "01:03.0", "01:04.0"]);
    expect(r.refused).toBe(1);
    expect(r.output).toContain("pci: bridge 01:03.0 names buses 1..1, not within 2..1 or seen already: not followed");
  });

  it("refuses buses outside the parent bridge's window, and a subordinate below the secondary", async () => {
    const r = await walk("nested");
    expect(r.found).toEqual(["00:00.0", "00:01.0", "01:00.0", "01:01.0"]);
    expect(r.refused).toBe(2);
    expect(r.output).toContain("pci: bridge 01:00.0 names buses 5..5, not within 2..2 or seen already: not followed");
  });

  it("walks a bus two bridges claim once", async () => {
    const r = await walk("twice");
    expect(r.found).toEqual(["00:00.0", "00:01.0", "01:00.0", "00:02.0"]);
    expect(r.refused).toBe(1);
  });

  it("refuses a bus beyond the configuration window (ECAM's bus count)", async () => {
    const r = await walk("window");
    expect(r.found).toEqual(["00:00.0", "00:01.0", "00:02.0", "03:00.0"]);
    expect(r.refused).toBe(1);
    expect(r.output).toContain("pci: bridge 00:01.0 names buses 200..200, not within 1..3 or seen already: not followed");
  });
});
