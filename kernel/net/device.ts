// NetDevice: what the network stack sees of a NIC.
//
// Buffers are the kernel's packet buffers (kernel/mem/pktbuf.ts): a frame
// lives at `buf + PKT_HEADROOM`, and ownership of a buffer always belongs to
// exactly one party — the pool, the stack, or the device. The contract below
// says at each call who owns what afterwards; nothing on these paths copies a
// frame or allocates on the GC heap.

import { PacketPool } from "../mem/pktbuf";

/**
 * Received frames one interrupt (or one continuation of it) delivers at most.
 * What a frame sets off — IP, TCP, the app's callbacks — runs inside that
 * delivery, so the budget bounds how long the interrupt's task runs: the rest
 * waits for the task's next turn, after the other ready tasks have had theirs.
 */
export const NET_POLL_BUDGET: i32 = 16;

/** Result of `transmit`. Anything but `Ok` leaves the buffer with the caller. */
export enum TxResult {
  /** Queued: the device owns the buffer and returns it to the pool when sent. */
  Ok = 0,
  /** The transmit ring is full: try again after `poll`/an interrupt reclaims completions. */
  Full = 1,
  /** The link is down or the device is not running. */
  Down = 2,
  /** The frame is longer than `mtu + 14` or than a packet buffer holds, or empty. */
  BadLength = 3,
}

/** `caps` bits. */
export namespace NetCaps {
  /** The device completes a transmit checksum that `transmit` marks partial. Without it the driver computes it in software, so callers may mark partial checksums either way. */
  export const TX_CSUM: u32 = 1 << 0;
  /** The device validates receive checksums and reports it with `RxFlags.CSUM_VALID`. */
  export const RX_CSUM: u32 = 1 << 1;
  /**
   * TCP segmentation offload for IPv4 (virtio's HOST_TSO4): `transmitLarge`
   * takes one TCP/IPv4 frame of up to `largeMax` bytes, and the device cuts
   * it into segments of `mss` payload bytes, fixing each one's IP length,
   * identification (incrementing from the frame's) and checksums, and
   * putting PSH and FIN on the last segment only (as Linux's GSO does).
   */
  export const TSO4: u32 = 1 << 2;
}

/** Flags passed with a received frame. */
export namespace RxFlags {
  /** The device (or driver) verified the frame's transport checksum: the stack may skip it. */
  export const CSUM_VALID: u32 = 1 << 0;
}

/** Per-device counters; monotonically increasing. */
export class NetStats {
  txPackets: u64 = 0;
  txBytes: u64 = 0;
  /** `transmit` refused with Full. */
  txFull: u64 = 0;
  /** Transmit checksums computed in software because the device lacks offload. */
  txSwCsum: u64 = 0;
  /** Transmit notifications actually sent to the device (batching shows here). */
  txKicks: u64 = 0;
  /** Frames sent with `transmitLarge` (each also in txPackets): one descriptor chain for many segments. */
  txLarge: u64 = 0;
  /** `largeBuffer` calls that found every large buffer in flight. */
  txLargeBusy: u64 = 0;
  rxPackets: u64 = 0;
  rxBytes: u64 = 0;
  /** Received frames dropped: no receiver, malformed, or too large for one buffer. */
  rxDropped: u64 = 0;
  /** Receive-ring refills that found the packet pool empty. */
  rxNoBuffer: u64 = 0;
  /** Used-ring entries rejected (bad descriptor id, id not in flight, length too large). */
  badCompletions: u64 = 0;
  /** Interrupts serviced, counting each later turn of a burst larger than the poll budget. */
  interrupts: u64 = 0;
}

/**
 * Where a device delivers received frames. Implemented by the stack (or a
 * test); registered with `NetDevice.setReceiver`.
 */
export abstract class NetReceiver {
  /**
   * A frame arrived: `len` bytes at `buf + PKT_HEADROOM`, `flags` from
   * `RxFlags`. Ownership of `buf` passes to the receiver, which must give it
   * back with `dev.pool.free(buf)` when done (at once, or later — a stack may
   * keep it queued, or transmit it in place). Called from the device's
   * `poll`, never re-entrantly; it may call `transmit` on any device.
   */
  abstract receive(dev: NetDevice, buf: usize, len: u32, flags: u32): void;
}

