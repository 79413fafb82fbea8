// No leaks under connection churn: 100,000 connections through one TCP stack
// (tests/kernels/tcp-churn) leave the kernel's heap, both stacks' buffer
// memory and linear memory where they were after the first 20,000 (by then
// the number of connections in TIME-WAIT has reached its steady state, and
// the tables sized for it have grown as far as they will).
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ROOT } from "../tools/paths.ts";

const run = promisify(execFile);

function snapshot(output: string, tag: string): Record<string, number> {
  const m = new RegExp(`^${tag} (.*)$`, "m").exec(output);
  if (!m) throw new Error(`no "${tag}" line in:\n${output.slice(-2000)}`);
  return Object.fromEntries([...m[1].matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1], Number(x[2])]));
}

async function churn(cmdline: string, mem: string) {
  // In a process of its own (`uniwasm node`): the kernel runs for a long
  // stretch without returning to the event loop, which the test worker's
  // own messages to the runner must not wait for.
  return run(process.execPath, [join(ROOT, "tools/cli.js"), "node", join(ROOT, "tests/kernels/tcp-churn"), "--mem", mem, "--append", cmdline], { encoding: "utf8", timeout: 590_000, maxBuffer: 16 << 20 })
    .then((x) => ({ exitCode: 0, output: x.stdout }), (e) => ({ exitCode: e.code ?? -1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` }));
}

describe("TCP connection churn", () => {
  it("keeps at most timeWaitMax connections in TIME-WAIT (60 s of it): the oldest end early, counted", async () => {
    const r = await churn("conns=4000 warm=1000 par=50 tw_ms=60000 twmax=256", "256M");
    expect(r.exitCode, r.output.slice(-2000)).toBe(0);
    const end = snapshot(r.output, "end");
    expect(end.conns).toBe(4000);
    // 256 lingering on each stack, plus the 50 connections open at a time on each side
    expect(end.peak_open).toBeLessThanOrEqual(2 * 256 + 2 * 50);
    expect(Number(/^tw_evicted=(\d+)$/m.exec(r.output)?.[1])).toBeGreaterThan(3000);
    expect(r.output).toContain("errors=0\nbad_answers=0\n");
    // What a connection in TIME-WAIT costs: a record of ~100 bytes in the stack's table (kept for
    // the next ones when they end), no TCB, socket or timer: the heap with them lingering
    // is within 64 bytes each of the heap once they are all over (a TCB each was ~2 KiB). The side
    // that closes first lingers: 256 records, the bound.
    const tw = snapshot(r.output, "lingering");
    const warm = snapshot(r.output, "warm");
    console.log(`TIME-WAIT: ${tw.tw} records in ${tw.tw_bytes} bytes; heap ${tw.heap_used} lingering, ${warm.heap_used} after`);
    expect(tw.tw).toBe(256);
    expect(tw.tw_bytes / tw.tw).toBeLessThanOrEqual(2 * 100);
    expect(tw.heap_used - warm.heap_used).toBeLessThanOrEqual(64 * tw.tw);
  }, 600_000);

  it("serves 100,000 connections with memory back to its value after the first 20,000", async () => {
    const r = await churn("conns=100000 warm=20000 par=50", "512M");
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
