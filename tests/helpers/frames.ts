// Building raw Ethernet frames in tests: well-formed ones, and the malformed
// ones a hostile peer would send. Every field can be overridden.

export const BROADCAST = "ff:ff:ff:ff:ff:ff";

export function mac(s: string): Uint8Array {
  return Uint8Array.from(s.split(":").map((h) => parseInt(h, 16)));
}

export function ip4(s: string): Uint8Array {
  return Uint8Array.from(s.split(".").map(Number));
}

/** The Internet checksum (RFC 1071) of `parts`, concatenated. */
export function checksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd = -1;
  for (const p of parts) {
    for (const b of p) {
      if (odd < 0) odd = b;
      else {
        sum += (odd << 8) | b;
        odd = -1;
      }
    }
  }
  if (odd >= 0) sum += odd << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

const be16 = (v: number) => Uint8Array.of(v >> 8, v & 0xff);
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

export function ethernet(dst: string, src: string, type: number, payload: Uint8Array): Uint8Array {
  return cat(mac(dst), mac(src), be16(type), payload);
}

export interface Ipv4Fields {
  src: string;
  dst: string;
  proto: number;
  payload: Uint8Array;
  id?: number;
  ttl?: number;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset?: number;
  moreFragments?: boolean;
  /** Overrides: the header length in 32-bit words, the total length, the checksum. */
  ihl?: number;
  totalLength?: number;
  checksum?: number;
}

export function ipv4(f: Ipv4Fields): Uint8Array {
  const ihl = f.ihl ?? 5;
  const h = new Uint8Array(Math.max(ihl, 1) * 4 < 20 ? 20 : ihl * 4);
  const v = new DataView(h.buffer);
  h[0] = 0x40 | (ihl & 0xf);
  v.setUint16(2, f.totalLength ?? h.length + f.payload.length);
  v.setUint16(4, f.id ?? 1);
  v.setUint16(6, ((f.moreFragments ? 0x2000 : 0) | ((f.fragOffset ?? 0) >> 3)) & 0xffff);
  h[8] = f.ttl ?? 64;
  h[9] = f.proto;
  h.set(ip4(f.src), 12);
  h.set(ip4(f.dst), 16);
  v.setUint16(10, f.checksum ?? checksum(h));
  return cat(h, f.payload);
}

/** A UDP datagram with its checksum over the pseudo-header (unless overridden). */
export function udp(src: string, dst: string, sport: number, dport: number, data: Uint8Array, over: { length?: number; checksum?: number } = {}): Uint8Array {
  const len = 8 + data.length;
  const hdr = cat(be16(sport), be16(dport), be16(over.length ?? len), be16(0));
  const pseudo = cat(ip4(src), ip4(dst), Uint8Array.of(0, 17), be16(len));
  const sum = over.checksum ?? (checksum(pseudo, hdr, data) || 0xffff);
  hdr.set(be16(sum), 6);
  return cat(hdr, data);
}

export function arpRequest(senderMac: string, senderIp: string, targetIp: string): Uint8Array {
  return cat(be16(1), be16(0x0800), Uint8Array.of(6, 4), be16(1), mac(senderMac), ip4(senderIp), new Uint8Array(6), ip4(targetIp));
}

export function arpReply(senderMac: string, senderIp: string, targetMac: string, targetIp: string): Uint8Array {
  return cat(be16(1), be16(0x0800), Uint8Array.of(6, 4), be16(2), mac(senderMac), ip4(senderIp), mac(targetMac), ip4(targetIp));
}