export abstract class NetDevice {
  /** Short stable name for logs, e.g. "virtio-net0". */
  name: string = "net";
  /** The MAC address, 6 bytes. */
  readonly mac: StaticArray<u8> = new StaticArray<u8>(6);
  /** Largest L3 payload: frames carry at most mtu + 14 bytes (no FCS). */
  mtu: u32 = 1500;
  /** `NetCaps` bits. */
  caps: u32 = 0;
  /** With NetCaps.TSO4: the largest frame (Ethernet header included) `transmitLarge` takes; else 0. */
  largeMax: u32 = 0;
  /** Interrupt line, or -1 when the device is only polled. */
  line: i32 = -1;
  readonly stats: NetStats = new NetStats();
  /** The pool that receive buffers come from and transmitted buffers return to. */
  readonly pool: PacketPool;
  protected receiver: NetReceiver | null = null;

  constructor(pool: PacketPool) {
    this.pool = pool;
  }

  /** Sets who gets received frames; until then they are dropped (counted). */
  setReceiver(r: NetReceiver | null): void {
    this.receiver = r;
  }

  /** Whether the link is up now (devices without link reporting always say yes). */
  abstract linkUp(): bool;

  /**
   * Queues the frame of `len` bytes at `buf + PKT_HEADROOM` (`buf` from
   * `pool`). If `csumStart` is non-zero, the transport checksum is partial:
   * the 16-bit field at frame offset `csumStart + csumOffset` holds the
   * pseudo-header sum, and the one's-complement sum from `csumStart` to the
   * end of the frame must be stored there — by the device if `caps` has
   * TX_CSUM, else by the driver. On `Ok` the device owns `buf`; on any other
   * result the caller still does. Frames may wait in the ring until `flush`:
   * call it after a batch.
   */
  abstract transmit(buf: usize, len: u32, csumStart: u32, csumOffset: u32): TxResult;

  /**
   * With NetCaps.TSO4: a buffer for one large frame (up to `largeMax` bytes
   * at `buf + PKT_HEADROOM`, the layout of a packet buffer), or 0 when the
   * device has none free now (its few large buffers are all in flight: send
   * ordinary frames, or again after `poll`). Without TSO4, always 0. The
   * caller owns the buffer until `transmitLarge` accepts it, and gives it
   * back with `releaseLarge` otherwise.
   */
  largeBuffer(): usize {
    return 0;
  }

  /**
   * Queues the TCP/IPv4 frame of `len` bytes at `buf + PKT_HEADROOM` (`buf`
   * from `largeBuffer`) for segmentation (NetCaps.TSO4): `hdrLen` bytes of
   * Ethernet, IPv4 and TCP headers (options included) start every segment,
   * each carrying at most `mss` payload bytes. The TCP checksum field (at
   * `csumStart + csumOffset`) holds the pseudo-header sum over the whole
   * frame's TCP length; the IPv4 total length and identification are the
   * whole frame's and the first segment's. On `Ok` the device owns `buf`
   * (it returns to the device's large pool when sent); otherwise the caller
   * still does. `BadLength` for a frame longer than `largeMax`, headers or
   * checksum offsets outside it, or a zero `mss`.
   */
  transmitLarge(buf: usize, len: u32, hdrLen: u32, csumStart: u32, csumOffset: u32, mss: u32): TxResult {
    return TxResult.Down;
  }

  /** Gives back a buffer from `largeBuffer` that was not transmitted. */
  releaseLarge(buf: usize): void {}

  /** Tells the device about every frame queued by `transmit` (one notification per batch). */
  abstract flush(): void;

  /**
   * Does the device's pending work without waiting: reclaims transmit
   * completions (their buffers go back to the pool), delivers at most
   * `budget` received frames to the receiver and refills the receive ring.
   * Returns the number of frames delivered.
   */
  abstract poll(budget: i32): i32;

  /**
   * Services an interrupt on `line`: acknowledges it and polls, delivering at
   * most NET_POLL_BUDGET frames. Returns true when frames may remain: the
   * caller then calls it again on a later turn (a task that yields in
   * between), until it returns false. Calling it with nothing pending is
   * harmless.
   */
  abstract handleInterrupt(): bool;

  /** "aa:bb:cc:dd:ee:ff" (allocates: for logs, not per packet). */
  macString(): string {
    return formatMac(changetype<usize>(this.mac));
  }
}

/** Formats 6 bytes at `p` as a MAC address (allocates). */
export function formatMac(p: usize): string {
  const hex = "0123456789abcdef";
  let s = "";
  for (let i = 0; i < 6; i++) {
    const b = load<u8>(p + i);
    if (i) s += ":";
    s += hex.charAt(b >> 4) + hex.charAt(b & 15);
  }
  return s;
}
