// The network simulator: endpoints (a virtio-net model, a scripted host)
// attach to Ports; Links join two ports, each direction with latency,
// optional bandwidth and a queue limit, and impairments (loss, duplication,
// reordering, jitter, corruption); a learning Switch joins many links.
// Every delivery is an event on the shared EventQueue at a virtual time, so
// a kernel's wait() advances to the next frame. Randomness comes from a
// SplitMix64 per link direction, seeded from the network's seed and the
// link's creation order: a run replays exactly, and traffic on one link does
// not perturb the draws of another.
//
// Several machines can share one Network: give them one VirtualClock and one
// EventQueue (MachineOptions.clock / .events) and build the Network on those.

import type { Clock } from "../clock.ts";
import type { EventQueue } from "../events.ts";
import type { PcapWriter } from "../pcap.ts";
import { SplitMix64 } from "../prng.ts";

/** What drives the simulation: a Machine has both. */
export interface World {
  readonly events: EventQueue;
  readonly clock: Clock;
}

export interface NetworkOptions {
  /** Seed for every impairment draw. Default 1. */
  seed?: bigint;
}

export interface Impairments {
  /** One-way propagation delay. */
  latencyNs: bigint;
  /** Bits per second; frames are serialized one after another. Unset: infinitely fast. */
  bandwidthBps?: number;
  /** With a bandwidth: most frames waiting to be serialized; more are tail-dropped. Unset: unbounded. */
  queueLimit?: number;
  /** Probability a frame is lost. */
  loss: number;
  /** Probability a frame is delivered twice. */
  duplicate: number;
  /** Probability a frame is held back by `reorderDelayNs` (so later frames overtake it). */
  reorder: number;
  reorderDelayNs: bigint;
  /** Extra delay drawn uniformly from [0, jitterNs] for every frame (may reorder). */
  jitterNs: bigint;
  /** Probability one random bit of the frame is flipped (the corruption gets past the FCS). */
  corrupt: number;
}

export interface LinkOptions extends Partial<Omit<Impairments, "latencyNs" | "reorderDelayNs" | "jitterNs">> {
  latencyNs?: bigint | number;
  reorderDelayNs?: bigint | number;
  jitterNs?: bigint | number;
  /** Overrides for the direction from the first port to the second. */
  aToB?: LinkOptions;
  /** Overrides for the direction from the second port to the first. */
  bToA?: LinkOptions;
}

export interface DirectionStats {
  /** Frames offered to the link. */
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  /** Tail drops at the queue limit. */
  queueDrops: number;
  /** Frames offered while the link was partitioned (dropped). */
  partitioned: number;
  bytesDelivered: number;
}

export type Tap = (atNs: bigint, frame: Uint8Array) => void;

function tapOf(t: PcapWriter | Tap): Tap {
  return typeof t === "function" ? t : (at, f) => t.record(at, f);
}

/** An endpoint's attachment point. The endpoint calls send(); the network calls onReceive. */
export class Port {
  /** Set by the endpoint: a frame arrives (at the current virtual time). */
  onReceive?: (frame: Uint8Array) => void;
  /** The link direction frames sent here go into. */
  out?: LinkDirection;
  readonly stats = { sent: 0, received: 0, unconnected: 0 };
  private taps: { tap: Tap; tx: boolean; rx: boolean }[] = [];

  constructor(
    readonly network: Network,
    readonly name: string,
  ) {}

  /** Sends a frame into the network now (the bytes are copied). */
  send(frame: Uint8Array): void {
    const copy = frame.slice();
    this.stats.sent++;
    const now = this.network.now();
    for (const t of this.taps) if (t.tx) t.tap(now, copy);
    if (!this.out) {
      this.stats.unconnected++;
      return;
    }
    this.out.transmit(copy, now);
  }

  /** Called by the network when a frame arrives. */
  deliver(frame: Uint8Array, at: bigint): void {
    this.stats.received++;
    for (const t of this.taps) if (t.rx) t.tap(at, frame);
    this.onReceive?.(frame);
  }

  /** Copies every frame this port sends and/or receives into a pcap writer (or a callback). */
  tee(sink: PcapWriter | Tap, direction: "both" | "tx" | "rx" = "both"): void {
    this.taps.push({ tap: tapOf(sink), tx: direction !== "rx", rx: direction !== "tx" });
  }
}

