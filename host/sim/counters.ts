// Counters of a node, as a flat object: "tcp.retransSegments", "ip.rx",
// "udp.drop_no_socket", and an app's own numeric `key=value` results.
//
// Two sources: the kernel's counter tables (kernel/counters.ts: TCP's and
// every network layer's), which a node reads live through
// Machine.kernelCounters (world.ts), and the console for an app's own
// numeric `key=value` results, of which a snapshot holds the latest value
// printed for each name.

export type Counters = Record<string, number>;

export interface CounterSource {
  /** The counters now (a copy: later changes do not show in it). */
  snapshot(): Counters;
}

/** `after - before` for every name in `after` (a name missing from `before` counts from 0). */
export function diffCounters(after: Counters, before: Counters): Counters {
  const d: Counters = {};
  for (const [k, v] of Object.entries(after)) d[k] = v - (before[k] ?? 0);
  return d;
}

/** Reads counters out of console text as it is written. */
export class ConsoleCounters implements CounterSource {
  private values: Counters = {};
  private partial = "";

  /** Feeds console output (any chunking). */
  write(text: string): void {
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop()!;
    for (const line of lines) this.line(line);
  }

  snapshot(): Counters {
    return { ...this.values };
  }

  private line(line: string): void {
    const proto = /^net (\w+):(.*)$/.exec(line);
    if (proto) {
      for (const m of proto[2].matchAll(/(\w+)=(\d+)/g)) this.values[`${proto[1]}.${m[1]}`] = Number(m[2]);
      return;
    }
    const kv = /^([A-Za-z_][\w.]*)=(-?\d+(?:\.\d+)?)$/.exec(line.trim());
    if (kv) this.values[kv[1]] = Number(kv[2]);
  }
}
