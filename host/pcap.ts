// Classic pcap files (LINKTYPE_ETHERNET) stamped with virtual time, so a
// simulated run can be opened in Wireshark/tcpdump. Any netsim Port or Link
// can tee into a writer; parsePcap reads one back (tests, tools).

import { writeFileSync } from "node:fs";

export const LINKTYPE_ETHERNET = 1;
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;

export interface PcapOptions {
  /** Timestamp resolution: "ns" (magic 0xa1b23c4d, default) or "us" (0xa1b2c3d4). */
  resolution?: "ns" | "us";
  /** Longest part of a frame stored; longer frames are cut (orig_len keeps the length). Default 65535. */
  snaplen?: number;
}

export class PcapWriter {
  readonly resolution: "ns" | "us";
  readonly snaplen: number;
  private chunks: Uint8Array[] = [];
  private size = 0;
  /** Records written. */
  count = 0;

  constructor(opts: PcapOptions = {}) {
    this.resolution = opts.resolution ?? "ns";
    this.snaplen = opts.snaplen ?? 65535;
    const h = new DataView(new ArrayBuffer(24));
    h.setUint32(0, this.resolution === "ns" ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
    h.setUint16(4, 2, true); // version 2.4
    h.setUint16(6, 4, true);
    h.setInt32(8, 0, true); // thiszone
    h.setUint32(12, 0, true); // sigfigs
    h.setUint32(16, this.snaplen, true);
    h.setUint32(20, LINKTYPE_ETHERNET, true);
    this.push(new Uint8Array(h.buffer));
  }

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  /** Appends `frame` seen at virtual time `atNs` (nanoseconds since the machine started). */
  record(atNs: bigint, frame: Uint8Array): void {
    const incl = Math.min(frame.length, this.snaplen);
    const h = new DataView(new ArrayBuffer(16));
    const sec = atNs / 1_000_000_000n;
    const sub = atNs % 1_000_000_000n;
    h.setUint32(0, Number(sec & 0xffff_ffffn), true);
    h.setUint32(4, Number(this.resolution === "ns" ? sub : sub / 1000n), true);
    h.setUint32(8, incl, true);
    h.setUint32(12, frame.length, true);
    this.push(new Uint8Array(h.buffer));
    this.push(frame.slice(0, incl));
    this.count++;
  }

  /** The file so far. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }

  save(path: string): void {
    writeFileSync(path, this.bytes());
  }
}

export interface PcapRecord {
  /** Timestamp in nanoseconds (microsecond files: a multiple of 1000). */
  atNs: bigint;
  origLen: number;
  data: Uint8Array;
}

export interface PcapFile {
  resolution: "ns" | "us";
  version: [number, number];
  snaplen: number;
  linktype: number;
  records: PcapRecord[];
}

/** Parses a little-endian classic pcap file; throws on a malformed one. */
export function parsePcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < 24) throw new Error("pcap: shorter than its 24-byte header");
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint32(0, true);
  if (magic !== PCAP_MAGIC_NS && magic !== PCAP_MAGIC_US) throw new Error(`pcap: bad magic 0x${magic.toString(16)}`);
  const resolution = magic === PCAP_MAGIC_NS ? "ns" : "us";
  const file: PcapFile = {
    resolution,
    version: [v.getUint16(4, true), v.getUint16(6, true)],
    snaplen: v.getUint32(16, true),
    linktype: v.getUint32(20, true),
    records: [],
  };
  let o = 24;
  while (o < bytes.length) {
    if (o + 16 > bytes.length) throw new Error(`pcap: truncated record header at ${o}`);
    const sec = BigInt(v.getUint32(o, true));
    const sub = BigInt(v.getUint32(o + 4, true));
    const incl = v.getUint32(o + 8, true);
    const orig = v.getUint32(o + 12, true);
    if (o + 16 + incl > bytes.length) throw new Error(`pcap: truncated record data at ${o}`);
    file.records.push({
      atNs: sec * 1_000_000_000n + (resolution === "ns" ? sub : sub * 1000n),
      origLen: orig,
      data: bytes.slice(o + 16, o + 16 + incl),
    });
    o += 16 + incl;
  }
  return file;
}
