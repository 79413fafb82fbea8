// The wire layer (kernel/net/wire) on literal packet bytes. The ARP, ICMP,
// DHCP and DNS frames below were captured from QEMU's user networking
// (slirp) by sending frames into a `-netdev user` through a hub and a socket
// netdev; the CNAME chain is hand-written (the capture host has no internet).
// Each parses to the expected fields and emits back byte-for-byte; every
// malformed variant returns its error instead of trapping.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../tools/paths.ts";
import { buildAppWasm, runWasm } from "./helpers/kernel.ts";

let wasm: Uint8Array;
beforeAll(async () => {
  wasm = await buildAppWasm(join(ROOT, "tests/kernels/net-wire"));
}, 120_000);

async function run(cmdline: string): Promise<Record<string, string>> {
  const r = await runWasm(wasm, { cmdline });
  expect(r.exitCode, r.output).toBe(0);
  const out: Record<string, string> = {};
  for (const line of r.output.split("\n")) {
    const k = line.indexOf("=");
    if (k > 0) out[line.slice(0, k)] = line.slice(k + 1);
  }
  return out;
}

const hex = (s: string) => s.replace(/\s+/g, "");
const bytes = (s: string) => Buffer.from(hex(s), "hex");
const h = (b: Buffer) => b.toString("hex");

// --- captured from slirp ---------------------------------------------------
const ARP_REQUEST = hex(`ffffffffffff 525400123456 0806 0001 0800 06 04 0001 525400123456 0a00020f 000000000000 0a000202
  000000000000000000000000000000000000`);
const ARP_REPLY = hex(`525400123456 52550a000202 0806 0001 0800 06 04 0002 52550a000202 0a000202 525400123456 0a00020f
  00000000000000000000000000000000000000000000`);
const ECHO_REQUEST = hex(`5255000a0202 525400123456 0800 4500003c00020000400162af0a00020f0a000202
  0800f3c812340001 101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f`);
const ECHO_REPLY = hex(`525400123456 52550a000202 0800 4500003c00010000ff01a3af0a0002020a00020f
  0000fbc812340001 101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f`);
const DNS_QUERY = hex(`5255000a0202 525400123456 0800 4500003700030000401162a20a00020f0a000203
  9c4000350023d310 beef01000001000000000000 096c6f63616c686f737400 00010001`);
const DNS_NXDOMAIN = hex(`525400123456 52550a000202 0800 4500003700020000401162a30a0002030a00020f
  00359c400023528d beef81830001000000000000 096c6f63616c686f737400 00010001`);
const DHCP_OFFER = hex(`ffffffffffff52550a0002020800451002400000000040116c9c0a000202ffffffff00430044022c8f47
  020106003903f32600000000000000000a00020f0a00020200000000525400123456` + "00".repeat(10 + 64 + 128) +
  `6382536335010236040a0002020104ffffff0003040a00020206040a000203330400015180ff` + "00".repeat(312 - 38));

// --- hand-written: www.example.org CNAME edge.example.net CNAME e1.cdn.example.net A 93.184.216.34, 198.51.100.7,
// the A records first (spelled out), the chain after them (compressed): order must not matter.
function dnsCname(): Buffer {
  const q = Buffer.from("1a2b81800001000400000000" + "03777777076578616d706c65036f726700" + "00010001", "hex");
  const rr = (name: string, type: number, ttl: number, rdata: Buffer) => {
    const b = Buffer.alloc(10);
    b.writeUInt16BE(type, 0); b.writeUInt16BE(1, 2); b.writeUInt32BE(ttl, 4); b.writeUInt16BE(rdata.length, 8);
    return Buffer.concat([Buffer.from(name, "hex"), b, rdata]);
  };
  const e1 = "0265310363646e076578616d706c65036e657400"; // e1.cdn.example.net
  const a3 = rr(e1, 1, 120, Buffer.from([93, 184, 216, 34]));
  const a4 = rr(e1, 1, 120, Buffer.from([198, 51, 100, 7]));
  const a1 = rr("c00c", 5, 300, Buffer.from("0465646765076578616d706c65036e657400", "hex")); // edge.example.net
  const edge = q.length + a3.length + a4.length + 2 + 10; // where a1's rdata lies
  const ptr = (o: number) => (0xc000 | o).toString(16);
  const a2 = rr(ptr(edge), 5, 60, Buffer.from("0265310363646e" + ptr(edge + 5), "hex")); // e1.cdn + example.net
  return Buffer.concat([q, a3, a4, a1, a2]);
}

