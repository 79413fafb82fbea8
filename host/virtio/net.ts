// virtio-net (device id 1; virtio 1.2, section 5.1): queue 0 receiveq1,
// queue 1 transmitq1, no control queue, no multiqueue; segmentation offload
// for TCP/IPv4 (HOST_TSO4) when asked for (`tso`), as QEMU offers it over a
// TAP backend with a vnet header and not over user networking. Every buffer starts with the 12-byte virtio_net_hdr (the
// VERSION_1 layout, num_buffers always present):
//   flags u8, gso_type u8, hdr_len u16, gso_size u16, csum_start u16, csum_offset u16, num_buffers u16
//
// Transmit: frames go out through the attached netsim Port; with
// VIRTIO_NET_F_CSUM a NEEDS_CSUM frame gets its checksum completed first;
// with HOST_TSO4 a GSO_TCPV4 frame of up to 64 KiB is cut into gso_size
// pieces first (gso.ts), each sent as its own frame.
// Receive: frames from the Port fill receive buffers (several with
// VIRTIO_NET_F_MRG_RXBUF, num_buffers saying how many); with
// VIRTIO_NET_F_GUEST_CSUM, frames whose TCP/UDP checksum the device verified
// are flagged DATA_VALID. With no receive buffer available, the frame is
// dropped and counted, like a real NIC's.

import type { Machine } from "../machine.ts";
import type { Port } from "../netsim/network.ts";
import { INT_CONFIG_CHANGE, VirtioDevice, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, bits, type VirtioDeviceOptions, type VirtioInject } from "./device.ts";
import type { VirtQueue } from "./queue.ts";
import { segmentTcp4 } from "./gso.ts";

export const VIRTIO_ID_NET = 1;

export const VIRTIO_NET_F_CSUM = 0;
export const VIRTIO_NET_F_GUEST_CSUM = 1;
export const VIRTIO_NET_F_CTRL_GUEST_OFFLOADS = 2;
export const VIRTIO_NET_F_MTU = 3;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_GUEST_TSO4 = 7;
export const VIRTIO_NET_F_GUEST_TSO6 = 8;
export const VIRTIO_NET_F_GUEST_ECN = 9;
export const VIRTIO_NET_F_GUEST_UFO = 10;
export const VIRTIO_NET_F_HOST_TSO4 = 11;
export const VIRTIO_NET_F_HOST_TSO6 = 12;
export const VIRTIO_NET_F_HOST_ECN = 13;
export const VIRTIO_NET_F_HOST_UFO = 14;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;
export const VIRTIO_NET_F_CTRL_VQ = 17;
export const VIRTIO_NET_F_SPEED_DUPLEX = 63;

export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
/** The largest frame a GSO_TCPV4 header may come with: an Ethernet header and the largest IPv4 packet. */
export const VIRTIO_NET_GSO_MAX_FRAME = 14 + 65535;
export const VIRTIO_NET_S_LINK_UP = 1;
/** sizeof(struct virtio_net_hdr) with VERSION_1. */
export const VIRTIO_NET_HDR_LEN = 12;

export const RX_QUEUE = 0;
export const TX_QUEUE = 1;

/** What the model offers unless told otherwise. */
export const VIRTIO_NET_DEFAULT_FEATURES = bits(
  VIRTIO_F_VERSION_1,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_GUEST_CSUM,
);

export interface VirtioNetInject extends VirtioInject {
  /** While set: the device stops consuming receive buffers; arriving frames are dropped (stats.rxStalled). */
  rxStall?: boolean;
}

export interface VirtioNetOptions extends VirtioDeviceOptions {
  /** MAC address in config space: bytes or "52:54:00:12:34:56" (the default). */
  mac?: Uint8Array | string;
  /** MTU in config space (with VIRTIO_NET_F_MTU) and the largest payload sent. Default 1500. */
  mtu?: number;
  /** Initial link state. Default up. */
  linkUp?: boolean;
  /** Network port to attach to (or call connect later). */
  port?: Port;
  /** Offer VIRTIO_NET_F_HOST_TSO4 besides the default features (ignored when `features` is given). Default false. */
  tso?: boolean;
}

