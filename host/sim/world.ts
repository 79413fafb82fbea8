// The simulated world, as a researcher drives it: nodes (each a machine
// running a kernel's simulation build with its own command line), links and
// switches between them with impairments, partitions on a schedule, pcap per
// link, counters per node, and the kernels' event trace as JSON lines.
//
// Underneath are the Node platform's parts (host/world.ts runs the kernels as
// coroutines on one virtual clock; host/netsim the network; host/virtio the
// NICs). Everything random is drawn from generators seeded from the world's
// seed in creation order, and events run in a fixed order, so a run is a
// pure function of the scenario and the seed: the same seed gives the same
// pcap bytes, console output and trace.

import { closeSync, openSync, writeSync } from "node:fs";
import { World as KernelWorld } from "../world.ts";
import { VirtualClock } from "../clock.ts";
import type { Machine, RunResult } from "../machine.ts";
import { Network, type Link, type LinkOptions, type DirectionStats, type Port, type Switch } from "../netsim/index.ts";
import { PcapWriter } from "../pcap.ts";
import { SplitMix64 } from "../prng.ts";
import { attachVirtioMmio } from "../virtio/attach.ts";
import { VirtioNet } from "../virtio/net.ts";
import type { SimKernel } from "./build.ts";
import { ConsoleCounters, type Counters, type CounterSource } from "./counters.ts";
import { traceEvent, type TraceEvent } from "./trace.ts";

const NS_PER_S = 1e9;
const NS_PER_MS = 1e6;

export interface WorldOptions {
  /** Seeds every random draw: link impairments and each machine's entropy. Default 1. */
  seed?: number | bigint;
  /**
   * Virtual nanoseconds every clock read by a kernel costs. 0 (the default)
   * makes computation free, which is right for network experiments; a cost
   * lets CPU-bound work take time (scheduling experiments), as a crude model
   * of a CPU.
   */
  clockReadNs?: number;
}

export interface NodeOptions {
  /** The kernel: buildSimKernel's result, or simulation-build wasm bytes. */
  kernel: SimKernel | Uint8Array;
  /** The kernel's command line (ip=..., the app's own arguments). */
  cmdline?: string;
  /** RAM for linear memory: bytes, or "64M"/"512K"/"1G". Default 64M. */
  memory?: number | string;
  /** Also receives the node's console output as it is written (it is always kept in `output`). */
  console?: (text: string) => void;
  /**
   * The node's NICs offer TCP segmentation offload (HOST_TSO4), as QEMU's
   * virtio-net does over a TAP device: the kernel sends 64 KiB segments, the
   * NIC cuts them into MSS-sized frames before they reach the link. Default false.
   */
  tso?: boolean;
}

/** A link's impairments, one direction or both. Times in milliseconds. */
export interface Impairments {
  /** One-way propagation delay. */
  delayMs?: number;
  /** Extra delay per frame, uniform in [0, jitterMs] (can reorder). */
  jitterMs?: number;
  /** Bits per second; frames are serialized one at a time. Default: unlimited. */
  bandwidth?: number;
  /** With a bandwidth: frames that may wait to be serialized; more are tail-dropped. */
  queue?: number;
  /** Probabilities in [0, 1]. */
  loss?: number;
  duplicate?: number;
  /** A reordered frame is held back reorderDelayMs (default 1), so later ones overtake it. */
  reorder?: number;
  reorderDelayMs?: number;
  /** One random bit of the frame flipped (past the Ethernet FCS, as a bad NIC or memory would). */
  corrupt?: number;
}

export interface Partition {
  /** Virtual second at which the link goes down (both ways). */
  start: number;
  /** Virtual second at which it comes back; omitted, never. */
  heal?: number;
}

export interface LinkSpec extends Impairments {
  /** Overrides for frames from the first endpoint to the second. */
  aToB?: Impairments;
  /** Overrides for frames from the second endpoint to the first. */
  bToA?: Impairments;
  partitions?: Partition[];
  /** A name for reports (default "<a>-<b>"). */
  name?: string;
}

export interface NodeReport {
  /** Undefined while the kernel is still running (the run stopped at `until`). */
  exitCode?: number;
  output: string;
  counters: Counters;
}

export interface LinkReport {
  name: string;
  aToB: DirectionStats;
  bToA: DirectionStats;
}

export interface RunReport {
  /** Virtual time at the end of the run, seconds. */
  seconds: number;
  /** Wall-clock milliseconds the run took. */
  wallMs: number;
  nodes: Record<string, NodeReport>;
  links: LinkReport[];
}

export interface RunOptions {
  /** Stop at this virtual second even if kernels are still running. */
  until?: number;
}