describe("wire: real frames parse and emit back byte-for-byte", () => {
  it("ARP request and reply (slirp's gateway)", async () => {
    const q = await run(`frame ${ARP_REQUEST}`);
    expect(q).toMatchObject({ "eth.dst": "ff:ff:ff:ff:ff:ff", "eth.type": "2054", "arp.op": "1", "arp.smac": "52:54:00:12:34:56",
      "arp.sip": "10.0.2.15", "arp.tip": "10.0.2.2", emit: ARP_REQUEST });
    const r = await run(`frame ${ARP_REPLY}`);
    expect(r).toMatchObject({ "arp.op": "2", "arp.smac": "52:55:0a:00:02:02", "arp.sip": "10.0.2.2", "arp.tmac": "52:54:00:12:34:56",
      "arp.tip": "10.0.2.15", emit: ARP_REPLY });
  });

  it("ICMP echo request and slirp's reply", async () => {
    const q = await run(`frame ${ECHO_REQUEST}`);
    expect(q).toMatchObject({ "ip.hl": "20", "ip.len": "60", "ip.ttl": "64", "ip.proto": "1", "ip.src": "10.0.2.15", "ip.dst": "10.0.2.2",
      "icmp.type": "8", "icmp.ident": "4660", "icmp.seq": "1", "icmp.data": "32", emit: ECHO_REQUEST });
    const r = await run(`frame ${ECHO_REPLY}`);
    expect(r).toMatchObject({ "ip.ttl": "255", "icmp.type": "0", "icmp.seq": "1", emit: ECHO_REPLY });
  });

  it("UDP: a DNS query and slirp's NXDOMAIN answer", async () => {
    const q = await run(`frame ${DNS_QUERY}`);
    expect(q).toMatchObject({ "udp.sport": "40000", "udp.dport": "53", "udp.len": "35", "udp.csum": String(0xd310), emit: DNS_QUERY });
    const r = await run(`frame ${DNS_NXDOMAIN}`);
    expect(r).toMatchObject({ "udp.sport": "53", "udp.dport": "40000", emit: DNS_NXDOMAIN });
    const d = await run(`dns 48879 localhost ${h(bytes(DNS_NXDOMAIN).subarray(42))}`);
    expect(d).toMatchObject({ "dns.rcode": "3", "dns.addrs": "0" });
    // and our own query for the same name is the same bytes slirp saw
    expect((await run("dnsq 48879 localhost")).dnsq).toBe(h(bytes(DNS_QUERY).subarray(42)));
  });

  it("DHCP OFFER from slirp: yiaddr, server, router, DNS, lease; emits back identically", async () => {
    expect(DHCP_OFFER.length).toBe(2 * (14 + 576));
    const o = await run(`frame ${DHCP_OFFER}`);
    expect(o).toMatchObject({ "ip.tos": "16", "udp.sport": "67", "udp.dport": "68", "dhcp.op": "2", "dhcp.type": "2",
      "dhcp.xid": String(0x3903f326), "dhcp.yiaddr": "10.0.2.15", "dhcp.siaddr": "10.0.2.2", "dhcp.chaddr": "52:54:00:12:34:56",
      "dhcp.server": "10.0.2.2", "dhcp.mask": "255.255.255.0", "dhcp.router": "10.0.2.2", "dhcp.dns_count": "1",
      "dhcp.dns0": "10.0.2.3", "dhcp.lease": "86400", "dhcp.len": "548", "dhcp.emitted": "548", emit: DHCP_OFFER });
  });

  it("DNS: a CNAME chain in any order ends at the A records, with the smallest TTL", async () => {
    const d = await run(`dns 6699 www.example.org ${h(dnsCname())}`);
    expect(d).toMatchObject({ "dns.rcode": "0", "dns.addrs": "2", "dns.a0": "93.184.216.34", "dns.a1": "198.51.100.7",
      "dns.ttl": "60", "dns.cnames": "2", "dns.canonical": "e1.cdn.example.net" });
    // the answer must match the query: another id, another name
    expect((await run(`dns 6700 www.example.org ${h(dnsCname())}`)).dns).toBe("mismatch");
    expect((await run(`dns 6699 www.example.com ${h(dnsCname())}`)).dns).toBe("mismatch");
    // names compare case-insensitively
    expect((await run(`dns 6699 WWW.Example.ORG ${h(dnsCname())}`))["dns.addrs"]).toBe("2");
  });
});

