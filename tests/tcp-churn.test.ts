// No leaks under connection churn: 100,000 connections through one TCP stack
// (tests/kernels/tcp-churn) leave the kernel's heap, both stacks' buffer
// memory and linear memory where they were after the first 20,000 (by then
// the number of connections in TIME-WAIT has reached its steady state, and
// the tables sized for it have grown as far as they will).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../tools/paths.ts";
import { buildAppWasm, runWasm } from "./helpers/kernel.ts";

function snapshot(output: string, tag: string): Record<string, number> {
  const m = new RegExp(`^${tag} (.*)$`, "m").exec(output);
  if (!m) throw new Error(`no "${tag}" line in:\n${output.slice(-2000)}`);
  return Object.fromEntries([...m[1].matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1], Number(x[2])]));
}

describe("TCP connection churn", () => {
  it("serves 100,000 connections with memory back to its value after the first 20,000", async () => {
    const wasm = await buildAppWasm(join(ROOT, "tests/kernels/tcp-churn"));
    const r = await runWasm(wasm, { cmdline: "conns=100000 warm=20000 par=50", memory: 512 << 20 });
    expect(r.exitCode, r.output.slice(-2000)).toBe(0);
    const warm = snapshot(r.output, "warm");
    const end = snapshot(r.output, "end");
    expect(warm.conns).toBe(20000);
    expect(end.conns).toBe(100000);
    for (const s of [warm, end]) {
      expect(s.valid).toBe(1);
      expect(s.open_client + s.open_server).toBe(0);
      expect(s.tcp_mem_client + s.tcp_mem_server).toBe(0);
    }
    expect(end.heap_used - warm.heap_used).toBeLessThanOrEqual(64 * 1024);
    expect(end.linear - warm.linear).toBeLessThanOrEqual(1 << 20);
    expect(r.output).toContain("errors=0\nbad_answers=0\n");
  }, 600_000);
});