/** One direction of a link. Its impairments can be changed at any time. */
export class LinkDirection {
  readonly stats: DirectionStats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, reordered: 0, corrupted: 0, queueDrops: 0, partitioned: 0, bytesDelivered: 0 };
  /** While set, every frame offered is dropped (a partition); frames already in flight still arrive. */
  down = false;
  private busyUntil = 0n;
  private backlog: bigint[] = []; // serialization end times of frames still queued
  readonly taps: Tap[] = [];

  constructor(
    readonly network: Network,
    readonly from: Port,
    readonly to: Port,
    public params: Impairments,
    private readonly rng: SplitMix64,
  ) {}

  /** Changes impairments from now on. */
  set(opts: LinkOptions): void {
    this.params = mergeImpairments(this.params, opts);
  }

  transmit(frame: Uint8Array, now: bigint): void {
    const p = this.params;
    this.stats.sent++;
    // the same draws for every frame, whatever the probabilities: changing one
    // impairment does not shift the others' random sequence
    const rLoss = this.rng.float();
    const rDup = this.rng.float();
    const rReorder = this.rng.float();
    const rCorrupt = this.rng.float();
    const rJitter = this.rng.float();
    const rBit = this.rng.next();
    if (this.down) {
      this.stats.partitioned++;
      return;
    }
    if (rLoss < p.loss) {
      this.stats.lost++;
      return;
    }
    let ready = now;
    if (p.bandwidthBps && p.bandwidthBps > 0) {
      while (this.backlog.length && this.backlog[0] <= now) this.backlog.shift();
      if (p.queueLimit !== undefined && this.backlog.length >= p.queueLimit) {
        this.stats.queueDrops++;
        return;
      }
      const start = this.busyUntil > now ? this.busyUntil : now;
      const ser = BigInt(Math.ceil((frame.length * 8 * 1e9) / p.bandwidthBps));
      this.busyUntil = start + ser;
      this.backlog.push(this.busyUntil);
      ready = this.busyUntil;
    }
    let at = ready + p.latencyNs;
    if (p.jitterNs > 0n) at += BigInt(Math.floor(rJitter * (Number(p.jitterNs) + 1)));
    if (rReorder < p.reorder) {
      at += p.reorderDelayNs;
      this.stats.reordered++;
    }
    let out = frame;
    if (rCorrupt < p.corrupt && frame.length > 0) {
      out = frame.slice();
      const bit = Number(rBit % BigInt(frame.length * 8));
      out[bit >> 3] ^= 1 << (bit & 7);
      this.stats.corrupted++;
    }
    this.network.events.schedule(at, () => this.arrive(out, at));
    if (rDup < p.duplicate) {
      this.stats.duplicated++;
      const copy = out.slice();
      this.network.events.schedule(at, () => this.arrive(copy, at));
    }
  }

  private arrive(frame: Uint8Array, at: bigint): void {
    this.stats.delivered++;
    this.stats.bytesDelivered += frame.length;
    for (const t of this.taps) t(at, frame);
    this.to.deliver(frame, at);
  }
}

/** A full-duplex link between two ports. */
export class Link {
  constructor(
    readonly a: Port,
    readonly b: Port,
    /** Frames from a to b. */
    readonly aToB: LinkDirection,
    /** Frames from b to a. */
    readonly bToA: LinkDirection,
  ) {}

  /** Changes impairments of both directions (aToB/bToA inside `opts` for one). */
  set(opts: LinkOptions): void {
    const { aToB, bToA, ...both } = opts;
    this.aToB.set({ ...both, ...aToB });
    this.bToA.set({ ...both, ...bToA });
  }

  /**
   * Cuts the link both ways from virtual time `startNs` until `healNs`
   * (never, if omitted): frames sent meanwhile are dropped and counted as
   * `partitioned`; frames already on the wire still arrive.
   */
  partition(startNs: bigint | number, healNs?: bigint | number): void {
    const start = BigInt(startNs);
    const net = this.aToB.network;
    if (start < 0n) throw new Error("partition: the start must not be negative");
    if (healNs !== undefined && BigInt(healNs) <= start) throw new Error(`partition: heals at ${healNs} ns, not after it starts at ${start} ns`);
    const now = net.now();
    net.events.schedule(start > now ? start : now, () => this.setDown(true));
    if (healNs !== undefined) net.events.schedule(BigInt(healNs) > now ? BigInt(healNs) : now, () => this.setDown(false));
  }

  private setDown(down: boolean): void {
    this.aToB.down = down;
    this.bToA.down = down;
  }

  /** Records every frame the link delivers, both directions, as it arrives (after impairments). */
  tee(sink: PcapWriter | Tap): void {
    const t = tapOf(sink);
    this.aToB.taps.push(t);
    this.bToA.taps.push(t);
  }
}

/** A learning Ethernet switch: floods broadcast, multicast and unknown destinations. */
export class Switch {
  private table = new Map<string, Port>();
  readonly ports: Port[] = [];
  readonly stats = { forwarded: 0, flooded: 0, filtered: 0 };

  constructor(
    readonly network: Network,
    readonly name: string,
  ) {}

  /** A new switch port, to connect() to an endpoint's port. */
  port(name = `${this.name}.${this.ports.length}`): Port {
    const p = this.network.port(name);
    p.onReceive = (frame) => this.ingress(p, frame);
    this.ports.push(p);
    return p;
  }

  private ingress(from: Port, frame: Uint8Array): void {
    if (frame.length < 14) {
      this.stats.filtered++;
      return;
    }
    const src = frame.subarray(6, 12);
    if (!(src[0] & 1)) this.table.set(macKey(src), from);
    const dst = frame.subarray(0, 6);
    const known = dst[0] & 1 ? undefined : this.table.get(macKey(dst));
    if (known === from) {
      this.stats.filtered++;
      return;
    }
    if (known) {
      this.stats.forwarded++;
      known.send(frame);
      return;
    }
    this.stats.flooded++;
    for (const p of this.ports) if (p !== from) p.send(frame);
  }