/** One machine of the world: a kernel with its NICs. */
export class SimNode {
  readonly nics: VirtioNet[] = [];
  /** Everything the kernel wrote to its console. */
  output = "";
  private readonly counterSource: ConsoleCounters = new ConsoleCounters();
  booted = false;

  constructor(
    readonly world: World,
    readonly name: string,
    readonly index: number,
    readonly machine: Machine,
    readonly kernel: Uint8Array,
    readonly tso = false,
  ) {}

  /**
   * The node's counters now: the kernel's counter tables read live
   * (Machine.kernelCounters, as "component.name": "tcp.retransSegments"),
   * over what its console printed (an app's own key=value results, see
   * counters.ts).
   */
  counters(): Counters {
    const out = this.counterSource.snapshot();
    for (const [component, values] of Object.entries(this.machine.kernelCounters() ?? {}))
      for (const [name, v] of Object.entries(values)) out[`${component}.${name}`] = v;
    return out;
  }

  /** What reads this node's counters. */
  get counterReader(): CounterSource {
    return this.counterSource;
  }

  /** The kernel's result once it has ended. */
  get result(): RunResult | undefined {
    return this.machine.result;
  }

  /** @internal: console output from the machine. */
  consoleWrite(text: string, echo?: (t: string) => void): void {
    this.output += text;
    this.counterSource.write(text);
    echo?.(text);
  }

  /** @internal: a new NIC for a link, attached before the kernel boots. */
  addNic(): VirtioNet {
    if (this.booted) throw new Error(`node ${this.name} is already running: give it its links before the first run`);
    const mac = `02:00:00:${hex(this.nics.length)}:${hex(this.index >> 8)}:${hex(this.index & 255)}`;
    const nic = new VirtioNet(this.machine, { mac, tso: this.tso });
    nic.connect(this.world.network.port(`${this.name}.eth${this.nics.length}`));
    attachVirtioMmio(this.machine, nic);
    this.nics.push(nic);
    return nic;
  }
}

/** A learning Ethernet switch. */
export class SimSwitch {
  constructor(
    readonly name: string,
    readonly sw: Switch,
  ) {}
}

/** A full-duplex link between two endpoints (nodes, switches or hosts). */
export class SimLink {
  private captures: { writer: PcapWriter; path?: string }[] = [];

  constructor(
    readonly world: World,
    readonly name: string,
    readonly link: Link,
  ) {}

  /** Changes the impairments from now on. */
  set(spec: Impairments & { aToB?: Impairments; bToA?: Impairments }): void {
    this.link.set(toLinkOptions(spec, this.name));
  }

  /** Cuts the link from virtual second `start` until `heal` (never, if omitted). */
  partition(start: number, heal?: number): void {
    this.link.partition(seconds(start, "partition start"), heal === undefined ? undefined : seconds(heal, "partition heal"));
  }

  /**
   * Captures what the link delivers (both directions, after impairments) as
   * pcap with virtual-time stamps; written to `path` at the end of every run
   * when given. Returns the writer (its bytes() at any time).
   */
  capture(path?: string): PcapWriter {
    const writer = new PcapWriter({ resolution: "ns" });
    this.link.tee(writer);
    this.captures.push({ writer, path });
    return writer;
  }

  get stats(): LinkReport {
    return { name: this.name, aToB: { ...this.link.aToB.stats }, bToA: { ...this.link.bToA.stats } };
  }

  /** @internal */
  saveCaptures(): void {
    for (const c of this.captures) if (c.path) c.writer.save(c.path);
  }
}

type Endpoint = SimNode | SimSwitch | { port: Port; name: string };

export class World {
  readonly seed: bigint;
  readonly kernels: KernelWorld;
  readonly network: Network;
  readonly nodes: SimNode[] = [];
  readonly links: SimLink[] = [];
  private readonly switches: SimSwitch[] = [];
  private readonly names = new Set<string>();
  private readonly seeds: SplitMix64;
  private traceSinks: ((e: TraceEvent) => void)[] = [];
  private traceFiles: TraceFile[] = [];

  constructor(opts: WorldOptions = {}) {
    const seed = opts.seed ?? 1;
    if (typeof seed === "number" && !(Number.isSafeInteger(seed) && seed >= 0)) throw new Error(`world seed ${seed}: a non-negative integer`);
    this.seed = BigInt(seed);
    const cost = opts.clockReadNs ?? 0;
    if (!(Number.isInteger(cost) && cost >= 0)) throw new Error(`clockReadNs ${cost}: a whole, non-negative number of nanoseconds`);
    this.kernels = new KernelWorld(new VirtualClock(BigInt(cost)));
    this.network = new Network(this.kernels, { seed: this.seed });
    this.seeds = new SplitMix64(this.seed ^ 0x5eed_5eed_5eed_5eedn);
  }