export interface VirtioNetStats {
  txFrames: number;
  txBytes: number;
  /** NEEDS_CSUM frames whose checksum the device completed. */
  txChecksummed: number;
  /** GSO_TCPV4 frames the device segmented (each one descriptor chain). */
  txGsoFrames: number;
  /** Frames those were cut into (each also in txFrames). */
  txGsoSegments: number;
  /** Frames dropped for a bad header (GSO requested, NEEDS_CSUM out of range, NEEDS_CSUM without CSUM is sent as is but counted). */
  txBadHeader: number;
  /** Frames shorter than an Ethernet header or longer than MTU + 18: dropped. */
  txBadLength: number;
  /** Frames sent while the link was down, or with no port attached: dropped. */
  txNoLink: number;
  rxFrames: number;
  rxBytes: number;
  /** Frames flagged DATA_VALID. */
  rxDataValid: number;
  /** Frames dropped: no receive buffer available. */
  rxNoBuffer: number;
  /** Frames dropped: without MRG_RXBUF, the next buffer was too small (it stays for a smaller frame). */
  rxTooBig: number;
  /** Frames dropped while inject.rxStall was set. */
  rxStalled: number;
  /** Frames dropped: the device was not running (before DRIVER_OK, after an error) or the link was down. */
  rxNotReady: number;
}

export class VirtioNet extends VirtioDevice {
  readonly deviceId = VIRTIO_ID_NET;
  readonly name: string;
  declare inject: VirtioNetInject;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly net: VirtioNetStats = {
    txFrames: 0,
    txBytes: 0,
    txChecksummed: 0,
    txGsoFrames: 0,
    txGsoSegments: 0,
    txBadHeader: 0,
    txBadLength: 0,
    txNoLink: 0,
    rxFrames: 0,
    rxBytes: 0,
    rxDataValid: 0,
    rxNoBuffer: 0,
    rxTooBig: 0,
    rxStalled: 0,
    rxNotReady: 0,
  };
  private linkUp: boolean;
  port?: Port;
  /** Sees the pieces of every frame the device segments (HOST_TSO4), before they are sent: for tests and traces. */
  onSegmented?: (pieces: Uint8Array[]) => void;

  constructor(machine: Machine, opts: VirtioNetOptions = {}) {
    super(machine, { features: opts.tso ? VIRTIO_NET_DEFAULT_FEATURES | bits(VIRTIO_NET_F_HOST_TSO4) : VIRTIO_NET_DEFAULT_FEATURES, queues: 2 }, opts);
    this.mac = typeof opts.mac === "string" ? parseMac(opts.mac) : (opts.mac ?? parseMac("52:54:00:12:34:56")).slice();
    if (this.mac.length !== 6) throw new Error("virtio-net: a MAC address has 6 bytes");
    this.name = `virtio-net ${macString(this.mac)}`;
    this.mtu = opts.mtu ?? 1500;
    this.linkUp = opts.linkUp ?? true;
    if (opts.port) this.connect(opts.port);
  }

  /** Attaches the device to a network port: its transmit side and its receive side. */
  connect(port: Port): void {
    this.port = port;
    port.onReceive = (frame) => this.receive(frame);
  }

  get link(): boolean {
    return this.linkUp;
  }

  /** Changes the link state: config space status, and a config-change interrupt with VIRTIO_NET_F_STATUS. */
  setLink(up: boolean): void {
    if (up === this.linkUp) return;
    this.linkUp = up;
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    if (this.has(VIRTIO_NET_F_STATUS) && this.live) this.interrupt(INT_CONFIG_CHANGE);
  }

