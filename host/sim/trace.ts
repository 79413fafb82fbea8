// The kernel's event trace, host side: hal.trace_event(kind, a, b, c, d)
// (kernel/trace.ts) becomes one JSON object per event, stamped with the
// virtual time and the node. The table below names each kind and its
// arguments; it mirrors kernel/trace.ts (tests/sim-trace.test.ts checks that
// the two agree).

export interface TraceEvent {
  /** Virtual time, nanoseconds. */
  t: number;
  node: string;
  event: string;
  [field: string]: number | string;
}

type Field = string | null; // null: the argument is unused

interface Kind {
  event: string;
  fields: [Field, Field, Field, Field];
}

const CWND: [Field, Field, Field, Field] = ["conn", "cwnd", "ssthresh", "flight"];

/** kind number (kernel/trace.ts TRACE_*) -> event name and argument names. */
export const EVENTS: Record<number, Kind> = {
  1: { event: "timer", fields: ["lateNs", "armed", null, null] },
  2: { event: "tcp.cwnd", fields: CWND },
  3: { event: "tcp.loss", fields: CWND },
  4: { event: "tcp.rto", fields: CWND },
  5: { event: "tcp.recovered", fields: CWND },
  6: { event: "tcp.idle", fields: CWND },
  7: { event: "tcp.retransmit", fields: ["conn", "seq", "len", "inRecovery"] },
  8: { event: "tcp.init", fields: CWND },
};

/** The trace event for one hal.trace_event call. */
export function traceEvent(t: bigint, node: string, kind: number, args: [number, number, number, number]): TraceEvent {
  const k = EVENTS[kind];
  const e: TraceEvent = { t: Number(t), node, event: k?.event ?? `kind${kind}` };
  const fields = k?.fields ?? ["a", "b", "c", "d"];
  for (let i = 0; i < 4; i++) {
    const f = fields[i];
    if (!f) continue;
    // a connection is local port << 16 | remote port: show it as "local>remote"
    e[f] = f === "conn" ? `${args[i] >>> 16}>${args[i] & 0xffff}` : args[i];
  }
  // the kernel saturates u32 values; ssthresh "infinite" reads better as such
  if (e.ssthresh === 0xffff_ffff) e.ssthresh = "inf";
  return e;
}
