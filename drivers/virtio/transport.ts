// A virtio transport: how a driver reaches one device's registers. The
// device-type drivers (net, rng) and the virtqueue code only see this class,
// so they run unchanged over modern virtio-pci and virtio-mmio.
import { mmio_read32, mmio_write32 } from "../../kernel/hal";

// Device status bits (virtio 1.2, 2.1).
export const STATUS_ACKNOWLEDGE: u32 = 1;
export const STATUS_DRIVER: u32 = 2;
export const STATUS_DRIVER_OK: u32 = 4;
export const STATUS_FEATURES_OK: u32 = 8;
export const STATUS_NEEDS_RESET: u32 = 64;
export const STATUS_FAILED: u32 = 128;

// Device-independent feature bits (6).
export const F_INDIRECT_DESC: u64 = 1 << 28;
export const F_EVENT_IDX: u64 = 1 << 29;
export const F_VERSION_1: u64 = 1 << 32;
export const F_ACCESS_PLATFORM: u64 = 1 << 33;
export const F_RING_PACKED: u64 = 1 << 34;

// Device ids (5).
export const DEVICE_NET: u32 = 1;
export const DEVICE_BLOCK: u32 = 2;
export const DEVICE_RNG: u32 = 4;

// ISR status bits.
export const ISR_QUEUE: u32 = 1;
export const ISR_CONFIG: u32 = 2;

export abstract class VirtioTransport {
  /** Virtio device id (1 net, 4 rng, ...). */
  deviceId: u32 = 0;
  /** Interrupt line for the HAL, or -1. */
  line: i32 = -1;

  /** "pci" or "mmio". */
  abstract kind(): string;
  /** Where the device is, for logs (allocates). */
  abstract location(): string;

  abstract getStatus(): u32;
  abstract setStatus(s: u32): void;
  /** Writes 0 to status and waits (bounded) for the device to read back 0. */
  abstract reset(): bool;

  /** All 64 feature bits the device offers. */
  abstract deviceFeatures(): u64;
  /** Writes the feature bits the driver accepts. */
  abstract setDriverFeatures(f: u64): void;

  /** Number of queues the device has, where the transport says (mmio: unknown, returns 0xffff). */
  abstract numQueues(): u32;
  /** Largest size of queue `q`, 0 if the queue does not exist. */
  abstract queueMax(q: u32): u32;
  /**
   * Gives queue `q` its size and the DMA addresses of its three areas, and
   * enables it. False if the transport refuses (the queue is already live).
   */
  abstract setupQueue(q: u32, size: u32, desc: u64, driver: u64, device: u64): bool;
  /** Tells the device that queue `q` has new available buffers. */
  abstract notify(q: u32): void;

  /** Reads and acknowledges the interrupt status (ISR_* bits). */
  abstract ackInterrupt(): u32;

  abstract configGeneration(): u32;
  abstract config8(off: u32): u32;
  abstract config16(off: u32): u32;
  abstract config32(off: u32): u32;
  /** Bytes of device-specific config space, as far as the transport knows. */
  abstract configSize(): u32;
}

/** Outcome of `negotiate`. */
export enum InitResult {
  Ok = 0,
  /** The device does not offer VIRTIO_F_VERSION_1 (a legacy-only device). */
  NoVersion1 = 1,
  /** The device cleared FEATURES_OK: it rejected the subset we accepted. */
  FeaturesRejected = 2,
  /** The device did not come back from reset. */
  ResetFailed = 3,
  /** A queue could not be set up (missing, too small, or out of memory). */
  QueueFailed = 4,
}

/**
 * Both transports expose 64-bit feature words as two 32-bit halves behind a
 * select register: write the half's index to `sel`, then access `val`.
 */
export function readFeatureWord(sel: u64, val: u64): u64 {
  mmio_write32(sel, 0);
  const lo = <u64>mmio_read32(val);
  mmio_write32(sel, 1);
  return (<u64>mmio_read32(val) << 32) | lo;
}

export function writeFeatureWord(sel: u64, val: u64, f: u64): void {
  mmio_write32(sel, 0);
  mmio_write32(val, <u32>f);
  mmio_write32(sel, 1);
  mmio_write32(val, <u32>(f >> 32));
}

export function initResultName(r: InitResult): string {
  switch (r) {
    case InitResult.Ok: return "ok";
    case InitResult.NoVersion1: return "device is legacy-only (no VIRTIO_F_VERSION_1)";
    case InitResult.FeaturesRejected: return "device rejected the negotiated features (FEATURES_OK not set)";
    case InitResult.ResetFailed: return "device did not complete reset";
    case InitResult.QueueFailed: return "virtqueue setup failed";
  }
  return "?";
}

/**
 * Steps 1-6 of the initialisation handshake (virtio 1.2, 3.1.1): reset,
 * ACKNOWLEDGE, DRIVER, feature negotiation, FEATURES_OK and its check. On
 * success the negotiated features are in `out[0]`; the caller sets up its
 * queues and then calls `finishInit`. On failure the device is left FAILED.
 */
export function negotiate(t: VirtioTransport, wanted: u64, out: StaticArray<u64>): InitResult {
  if (!t.reset()) {
    t.setStatus(STATUS_FAILED);
    return InitResult.ResetFailed;
  }
  t.setStatus(STATUS_ACKNOWLEDGE);
  t.setStatus(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
  const offered = t.deviceFeatures();
  if ((offered & F_VERSION_1) == 0) {
    t.setStatus(t.getStatus() | STATUS_FAILED);
    return InitResult.NoVersion1;
  }
  const accepted = offered & (wanted | F_VERSION_1);
  t.setDriverFeatures(accepted);
  t.setStatus(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
  if ((t.getStatus() & STATUS_FEATURES_OK) == 0) {
    t.setStatus(t.getStatus() | STATUS_FAILED);
    return InitResult.FeaturesRejected;
  }
  out[0] = accepted;
  return InitResult.Ok;
}

/** Step 8: the driver is live. */
export function finishInit(t: VirtioTransport): void {
  t.setStatus(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
}

/** Marks the device FAILED after a setup step went wrong. */
export function failInit(t: VirtioTransport): void {
  t.setStatus(t.getStatus() | STATUS_FAILED);
}

/** Names of the feature bits this driver stack knows, for logs (allocates). */
export function featureNames(deviceId: u32, f: u64): string {
  let s = "";
  for (let bit = 0; bit < 64; bit++) {
    if ((f & (<u64>1 << bit)) == 0) continue;
    let n = "";
    if (bit == 28) n = "INDIRECT_DESC";
    else if (bit == 29) n = "EVENT_IDX";
    else if (bit == 32) n = "VERSION_1";
    else if (bit == 33) n = "ACCESS_PLATFORM";
    else if (bit == 34) n = "RING_PACKED";
    else if (bit == 35) n = "IN_ORDER";
    else if (deviceId == DEVICE_NET) {
      if (bit == 0) n = "CSUM";
      else if (bit == 1) n = "GUEST_CSUM";
      else if (bit == 3) n = "MTU";
      else if (bit == 5) n = "MAC";
      else if (bit == 15) n = "MRG_RXBUF";
      else if (bit == 16) n = "STATUS";
      else if (bit == 17) n = "CTRL_VQ";
      else if (bit == 22) n = "MQ";
    }
    if (n.length == 0) n = "bit" + bit.toString();
    s += s.length ? " " + n : n;
  }
  return s;
}