  /** Which switch port a MAC address was learned on. */
  lookup(mac: Uint8Array): Port | undefined {
    return this.table.get(macKey(mac));
  }
}

function macKey(m: Uint8Array): string {
  return Array.from(m, (b) => b.toString(16).padStart(2, "0")).join(":");
}

const DEFAULTS: Impairments = {
  latencyNs: 0n,
  loss: 0,
  duplicate: 0,
  reorder: 0,
  reorderDelayNs: 1_000_000n,
  jitterNs: 0n,
  corrupt: 0,
};

function mergeImpairments(base: Impairments, o: LinkOptions): Impairments {
  const r: Impairments = { ...base };
  if (o.latencyNs !== undefined) r.latencyNs = BigInt(o.latencyNs);
  if (o.reorderDelayNs !== undefined) r.reorderDelayNs = BigInt(o.reorderDelayNs);
  if (o.jitterNs !== undefined) r.jitterNs = BigInt(o.jitterNs);
  for (const k of ["bandwidthBps", "queueLimit", "loss", "duplicate", "reorder", "corrupt"] as const) {
    if (k in o) (r as any)[k] = o[k];
  }
  for (const k of ["loss", "duplicate", "reorder", "corrupt"] as const) {
    if (!(r[k] >= 0 && r[k] <= 1)) throw new Error(`link ${k} ${r[k]}: a probability in [0, 1]`);
  }
  if (r.latencyNs < 0n || r.jitterNs < 0n || r.reorderDelayNs < 0n) throw new Error("link delays must not be negative");
  // without serialization no frame ever waits, so a queue limit would silently do nothing
  if (r.queueLimit !== undefined && !(r.bandwidthBps! > 0)) throw new Error(`link queueLimit ${r.queueLimit} without a bandwidthBps: frames wait in the queue only while the link serializes others`);
  return r;
}

export class Network {
  readonly events: EventQueue;
  readonly clock: Clock;
  readonly seed: bigint;
  readonly ports: Port[] = [];
  readonly links: Link[] = [];
  private streams = 0;

  /** `world`: whose clock and event queue drive delivery — a Machine, or the shared pair of several. */
  constructor(world: World, opts: NetworkOptions = {}) {
    this.events = world.events;
    this.clock = world.clock;
    this.seed = opts.seed ?? 1n;
  }

  now(): bigint {
    return this.clock.peek(); // the platform reading time: never a kernel read
  }

  /** A fresh, unconnected port. */
  port(name: string): Port {
    const p = new Port(this, name);
    this.ports.push(p);
    return p;
  }

  /** Joins two ports with a full-duplex link. A port takes one link. */
  connect(a: Port, b: Port, opts: LinkOptions = {}): Link {
    if (a.out || b.out) throw new Error(`connect: port ${a.out ? a.name : b.name} is already connected`);
    if (a === b) throw new Error("connect: a port cannot be linked to itself");
    const { aToB, bToA, ...both } = opts;
    const base = mergeImpairments(DEFAULTS, both);
    const ab = new LinkDirection(this, a, b, mergeImpairments(base, aToB ?? {}), this.stream());
    const ba = new LinkDirection(this, b, a, mergeImpairments(base, bToA ?? {}), this.stream());
    a.out = ab;
    b.out = ba;
    const link = new Link(a, b, ab, ba);
    this.links.push(link);
    return link;
  }

  /** A learning switch; connect endpoints to `sw.port()`. */
  switch(name = "switch"): Switch {
    return new Switch(this, name);
  }

  /** An independent random stream, derived from the seed and the creation order. */
  stream(): SplitMix64 {
    const mix = new SplitMix64(this.seed ^ BigInt.asUintN(64, BigInt(++this.streams) * 0x9e3779b97f4a7c15n));
    return new SplitMix64(mix.next());
  }

  /**
   * Runs simulated events up to virtual time `t` (inclusive) and moves the
   * clock there — for tests and tools that drive the world without a kernel
   * (a running kernel's wait() does the same). Returns the events run.
   */
  runUntil(t: bigint): number {
    let n = 0;
    for (;;) {
      const next = this.events.peek();
      if (next === undefined || next > t) break;
      const e = this.events.pop()!;
      this.clock.sleepUntil(e.at);
      e.run();
      n++;
    }
    this.clock.sleepUntil(t);
    return n;
  }

  /** Runs events for `ns` of virtual time from now. */
  runFor(ns: bigint | number): number {
    return this.runUntil(this.now() + BigInt(ns));
  }

  /** Runs until no event is left (at most `limit` events, against runaway loops). */
  runAll(limit = 1_000_000): number {
    let n = 0;
    while (this.events.size > 0 && n < limit) {
      const e = this.events.pop()!;
      this.clock.sleepUntil(e.at);
      e.run();
      n++;
    }
    return n;
  }
}
