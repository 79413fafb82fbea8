// TCP segmentation for the virtio-net model's HOST_TSO4 (virtio 1.2,
// 5.1.6.2): what QEMU's backend (Linux's GSO behind a TAP device) does with a
// large TCP/IPv4 frame a driver hands over. The frame's Ethernet, IPv4 and
// TCP headers start every piece; each piece carries at most gso_size payload
// bytes; the IPv4 total length and header checksum are recomputed and the
// identification counts up from the frame's; sequence numbers advance by
// the payload before; FIN and PSH stay on the last piece only and CWR on the
// first (Linux's tcp_gso_segment); every TCP checksum is computed afresh.
//
// The frame comes from the driver, so it is checked as untrusted input: a
// reason string instead of pieces when it is not a TCP/IPv4 frame whose
// headers and lengths agree.

import { onesSum as sum } from "../netsim/ipv4.ts";

const ETH = 14;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/** The pieces of `frame` (each a complete Ethernet frame), or why it cannot be segmented. */
export function segmentTcp4(frame: Uint8Array, gsoSize: number): Uint8Array[] | string {
  if (frame.length < ETH + 40) return `a ${frame.length}-byte frame is too short for Ethernet, IPv4 and TCP headers`;
  const type = (frame[12] << 8) | frame[13];
  if (type !== 0x0800) return `ethertype 0x${type.toString(16)} is not IPv4`;
  const ip = ETH;
  if (frame[ip] >> 4 !== 4) return "IP version is not 4";
  const ihl = (frame[ip] & 0xf) * 4;
  const total = (frame[ip + 2] << 8) | frame[ip + 3];
  if (ihl < 20 || ETH + ihl + 20 > frame.length) return `IPv4 header length ${ihl}`;
  if (frame[ip + 9] !== 6) return `IP protocol ${frame[ip + 9]} is not TCP`;
  if (((frame[ip + 6] << 8) | frame[ip + 7]) & 0x3fff) return "a fragment cannot be segmented";
  if (ETH + total !== frame.length) return `IPv4 total length ${total} disagrees with the ${frame.length - ETH} bytes after the Ethernet header`;
  const tcp = ip + ihl;
  const thl = (frame[tcp + 12] >> 4) * 4;
  if (thl < 20 || tcp + thl > frame.length) return `TCP header length ${thl}`;
  if (!Number.isInteger(gsoSize) || gsoSize <= 0) return `gso_size ${gsoSize}`;
  const head = tcp + thl;
  const payload = frame.length - head;
  const pieces = Math.max(1, Math.ceil(payload / gsoSize));
  const id0 = (frame[ip + 4] << 8) | frame[ip + 5];
  const seq0 = new DataView(frame.buffer, frame.byteOffset + tcp + 4, 4).getUint32(0);
  const flags = frame[tcp + 13];
  const out: Uint8Array[] = [];
  for (let i = 0; i < pieces; i++) {
    const off = i * gsoSize;
    const n = Math.min(gsoSize, payload - off);
    const f = new Uint8Array(head + n);
    f.set(frame.subarray(0, head), 0);
    f.set(frame.subarray(head + off, head + off + n), head);
    const v = new DataView(f.buffer);
    v.setUint16(ip + 2, ihl + thl + n);
    v.setUint16(ip + 4, (id0 + i) & 0xffff);
    v.setUint16(ip + 10, 0);
    v.setUint16(ip + 10, ~sum(f.subarray(ip, ip + ihl), 0) & 0xffff);
    v.setUint32(tcp + 4, (seq0 + off) >>> 0);
    let fl = flags;
    if (i < pieces - 1) fl &= ~(TCP_FIN | TCP_PSH);
    if (i > 0) fl &= ~TCP_CWR;
    f[tcp + 13] = fl;
    v.setUint16(tcp + 16, 0);
    const seg = f.subarray(tcp);
    const pseudo = sum(f.subarray(ip + 12, ip + 20), 6 + seg.length);
    v.setUint16(tcp + 16, ~sum(seg, pseudo) & 0xffff);
    out.push(f);
  }
  return out;
}