  /** Virtual time now, seconds. */
  get now(): number {
    return Number(this.kernels.clock.peek()) / NS_PER_S;
  }

  /** Adds a machine running `opts.kernel`; it boots at the first run. */
  node(name: string, opts: NodeOptions): SimNode {
    this.claim(name);
    const kernel = opts.kernel instanceof Uint8Array ? opts.kernel : opts.kernel?.wasm;
    if (!(kernel instanceof Uint8Array)) throw new Error(`node ${name}: kernel must be buildSimKernel()'s result or wasm bytes`);
    const echo = opts.console;
    let node: SimNode;
    const machine = this.kernels.machine({
      memory: memoryBytes(opts.memory ?? "64M", name),
      cmdline: opts.cmdline ?? "",
      seed: this.seeds.next(),
      console: (t) => node.consoleWrite(t, echo),
    });
    node = new SimNode(this, name, this.nodes.length + 1, machine, kernel, opts.tso ?? false);
    machine.trace = (kind, a, b, c, d) => this.emitTrace(node, kind, a, b, c, d);
    this.nodes.push(node);
    return node;
  }

  /** Adds a learning switch; link nodes to it. */
  switch(name: string): SimSwitch {
    this.claim(name);
    const s = new SimSwitch(name, this.network.switch(name));
    this.switches.push(s);
    return s;
  }

  /** Joins two endpoints with a link (each node gets a new NIC for it). */
  link(a: Endpoint, b: Endpoint, spec: LinkSpec = {}): SimLink {
    if (a === b) throw new Error(`link: ${a.name} cannot be linked to itself`);
    const { partitions, name, ...rest } = spec;
    const linkName = name ?? `${a.name}-${b.name}`;
    const opts = toLinkOptions(rest, linkName);
    for (const p of partitions ?? []) {
      seconds(p.start, "partition start");
      if (p.heal !== undefined && !(seconds(p.heal, "partition heal") > seconds(p.start, "partition start"))) {
        throw new Error(`link ${linkName}: partition heals at ${p.heal} s, not after it starts at ${p.start} s`);
      }
    }
    for (const [dir, own] of [["aToB", rest.aToB], ["bToA", rest.bToA]] as const) {
      const queue = own?.queue ?? rest.queue;
      if (queue !== undefined && !((own?.bandwidth ?? rest.bandwidth)! > 0)) throw new Error(`link ${linkName}: queue ${queue} (${dir}) without a bandwidth: frames wait in the queue only while the link serializes others`);
    }
    const link = new SimLink(this, linkName, this.network.connect(this.portOf(a), this.portOf(b), opts));
    for (const p of partitions ?? []) link.partition(p.start, p.heal);
    this.links.push(link);
    return link;
  }

  /** Runs `fn` at virtual second `t` (a change of impairments, say). */
  at(t: number, fn: () => void): void {
    this.kernels.events.schedule(seconds(t, "at"), fn);
  }

  /**
   * Sends the kernels' trace events (kernel/trace.ts) to `sink`: a file
   * (one JSON object per line, written as the run goes) or a function.
   */
  trace(sink: string | ((e: TraceEvent) => void)): void {
    if (typeof sink === "function") this.traceSinks.push(sink);
    else {
      const f = new TraceFile(sink);
      this.traceFiles.push(f);
      this.traceSinks.push((e) => f.write(e));
    }
  }

  /**
   * Boots the nodes not yet running and runs the world until every kernel
   * has ended or `until`. May be called again to go on from where it stopped.
   */
  async run(opts: RunOptions = {}): Promise<RunReport> {
    const t0 = performance.now();
    await this.bootAll();
    try {
      this.kernels.run({ until: opts.until === undefined ? undefined : seconds(opts.until, "until") });
    } finally {
      this.flush();
    }
    return this.report(performance.now() - t0);
  }

  /** @internal: boots every node not yet running (in the order they were added). */
  async bootAll(): Promise<void> {
    for (const n of this.nodes) {
      if (n.booted) continue;
      n.booted = true;
      await this.kernels.boot(n.machine, n.kernel);
    }
  }

  /** Writes captures and trace files as they stand. */
  flush(): void {
    for (const l of this.links) l.saveCaptures();
    for (const f of this.traceFiles) f.flush();
  }

  /** Closes the trace files (the world can still be inspected). */
  close(): void {
    this.flush();
    for (const f of this.traceFiles) f.close();
    this.traceFiles = [];
  }

