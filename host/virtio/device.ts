// What every virtio device model shares, whatever the transport: device status
// and feature negotiation (virtio 1.2, 2.1 and 2.2, 3.1), the virtqueues,
// interrupts (used-buffer and configuration-change notifications), device
// errors (DEVICE_NEEDS_RESET), warnings about driver misbehaviour, and fault
// injection. Device types (net.ts, rng.ts) extend VirtioDevice; a transport
// (mmio.ts) maps registers onto it.

import type { Machine } from "../machine.ts";
import { VirtQueue, type QueueOwner } from "./queue.ts";

// Device status bits (2.1).
export const STATUS_ACKNOWLEDGE = 1;
export const STATUS_DRIVER = 2;
export const STATUS_DRIVER_OK = 4;
export const STATUS_FEATURES_OK = 8;
export const STATUS_DEVICE_NEEDS_RESET = 64;
export const STATUS_FAILED = 128;

// Reserved (transport / ring) feature bits (6).
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;
export const VIRTIO_F_ACCESS_PLATFORM = 33;
export const VIRTIO_F_RING_PACKED = 34;
export const VIRTIO_F_IN_ORDER = 35;
export const VIRTIO_F_NOTIFICATION_DATA = 38;

/** `1n << BigInt(bit)` for each bit. */
export function bits(...list: number[]): bigint {
  return list.reduce((m, b) => m | (1n << BigInt(b)), 0n);
}

// Interrupt status bits (4.2.2: InterruptStatus).
export const INT_USED_BUFFER = 1;
export const INT_CONFIG_CHANGE = 2;

/**
 * Faults a test can arm at any time to see how the driver copes. One-shot
 * faults clear themselves once applied; the others hold while set.
 */
export interface VirtioInject {
  /** One-shot: the next used element carries a descriptor id >= the queue size (id + size). */
  usedIdOutOfRange?: boolean;
  /** One-shot: the next used element's len is one more than its chain's writable capacity. */
  usedLenTooLarge?: boolean;
  /** Restricts the one-shot used-element faults to this queue index (default: any queue). */
  queue?: number;
  /** While set: InterruptStatus is still updated, but the interrupt line is not raised. */
  dropInterrupts?: boolean;
  /** While set (0..1): each interrupt is dropped like that with this probability (drawn from the machine's seeded generator). */
  dropInterruptRate?: number;
  /** While set: the line is raised this many ns after InterruptStatus is updated (a late interrupt). */
  delayInterruptsNs?: bigint;
  /** One-shot: the device hits an internal error at its next queue work and sets DEVICE_NEEDS_RESET. */
  deviceError?: boolean;
  /** The next N device-config reads each bump ConfigGeneration first (a config change racing the reads). */
  configChurn?: number;
  /**
   * While set (0..1): each QueueNotify is lost with this probability (drawn
   * from the machine's seeded generator), the device never hearing of it:
   * what a hypervisor that drops the driver's barriers brings about, the
   * driver reading a stale avail_event and skipping the notification while
   * the device reads a stale avail.idx and sleeps.
   */
  loseNotifyRate?: number;
  /** Restricts loseNotifyRate to this queue index (default: any queue). */
  loseNotifyQueue?: number;
}

export interface VirtioStats {
  /** Interrupts raised on the line. */
  interrupts: number;
  /** Interrupts swallowed by inject.dropInterrupts or dropInterruptRate. */
  interruptsDropped: number;
  /** Interrupts raised late by inject.delayInterruptsNs. */
  interruptsDelayed: number;
  /** QueueNotify writes lost to inject.loseNotifyRate. */
  notifiesLost: number;
  /** Device resets (Status written 0). */
  resets: number;
  /** FEATURES_OK writes the device refused (left FEATURES_OK clear). */
  featureRefusals: number;
  /** Times the device entered DEVICE_NEEDS_RESET. */
  needsReset: number;
  /** Driver errors found in descriptor chains or rings (each also a needsReset). */
  badChains: number;
  /** QueueNotify writes the device ignored (before DRIVER_OK, unknown queue, device broken). */
  ignoredNotifies: number;
  /** Warnings logged (the list keeps the first 1000). */
  warnings: number;
}

export interface VirtioDeviceOptions {
  /** Features offered; each device type has its own default. */
  features?: bigint;
  /**
   * Feature combinations the device refuses at FEATURES_OK: a list of masks
   * (refused when the driver accepted every bit of one), or a function
   * returning why it refuses the accepted set (undefined = accept).
   */
  refuse?: bigint[] | ((accepted: bigint) => string | undefined);
  /** QueueNumMax of every queue (a power of 2). Default 256. */
  queueSize?: number;
  /** Virtual time between a QueueNotify and the device processing the queue. Default 0: the next wait(). */
  latencyNs?: bigint;
}