describe("wire: malformed input is an error value", () => {
  const frame = (s: string) => run(`frame ${s}`);

  it("truncation at every header boundary", async () => {
    expect((await frame(ARP_REQUEST.slice(0, 26))).eth).toBe("truncated"); // 13 bytes
    expect((await frame(ARP_REQUEST.slice(0, 2 * 41))).arp).toBe("truncated");
    expect((await frame(ECHO_REQUEST.slice(0, 2 * 33))).ipv4).toBe("truncated");
    // the frame ends inside the ICMP data: total length now lies
    expect((await frame(ECHO_REQUEST.slice(0, 2 * 60))).ipv4).toBe("bad-length");
    const tooShortIcmp = fixIp(bytes(ECHO_REQUEST).subarray(0, 14 + 20 + 6), 26);
    expect((await frame(h(tooShortIcmp))).icmp).toBe("truncated");
    const tooShortUdp = fixIp(bytes(DNS_QUERY).subarray(0, 14 + 20 + 7), 27);
    expect((await frame(h(tooShortUdp))).udp).toBe("truncated");
    expect((await run(`dhcp ${h(bytes(DHCP_OFFER).subarray(42, 42 + 239))}`)).dhcp).toBe("truncated");
    expect((await run(`dns 48879 localhost ${h(bytes(DNS_NXDOMAIN).subarray(42, 42 + 11))}`)).dns).toBe("truncated");
    expect((await run(`dns 48879 localhost ${h(bytes(DNS_NXDOMAIN).subarray(42, 42 + 25))}`)).dns).toBe("truncated");
  });

  it("IPv4: version, IHL < 5, IHL past the data, total length > frame or < header, checksum, TTL 0, fragment past 64 KiB", async () => {
    const ip = bytes(ECHO_REQUEST).subarray(14);
    const mod = (f: (b: Buffer) => void, fix = true) => {
      const b = Buffer.from(ip);
      f(b);
      if (fix) { b.writeUInt16BE(0, 10); b.writeUInt16BE(csum(b.subarray(0, Math.max(20, (b[0] & 15) * 4))), 10); }
      return run(`ipv4 ${h(b)}`);
    };
    expect((await run(`ipv4 ${h(ip)}`)).ipv4).toBe("ok");
    expect((await mod((b) => (b[0] = 0x65))).ipv4).toBe("bad-version");
    expect((await mod((b) => (b[0] = 0x44), false)).ipv4).toBe("bad-header-len");
    const cut = Buffer.from(ip.subarray(0, 40)); cut[0] = 0x4f; // a 60-byte header in 40 bytes
    expect((await run(`ipv4 ${h(cut)}`)).ipv4).toBe("truncated");
    expect((await mod((b) => b.writeUInt16BE(61, 2))).ipv4).toBe("bad-length");
    expect((await mod((b) => b.writeUInt16BE(19, 2))).ipv4).toBe("bad-length");
    expect((await mod((b) => (b[12] ^= 1), false)).ipv4).toBe("bad-checksum");
    expect((await mod((b) => (b[8] = 0))).ipv4).toBe("bad-ttl");
    expect((await mod((b) => b.writeUInt16BE(0x1fff, 6))).ipv4).toBe("bad-length");
    // options are skipped: a 24-byte header with a NOP option still parses
    const opt = Buffer.concat([ip.subarray(0, 20), Buffer.from("01010100", "hex"), ip.subarray(20)]);
    opt[0] = 0x46; opt.writeUInt16BE(opt.length, 2); opt.writeUInt16BE(0, 10); opt.writeUInt16BE(csum(opt.subarray(0, 24)), 10);
    expect((await run(`ipv4 ${h(opt)}`)).ipv4).toBe("ok");
    const f = await frame(h(Buffer.concat([bytes(ECHO_REQUEST).subarray(0, 14), opt])));
    expect(f["ip.hl"]).toBe("24");
    expect(f["icmp.seq"]).toBe("1");
  });

  it("bad ICMP and UDP checksums; UDP length that lies; zero UDP checksum accepted", async () => {
    const e = bytes(ECHO_REQUEST);
    e[e.length - 1] ^= 0xff;
    expect((await frame(h(e))).icmp).toBe("bad-checksum");
    const udp = bytes(DNS_QUERY).subarray(34);
    const bad = Buffer.from(udp); bad[bad.length - 1] ^= 1;
    expect((await run(`udp 10.0.2.15 10.0.2.3 ${h(bad)}`)).udp).toBe("bad-checksum");
    expect((await run(`udp 10.0.2.15 10.0.2.4 ${h(udp)}`)).udp).toBe("bad-checksum"); // pseudo-header covers addresses
    const lie = Buffer.from(udp); lie.writeUInt16BE(udp.length + 1, 4);
    expect((await run(`udp 10.0.2.15 10.0.2.3 ${h(lie)}`)).udp).toBe("bad-length");
    const small = Buffer.from(udp); small.writeUInt16BE(7, 4);
    expect((await run(`udp 10.0.2.15 10.0.2.3 ${h(small)}`)).udp).toBe("bad-length");
    const none = Buffer.from(bad); none.writeUInt16BE(0, 6);
    expect((await run(`udp 10.0.2.15 10.0.2.3 ${h(none)}`)).udp).toBe("ok");
  });

  it("ARP for another hardware or protocol type, and unknown opcodes, are unsupported; 802.3 frames too", async () => {
    const a = bytes(ARP_REQUEST); a[15] = 6;
    expect((await frame(h(a))).arp).toBe("unsupported");
    const o = bytes(ARP_REQUEST); o[21] = 9;
    expect((await frame(h(o))).arp).toBe("unsupported");
    const l = bytes(ARP_REQUEST); l.writeUInt16BE(46, 12);
    expect((await frame(h(l))).eth).toBe("unsupported");
  });

  it("DHCP: magic cookie, option lengths that run past the end or do not fit the type, no message type", async () => {
    const d = bytes(DHCP_OFFER).subarray(42);
    const m = Buffer.from(d); m[236] = 0;
    expect((await run(`dhcp ${h(m)}`)).dhcp).toBe("bad-magic");
    const run1 = Buffer.from(d.subarray(0, 240 + 6)); run1[241] = 200; // message type claims 200 bytes
    expect((await run(`dhcp ${h(run1)}`)).dhcp).toBe("bad-option");
    const t = Buffer.from(d); t[241] = 2; // message type of length 2
    expect((await run(`dhcp ${h(t)}`)).dhcp).toBe("bad-option");
    const ip3 = Buffer.from(d); ip3[244] = 3; // server id of 3 bytes
    expect((await run(`dhcp ${h(ip3)}`)).dhcp).toBe("bad-option");
    const none = Buffer.from(d); none[240] = 0; none[241] = 0; none[242] = 0; // message type padded away
    expect((await run(`dhcp ${h(none)}`)).dhcp).toBe("bad-option");
    const cut = Buffer.from(d.subarray(0, 240 + 3 + 1)); // ends with a code byte and no length
    expect((await run(`dhcp ${h(cut)}`)).dhcp).toBe("bad-option");
  });

  it("DNS names: pointer loops, self and forward pointers, pointers outside, reserved labels, overlong labels and names", async () => {
    const name = (off: number, b: string) => run(`dnsname ${off} ${b}`);
    expect(await name(0, "03777777076578616d706c6500")).toMatchObject({ name: "www.example", end: "13" });
    expect(await name(5, "01610000" + "00" + "0162c000")).toMatchObject({ name: "b.a", end: "9" });
    expect((await name(0, "c000")).name).toBe("pointer-loop"); // points at itself
    expect((await name(0, "0161c004" + "0162c000")).name).toBe("pointer-loop"); // forward, then back: a cycle
    expect((await name(4, "0161c004" + "0162c000")).name).toBe("pointer-loop"); // b -> a -> b ...
    expect((await name(0, "c0ff")).name).toBe("bad-pointer");
    expect((await name(0, "4000")).name).toBe("bad-label");
    expect((await name(0, "8000")).name).toBe("bad-label");
    expect((await name(0, "3f" + "61".repeat(63) + "00")).name).toBe("a".repeat(63));
    expect((await name(0, "05616263")).name).toBe("truncated");
    expect((await name(0, "0361")).name).toBe("truncated");
    const long = ("3f" + "61".repeat(63)).repeat(4) + "00"; // 4 * 64 + 1 = 257 bytes
    expect((await name(0, long)).name).toBe("name-too-long");
    // a chain of pointers to ever-earlier names that builds an overlong name
    let chain = "3f" + "61".repeat(63) + "00";
    const starts = [0];
    for (let i = 1; i < 6; i++) { starts.push(chain.length / 2); chain += "3f" + "61".repeat(63) + (0xc000 | starts[i - 1]).toString(16); }
    expect((await name(starts[5], chain)).name).toBe("name-too-long");
  });

  it("DNS replies: not a response, truncated (TC), question count, answers that run past the end", async () => {
    const r = bytes(DNS_NXDOMAIN).subarray(42);
    const q = Buffer.from(r); q[2] &= 0x7f;
    expect((await run(`dns 48879 localhost ${h(q)}`)).dns).toBe("mismatch");
    const tc = Buffer.from(r); tc[2] |= 2;
    expect((await run(`dns 48879 localhost ${h(tc)}`)).dns).toBe("unsupported");
    const qd = Buffer.from(r); qd[5] = 2;
    expect((await run(`dns 48879 localhost ${h(qd)}`)).dns).toBe("mismatch");
    const c = dnsCname();
    expect((await run(`dns 6699 www.example.org ${h(c.subarray(0, c.length - 2))}`)).dns).toBe("bad-length");
    const lie = Buffer.from(c); lie[7] = 9; // nine answers, four present
    expect((await run(`dns 6699 www.example.org ${h(lie)}`)).dns).toBe("truncated");
  });
});

function csum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** A frame cut to `ipLen` bytes of IP with its total length and checksum made consistent. */
function fixIp(frame: Buffer, ipLen: number): Buffer {
  const b = Buffer.from(frame.subarray(0, 14 + ipLen));
  b.writeUInt16BE(ipLen, 16);
  b.writeUInt16BE(0, 24);
  b.writeUInt16BE(csum(b.subarray(14, 34)), 24);
  return b;
}
