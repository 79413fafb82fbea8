// The kernel's trace events have one table on each side of hal.trace_event:
// kernel/trace.ts (the kinds the kernel emits) and host/sim/trace.ts (their
// names and argument names for the JSON lines). They must agree.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EVENTS, traceEvent } from "../host/sim/trace.ts";
import { ROOT } from "../tools/paths.ts";

describe("the kernel trace's event table", () => {
  const src = readFileSync(join(ROOT, "kernel/trace.ts"), "utf8");
  const kinds = [...src.matchAll(/\/\*\* (.*?) \*\/\nexport const (TRACE_\w+): u32 = (\d+);/g)].map((m) => ({ doc: m[1], name: m[2], kind: Number(m[3]) }));

  it("has the same kinds in the kernel and on the host", () => {
    expect(kinds.length).toBeGreaterThan(5);
    expect(kinds.map((k) => k.kind).sort((a, b) => a - b)).toEqual(Object.keys(EVENTS).map(Number).sort((a, b) => a - b));
  });

  it("documents each kind's arguments in the kernel as the host names them", () => {
    for (const k of kinds) {
      const fields = EVENTS[k.kind].fields;
      const used = fields.filter((f) => f !== null).length;
      // the kernel's comment lists "a: ..., b: ..." for every argument the host names
      expect(k.doc.match(/\b[abcd]: /g)?.length ?? 0, `${k.name}: ${k.doc}`).toBe(used);
    }
  });

  it("formats an event as a flat object: time, node, name, named arguments", () => {
    expect(traceEvent(5n, "n1", 7, [(80 << 16) | 40000, 1000, 1448, 1])).toEqual({ t: 5, node: "n1", event: "tcp.retransmit", conn: "80>40000", seq: 1000, len: 1448, inRecovery: 1 });
    expect(traceEvent(1n, "n", 2, [1, 14480, 0xffff_ffff, 0]).ssthresh).toBe("inf");
    expect(traceEvent(1n, "n", 99, [1, 2, 3, 4])).toEqual({ t: 1, node: "n", event: "kind99", a: 1, b: 2, c: 3, d: 4 });
  });
});