  protected config(): Uint8Array {
    const c = new Uint8Array(17);
    const v = new DataView(c.buffer);
    c.set(this.mac, 0);
    v.setUint16(6, this.linkUp ? VIRTIO_NET_S_LINK_UP : 0, true);
    v.setUint16(8, 1, true); // max_virtqueue_pairs
    v.setUint16(10, this.mtu, true);
    v.setUint32(12, 0xffff_ffff, true); // speed unknown
    c[16] = 0xff; // duplex unknown
    return c;
  }

  protected validateFeatures(f: bigint): string | undefined {
    // 5.1.3.1: offloads need their checksum feature
    const need = (a: number, b: number) => (f & (1n << BigInt(a)) && !(f & (1n << BigInt(b))) ? `feature ${a} requires feature ${b}` : undefined);
    return (
      need(VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_CSUM) ??
      need(VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_CSUM) ??
      need(VIRTIO_NET_F_GUEST_UFO, VIRTIO_NET_F_GUEST_CSUM) ??
      need(VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_CSUM) ??
      need(VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_CSUM) ??
      need(VIRTIO_NET_F_HOST_UFO, VIRTIO_NET_F_CSUM) ??
      need(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, VIRTIO_NET_F_CTRL_VQ)
    );
  }

  protected process(q: VirtQueue): void {
    if (q.index === RX_QUEUE) {
      // new receive buffers: nothing waits for them (frames that found none were dropped)
      q.pending();
      q.publishAvailEvent();
      return;
    }
    for (;;) {
      const c = q.pop("any");
      if (!c) break;
      if (c.writable.length) this.warn(`transmit chain ${c.head} has device-writable descriptors; they are left untouched`);
      const data = c.read();
      if (data.length < VIRTIO_NET_HDR_LEN) {
        this.fail(`queue 1, chain at descriptor ${c.head}: ${data.length} bytes, shorter than the ${VIRTIO_NET_HDR_LEN}-byte virtio_net_hdr`, true);
        return;
      }
      q.push(c, 0);
      this.transmit(data);
    }
    q.publishAvailEvent();
    this.usedBuffersPublished(q);
  }