const MAX_WARNINGS = 1000;

export abstract class VirtioDevice implements QueueOwner {
  abstract readonly deviceId: number;
  /** Human-readable name for warnings. */
  abstract readonly name: string;
  readonly queues: VirtQueue[];
  readonly offered: bigint;
  /** What the driver last wrote to DriverFeatures (both words). */
  driverFeatures = 0n;
  /** Features in effect: the driver's set once FEATURES_OK was accepted, else 0. */
  negotiated = 0n;
  status = 0;
  interruptStatus = 0;
  configGeneration = 0;
  /** Interrupt line, set by the transport when attached (-1: none). */
  line = -1;
  inject: VirtioInject = {};
  /** Device-side warnings: driver misbehaviour the device noticed and survived. */
  readonly warnings: string[] = [];
  readonly stats: VirtioStats = {
    interrupts: 0,
    interruptsDropped: 0,
    interruptsDelayed: 0,
    notifiesLost: 0,
    resets: 0,
    featureRefusals: 0,
    needsReset: 0,
    badChains: 0,
    ignoredNotifies: 0,
    warnings: 0,
  };
  /** Run on every device reset (transports reset their own registers here). */
  readonly resetHooks: (() => void)[] = [];
  /** Why the device last entered DEVICE_NEEDS_RESET. */
  failure?: string;
  protected readonly latencyNs: bigint;
  private readonly refuse?: VirtioDeviceOptions["refuse"];
  /** Bumped by reset: work scheduled before a reset is dropped. */
  private epoch = 0;
  private scheduled = new Set<number>();

  constructor(
    readonly machine: Machine,
    defaults: { features: bigint; queues: number },
    opts: VirtioDeviceOptions = {},
  ) {
    this.offered = opts.features ?? defaults.features;
    this.refuse = opts.refuse;
    this.latencyNs = opts.latencyNs ?? 0n;
    const size = opts.queueSize ?? 256;
    this.queues = Array.from({ length: defaults.queues }, (_, i) => new VirtQueue(this, i, size));
  }

  // ---- to be provided by device types ---------------------------------------

  /** The device-specific configuration space as it is now. */
  protected abstract config(): Uint8Array;
  /** Processes what the driver made available on queue `q` (after DRIVER_OK). */
  protected abstract process(q: VirtQueue): void;
  /** Device-type rules for an accepted feature set (undefined = fine). */
  protected validateFeatures(_accepted: bigint): string | undefined {
    return undefined;
  }
  /** Device-type state back to its reset values. */
  protected onReset(): void {}
  /** The driver has just set DRIVER_OK. */
  protected onDriverOk(): void {}

  // ---- state ---------------------------------------------------------------

  ram(): Uint8Array {
    return this.machine.ram;
  }

  has(bit: number): boolean {
    return (this.negotiated & (1n << BigInt(bit))) !== 0n;
  }
  get eventIdx(): boolean {
    return this.has(VIRTIO_F_EVENT_IDX);
  }
  get indirect(): boolean {
    return this.has(VIRTIO_F_INDIRECT_DESC);
  }
  /** DRIVER_OK set, and the device is not in DEVICE_NEEDS_RESET. */
  get live(): boolean {
    return (this.status & STATUS_DRIVER_OK) !== 0 && (this.status & STATUS_DEVICE_NEEDS_RESET) === 0 && (this.status & STATUS_FAILED) === 0;
  }
  get needsReset(): boolean {
    return (this.status & STATUS_DEVICE_NEEDS_RESET) !== 0;
  }

  warn(message: string): void {
    this.stats.warnings++;
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(`${this.name}: ${message}`);
  }

  /**
   * A device error: DEVICE_NEEDS_RESET, a configuration-change notification
   * (4.2.3.4 / 2.1.2), and no more queue work until the driver resets.
   */
  fail(reason: string, ringError = false): void {
    if (this.needsReset) return;
    if (ringError) this.stats.badChains++;
    this.failure = reason;
    this.warn(`DEVICE_NEEDS_RESET: ${reason}`);
    this.stats.needsReset++;
    this.status |= STATUS_DEVICE_NEEDS_RESET;
    if (this.status & STATUS_DRIVER_OK) this.interrupt(INT_CONFIG_CHANGE);
  }

  takeUsedFault(q: number): { idOutOfRange: boolean; lenTooLarge: boolean } {
    const inj = this.inject;
    if (inj.queue !== undefined && inj.queue !== q) return { idOutOfRange: false, lenTooLarge: false };
    const r = { idOutOfRange: !!inj.usedIdOutOfRange, lenTooLarge: !!inj.usedLenTooLarge };
    inj.usedIdOutOfRange = false;
    inj.usedLenTooLarge = false;
    return r;
  }