  report(wallMs = 0): RunReport {
    const nodes: Record<string, NodeReport> = {};
    for (const n of this.nodes) nodes[n.name] = { exitCode: n.result?.exitCode, output: n.output, counters: n.counters() };
    return { seconds: this.now, wallMs, nodes, links: this.links.map((l) => l.stats) };
  }

  private emitTrace(node: SimNode, kind: number, a: number, b: number, c: number, d: number): void {
    if (this.traceSinks.length === 0) return;
    const e = traceEvent(this.kernels.clock.peek(), node.name, kind, [a, b, c, d]);
    for (const s of this.traceSinks) s(e);
  }

  private portOf(e: Endpoint): Port {
    if (e instanceof SimNode) {
      if (e.world !== this) throw new Error(`node ${e.name} belongs to another world`);
      return e.addNic().port!;
    }
    if (e instanceof SimSwitch) return e.sw.port();
    if (e && "port" in e) return e.port;
    throw new Error("link: an endpoint is a node, a switch or a host of this world");
  }

  private claim(name: string): void {
    if (typeof name !== "string" || !/^[\w.-]+$/.test(name)) throw new Error(`name ${JSON.stringify(name)}: letters, digits, ".", "-" and "_" only`);
    if (this.names.has(name)) throw new Error(`the world already has something named ${name}`);
    this.names.add(name);
  }
}

/** Trace lines, buffered and appended to a file. */
class TraceFile {
  private fd: number;
  private lines: string[] = [];
  constructor(readonly path: string) {
    this.fd = openSync(path, "w");
  }
  write(e: TraceEvent): void {
    this.lines.push(JSON.stringify(e));
    if (this.lines.length >= 4096) this.flush();
  }
  flush(): void {
    if (this.fd < 0 || this.lines.length === 0) return;
    writeSync(this.fd, this.lines.join("\n") + "\n");
    this.lines = [];
  }
  close(): void {
    this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

const IMPAIRMENT_KEYS = new Set(["delayMs", "jitterMs", "bandwidth", "queue", "loss", "duplicate", "reorder", "reorderDelayMs", "corrupt"]);

/** The sim API's units (ms, bit/s) in the network simulator's terms (ns), checked. */
export function toLinkOptions(spec: Impairments & { aToB?: Impairments; bToA?: Impairments }, label: string): LinkOptions {
  const one = (s: Impairments, where: string): LinkOptions => {
    const o: LinkOptions = {};
    for (const [k, v] of Object.entries(s)) {
      if (k === "aToB" || k === "bToA") continue;
      if (!IMPAIRMENT_KEYS.has(k)) throw new Error(`link ${where}: unknown impairment "${k}" (known: ${[...IMPAIRMENT_KEYS].join(", ")}, aToB, bToA, partitions)`);
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new Error(`link ${where}: ${k} ${v}: a non-negative number`);
    }
    if (s.delayMs !== undefined) o.latencyNs = BigInt(Math.round(s.delayMs * NS_PER_MS));
    if (s.jitterMs !== undefined) o.jitterNs = BigInt(Math.round(s.jitterMs * NS_PER_MS));
    if (s.reorderDelayMs !== undefined) o.reorderDelayNs = BigInt(Math.round(s.reorderDelayMs * NS_PER_MS));
    if (s.bandwidth !== undefined) o.bandwidthBps = s.bandwidth;
    if (s.queue !== undefined) {
      if (!Number.isInteger(s.queue)) throw new Error(`link ${where}: queue ${s.queue}: a whole number of frames`);
      o.queueLimit = s.queue;
    }
    for (const k of ["loss", "duplicate", "reorder", "corrupt"] as const) {
      const v = s[k];
      if (v === undefined) continue;
      if (v > 1) throw new Error(`link ${where}: ${k} ${v}: a probability in [0, 1]`);
      o[k] = v;
    }
    return o;
  };
  const o = one(spec, label);
  if (spec.aToB) o.aToB = one(spec.aToB, `${label} aToB`);
  if (spec.bToA) o.bToA = one(spec.bToA, `${label} bToA`);
  return o;
}

function seconds(t: number, what: string): bigint {
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0) throw new Error(`${what} ${t}: a non-negative number of virtual seconds`);
  return BigInt(Math.round(t * NS_PER_S));
}

export function memoryBytes(m: number | string, label: string): number {
  if (typeof m === "number") {
    if (!(Number.isSafeInteger(m) && m > 0)) throw new Error(`node ${label}: memory ${m}: a positive number of bytes`);
    return m;
  }
  const r = /^(\d+)([KMG]?)$/.exec(m);
  if (!r) throw new Error(`node ${label}: memory "${m}": bytes, or a number with K, M or G`);
  return Number(r[1]) * { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[r[2] as "" | "K" | "M" | "G"];
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