  private transmit(data: Uint8Array): void {
    const h = new DataView(data.buffer, data.byteOffset, VIRTIO_NET_HDR_LEN);
    const flags = h.getUint8(0);
    const gso = h.getUint8(1);
    const csumStart = h.getUint16(6, true);
    const csumOffset = h.getUint16(8, true);
    const frame = data.subarray(VIRTIO_NET_HDR_LEN);
    if (gso !== VIRTIO_NET_HDR_GSO_NONE) {
      this.transmitGso(frame, gso, flags, h.getUint16(4, true));
      return;
    }
    if (frame.length < 14 || frame.length > this.mtu + 18) {
      this.net.txBadLength++;
      this.warn(`transmit frame of ${frame.length} bytes (an Ethernet frame has 14 to MTU ${this.mtu} + 18): dropped`);
      return;
    }
    if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      if (!this.has(VIRTIO_NET_F_CSUM)) {
        this.net.txBadHeader++;
        this.warn("transmit header has NEEDS_CSUM but VIRTIO_NET_F_CSUM was not negotiated: sent as is");
      } else if (csumStart + csumOffset + 2 > frame.length) {
        this.net.txBadHeader++;
        this.warn(`NEEDS_CSUM with csum_start ${csumStart} + csum_offset ${csumOffset} beyond the ${frame.length}-byte frame: dropped`);
        return;
      } else {
        completeChecksum(frame, csumStart, csumOffset);
        this.net.txChecksummed++;
      }
    }
    if (!this.linkUp || !this.port) {
      this.net.txNoLink++;
      return;
    }
    this.net.txFrames++;
    this.net.txBytes += frame.length;
    this.port.send(frame);
  }

  /** A frame with a GSO header: segmented (HOST_TSO4, GSO_TCPV4 only), each piece sent; anything else dropped with a warning. */
  private transmitGso(frame: Uint8Array, gso: number, flags: number, gsoSize: number): void {
    const drop = (why: string) => {
      this.net.txBadHeader++;
      this.warn(`transmit header with gso_type ${gso}: ${why}: frame dropped`);
    };
    if (gso !== VIRTIO_NET_HDR_GSO_TCPV4 || !this.has(VIRTIO_NET_F_HOST_TSO4)) return drop(gso === VIRTIO_NET_HDR_GSO_TCPV4 ? "HOST_TSO4 was not negotiated" : "no such segmentation was negotiated");
    // 5.1.6.2.1: a driver asking for segmentation sets NEEDS_CSUM too.
    if (!(flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) return drop("NEEDS_CSUM is not set (5.1.6.2.1)");
    if (frame.length > VIRTIO_NET_GSO_MAX_FRAME) {
      this.net.txBadLength++;
      this.warn(`a ${frame.length}-byte GSO frame (at most ${VIRTIO_NET_GSO_MAX_FRAME}): dropped`);
      return;
    }
    const pieces = segmentTcp4(frame, gsoSize);
    if (typeof pieces === "string") return drop(pieces);
    const big = pieces.find((p) => p.length > this.mtu + 14);
    if (big) {
      this.net.txBadLength++;
      this.warn(`gso_size ${gsoSize} makes ${big.length}-byte frames, more than MTU ${this.mtu} + 14: dropped`);
      return;
    }
    if (!this.linkUp || !this.port) {
      this.net.txNoLink++;
      return;
    }
    this.net.txGsoFrames++;
    this.net.txGsoSegments += pieces.length;
    this.onSegmented?.(pieces);
    for (const p of pieces) {
      this.net.txFrames++;
      this.net.txBytes += p.length;
      this.port.send(p);
    }
  }

  /** A frame arrives from the network. */
  receive(frame: Uint8Array): void {
    const q = this.queues[RX_QUEUE];
    if (!this.live || !q.ready || !this.linkUp) {
      this.net.rxNotReady++;
      return;
    }
    if (this.inject.rxStall) {
      this.net.rxStalled++;
      return;
    }
    if (this.inject.deviceError) {
      this.inject.deviceError = false;
      this.fail("injected device error");
      return;
    }
    if (!q.usable()) return;
    const total = VIRTIO_NET_HDR_LEN + frame.length;
    const mrg = this.has(VIRTIO_NET_F_MRG_RXBUF);
    const chains = [];
    let cap = 0;
    while (cap < total) {
      const c = q.pop("writable");
      if (!c) {
        if (this.needsReset) return;
        q.unpop(chains.length);
        this.net.rxNoBuffer++;
        return;
      }
      if (chains.length === 0 && mrg && c.writeLength < VIRTIO_NET_HDR_LEN) {
        this.fail(`queue 0, chain at descriptor ${c.head}: a ${c.writeLength}-byte receive buffer cannot hold the virtio_net_hdr (5.1.6.3.1)`, true);
        return;
      }
      chains.push(c);
      cap += c.writeLength;
      if (!mrg) break;
    }
    if (cap < total) {
      q.unpop(1);
      this.net.rxTooBig++;
      this.warn(`a ${frame.length}-byte frame does not fit the ${cap}-byte receive buffer (no MRG_RXBUF): dropped`);
      return;
    }
    const data = new Uint8Array(total);
    const h = new DataView(data.buffer);
    let flags = 0;
    if (this.has(VIRTIO_NET_F_GUEST_CSUM) && checksumValid(frame)) {
      flags |= VIRTIO_NET_HDR_F_DATA_VALID;
      this.net.rxDataValid++;
    }
    h.setUint8(0, flags);
    h.setUint8(1, VIRTIO_NET_HDR_GSO_NONE);
    h.setUint16(10, chains.length, true); // num_buffers: 1 unless MRG_RXBUF merged more
    data.set(frame, VIRTIO_NET_HDR_LEN);
    let off = 0;
    for (const c of chains) {
      const n = Math.min(c.writeLength, total - off);
      c.write(data.subarray(off, off + n));
      q.push(c, n);
      off += n;
    }
    this.net.rxFrames++;
    this.net.rxBytes += frame.length;
    q.publishAvailEvent();
    this.usedBuffersPublished(q);
  }
}