  // ---- interrupts ----------------------------------------------------------

  /** Sets `bits` in InterruptStatus and raises the line (unless an injected fault drops or delays it). */
  interrupt(bits: number): void {
    this.interruptStatus |= bits;
    const inj = this.inject;
    if (inj.dropInterrupts || (inj.dropInterruptRate && this.machine.rng.float() < inj.dropInterruptRate)) {
      this.stats.interruptsDropped++;
      return;
    }
    this.stats.interrupts++;
    if (this.line < 0) return;
    const line = this.line;
    if (inj.delayInterruptsNs && inj.delayInterruptsNs > 0n) {
      this.stats.interruptsDelayed++;
      this.machine.events.schedule(this.machine.clock.peek() + inj.delayInterruptsNs, () => this.machine.raise(line));
    } else this.machine.raise(line);
  }

  /** After publishing used elements on `q`: notifies the driver if it asked to be. */
  usedBuffersPublished(q: VirtQueue): void {
    if (q.needsNotification()) this.interrupt(INT_USED_BUFFER);
  }

  /** The device configuration changed (link status, say): new generation, and a notification after DRIVER_OK. */
  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    if (this.status & STATUS_DRIVER_OK) this.interrupt(INT_CONFIG_CHANGE);
  }

  // ---- driver-facing operations (called by the transport) -------------------

  /** The driver acknowledges interrupt causes. */
  ack(bits: number): void {
    this.interruptStatus &= ~bits;
  }

  /** Reads `width` bytes of device configuration at `offset`; undefined when out of range. */
  readConfig(offset: number, width: number): bigint | undefined {
    const cfg = this.config();
    if (offset + width > cfg.length) return undefined;
    if (this.inject.configChurn && this.inject.configChurn > 0) {
      this.inject.configChurn--;
      this.configGeneration = (this.configGeneration + 1) >>> 0;
    }
    let v = 0n;
    for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(cfg[offset + i]);
    return v;
  }

  /** Writes device configuration; the default config space is read-only. */
  writeConfig(offset: number, width: number, value: bigint): void {
    this.warn(`driver wrote 0x${value.toString(16)} to read-only device configuration at +0x${offset.toString(16)} (width ${width}): ignored`);
  }

  /** Driver writes the Status register. */
  writeStatus(value: number): void {
    value &= 0xff;
    if (value === 0) {
      this.reset();
      return;
    }
    const old = this.status;
    const cleared = old & ~value & ~STATUS_DEVICE_NEEDS_RESET;
    if (cleared) this.warn(`driver cleared status bits 0x${cleared.toString(16)} without a reset (2.1.1: it must not)`);
    // DEVICE_NEEDS_RESET is the device's: the driver cannot set or clear it
    let next = (value & ~STATUS_DEVICE_NEEDS_RESET) | (old & STATUS_DEVICE_NEEDS_RESET);
    if (value & STATUS_DEVICE_NEEDS_RESET && !(old & STATUS_DEVICE_NEEDS_RESET)) this.warn("driver set DEVICE_NEEDS_RESET: ignored");
    if (next & STATUS_DRIVER && !(next & STATUS_ACKNOWLEDGE)) this.warn("DRIVER set without ACKNOWLEDGE (3.1.1 order: ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK)");
    if (next & STATUS_FEATURES_OK && !(old & STATUS_FEATURES_OK)) {
      if (!(next & STATUS_DRIVER)) this.warn("FEATURES_OK set before DRIVER");
      const why = this.checkFeatures(this.driverFeatures);
      if (why) {
        this.stats.featureRefusals++;
        this.warn(`FEATURES_OK refused: ${why}`);
        next &= ~STATUS_FEATURES_OK;
      } else {
        this.negotiated = this.driverFeatures;
      }
    }
    const driverOkNow = next & STATUS_DRIVER_OK && !(old & STATUS_DRIVER_OK);
    if (driverOkNow && !(next & STATUS_FEATURES_OK)) {
      this.warn("DRIVER_OK set without FEATURES_OK: the device stays inactive");
      next &= ~STATUS_DRIVER_OK;
    }
    this.status = next;
    if (driverOkNow && next & STATUS_DRIVER_OK) this.onDriverOk();
  }

  private checkFeatures(accepted: bigint): string | undefined {
    const extra = accepted & ~this.offered;
    if (extra) return `the driver accepted features the device does not offer: ${featureList(extra)}`;
    if (!(accepted & (1n << BigInt(VIRTIO_F_VERSION_1)))) return "the driver did not accept VIRTIO_F_VERSION_1 (this is a modern-only device)";
    const r = this.refuse;
    if (Array.isArray(r)) {
      for (const m of r) if ((accepted & m) === m) return `configured to refuse the combination ${featureList(m)}`;
    } else if (r) {
      const why = r(accepted);
      if (why) return why;
    }
    return this.validateFeatures(accepted);
  }

  /** Driver writes DriverFeatures word `sel`. */
  writeDriverFeatures(sel: number, value: number): void {
    if (this.status & STATUS_FEATURES_OK) {
      this.warn("DriverFeatures written after FEATURES_OK: ignored");
      return;
    }
    if (sel > 1) {
      if (value !== 0) this.warn(`DriverFeatures word ${sel} = 0x${(value >>> 0).toString(16)}: no such features, ignored`);
      return;
    }
    const shift = BigInt(32 * sel);
    this.driverFeatures = (this.driverFeatures & ~(0xffff_ffffn << shift)) | (BigInt(value >>> 0) << shift);
  }

  /** DeviceFeatures word `sel`. */
  deviceFeatures(sel: number): number {
    if (sel > 1) return 0;
    return Number((this.offered >> BigInt(32 * sel)) & 0xffff_ffffn);
  }

  /** Device reset: everything back to its initial state (Status reads 0 at once). */
  reset(): void {
    this.epoch++;
    this.scheduled.clear();
    this.status = 0;
    this.interruptStatus = 0;
    this.driverFeatures = 0n;
    this.negotiated = 0n;
    this.failure = undefined;
    for (const q of this.queues) q.reset();
    this.stats.resets++;
    for (const h of this.resetHooks) h();
    this.onReset();
  }

  /** Driver writes QueueNotify for queue `index`: the queue is processed after `latencyNs`. */
  notify(index: number): void {
    const q = this.queues[index];
    if (!q) {
      this.stats.ignoredNotifies++;
      this.warn(`QueueNotify for queue ${index}, which does not exist`);
      return;
    }
    q.stats.kicks++;
    if (!(this.status & STATUS_DRIVER_OK)) {
      this.stats.ignoredNotifies++;
      this.warn(`QueueNotify for queue ${index} before DRIVER_OK (3.1.1: the driver must not notify before DRIVER_OK)`);
      return;
    }
    if (!q.ready) {
      this.stats.ignoredNotifies++;
      this.warn(`QueueNotify for queue ${index}, which is not ready`);
      return;
    }
    if (!this.live) {
      this.stats.ignoredNotifies++;
      return;
    }
    const inj = this.inject;
    if (inj.loseNotifyRate && (inj.loseNotifyQueue === undefined || inj.loseNotifyQueue === index) && this.machine.rng.float() < inj.loseNotifyRate) {
      this.stats.notifiesLost++;
      return;
    }
    if (q.pending() === 0) q.stats.emptyKicks++;
    this.schedule(index);
  }

  /** Processes queue `index` at now + latencyNs, once, unless a reset comes first. */
  protected schedule(index: number): void {
    if (this.scheduled.has(index)) return;
    this.scheduled.add(index);
    const epoch = this.epoch;
    this.machine.events.schedule(this.machine.clock.peek() + this.latencyNs, () => {
      if (epoch !== this.epoch) return;
      this.scheduled.delete(index);
      this.runQueue(index);
    });
  }

  /** Runs queue work now, if the device is live (tests call this through schedule). */
  protected runQueue(index: number): void {
    if (!this.live) return;
    if (this.inject.deviceError) {
      this.inject.deviceError = false;
      this.fail("injected device error");
      return;
    }
    const q = this.queues[index];
    if (!q.usable()) return;
    this.process(q);
  }
}

const FEATURE_NAMES: Record<number, string> = {
  [VIRTIO_F_INDIRECT_DESC]: "INDIRECT_DESC",
  [VIRTIO_F_EVENT_IDX]: "EVENT_IDX",
  [VIRTIO_F_VERSION_1]: "VERSION_1",
  [VIRTIO_F_ACCESS_PLATFORM]: "ACCESS_PLATFORM",
  [VIRTIO_F_RING_PACKED]: "RING_PACKED",
  [VIRTIO_F_IN_ORDER]: "IN_ORDER",
  [VIRTIO_F_NOTIFICATION_DATA]: "NOTIFICATION_DATA",
};

export function featureList(mask: bigint): string {
  const out: string[] = [];
  for (let b = 0; b < 64; b++) if (mask & (1n << BigInt(b))) out.push(FEATURE_NAMES[b] ? `${FEATURE_NAMES[b]}(${b})` : `bit ${b}`);
  return out.join(", ");
}