export function parseMac(s: string): Uint8Array {
  const parts = s.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new Error(`bad MAC address "${s}"`);
  return new Uint8Array(parts.map((p) => parseInt(p, 16)));
}

export function macString(m: Uint8Array): string {
  return Array.from(m, (b) => b.toString(16).padStart(2, "0")).join(":");
}

// ---- Internet checksums (RFC 1071) -----------------------------------------

/** One's-complement sum of `b` (big-endian 16-bit words), unfolded, plus `init`. */
export function onesSum(b: Uint8Array, init = 0): number {
  let s = init;
  let i = 0;
  for (; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (i < b.length) s += b[i] << 8;
  return s;
}

export function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/**
 * Completes a partial checksum the way a NIC does for NEEDS_CSUM: the field at
 * start + offset holds the pseudo-header sum; the sum of everything from
 * start to the end, complemented, replaces it (0 becomes 0xffff, as Linux does).
 */
export function completeChecksum(frame: Uint8Array, start: number, offset: number): void {
  const c = (~fold(onesSum(frame.subarray(start))) & 0xffff) || 0xffff;
  frame[start + offset] = c >> 8;
  frame[start + offset + 1] = c & 0xff;
}

/** Whether `frame` is IPv4/IPv6 TCP or UDP with a correct checksum (what DATA_VALID vouches for). */
export function checksumValid(frame: Uint8Array): boolean {
  let o = 12;
  if (frame.length < 14) return false;
  let type = (frame[o] << 8) | frame[o + 1];
  o += 2;
  if (type === 0x8100) {
    if (frame.length < 18) return false;
    type = (frame[o + 2] << 8) | frame[o + 3];
    o += 4;
  }
  if (type === 0x0800) {
    if (frame.length < o + 20 || frame[o] >> 4 !== 4) return false;
    const ihl = (frame[o] & 0xf) * 4;
    const totalLen = (frame[o + 2] << 8) | frame[o + 3];
    if (ihl < 20 || totalLen < ihl || o + totalLen > frame.length) return false;
    if (fold(onesSum(frame.subarray(o, o + ihl))) !== 0xffff) return false;
    const fragment = ((frame[o + 6] << 8) | frame[o + 7]) & 0x3fff;
    if (fragment) return false;
    const proto = frame[o + 9];
    const seg = frame.subarray(o + ihl, o + totalLen);
    if (proto === 17 && seg.length >= 8 && seg[6] === 0 && seg[7] === 0) return true; // UDP without checksum
    const pseudo = onesSum(frame.subarray(o + 12, o + 20)) + proto + seg.length;
    return transportValid(proto, seg, pseudo);
  }
  if (type === 0x86dd) {
    if (frame.length < o + 40 || frame[o] >> 4 !== 6) return false;
    const payload = (frame[o + 4] << 8) | frame[o + 5];
    const next = frame[o + 6];
    if (o + 40 + payload > frame.length) return false;
    const seg = frame.subarray(o + 40, o + 40 + payload);
    const pseudo = onesSum(frame.subarray(o + 8, o + 40)) + fold(seg.length) + next;
    return transportValid(next, seg, pseudo);
  }
  return false;
}

function transportValid(proto: number, seg: Uint8Array, pseudo: number): boolean {
  if (proto === 6 ? seg.length < 20 : proto === 17 ? seg.length < 8 : true) return false;
  return fold(onesSum(seg, pseudo)) === 0xffff;
}
