// A DHCP server (RFC 2131, the common subset) and a small DNS server on one
// simulated host, for tests of the kernel's DHCP client and DNS resolver.
// It answers ARP for its address, hands out addresses in order from `first`,
// answers pings to it, answers DISCOVER with OFFER and REQUEST with ACK (NAK
// for an address it did not offer), and resolves the names in `names` (A records and CNAMEs,
// NXDOMAIN otherwise). Every message it sees is logged.

import type { Network } from "./network.ts";
import { ScriptedHost } from "./host.ts";
import { ipv4Frame, onesSum as csum, transportChecksum } from "./ipv4.ts";

export interface DnsEntry {
  a?: string;
  cname?: string;
  ttl?: number;
}

export interface DhcpServerOptions {
  serverIp: string;
  mac?: string;
  router?: string;
  dns?: string;
  mask?: string;
  /** The first address handed out; later clients get the next ones. */
  first: string;
  leaseSeconds?: number;
  /** Names the DNS server knows. */
  names?: Record<string, DnsEntry>;
  /** Ignore this many DISCOVERs first (to test retransmission). */
  dropDiscovers?: number;
  /** Ignore unicast REQUESTs (renewals), so clients must rebind by broadcast at T2. */
  ignoreRenewals?: boolean;
}

export interface DhcpLogEntry {
  at: bigint;
  type: string;
  mac: string;
  /** Sent to our address rather than broadcast. */
  unicast: boolean;
}

const ip4 = (s: string) => Uint8Array.from(s.split(".").map(Number));
const ipStr = (b: Uint8Array) => Array.from(b).join(".");
const macStr = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
const TYPES = ["?", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM"];

export class DhcpServer {
  readonly host: ScriptedHost;
  readonly log: DhcpLogEntry[] = [];
  private readonly ip: Uint8Array;
  private readonly mac: Uint8Array;
  private leases = new Map<string, Uint8Array>();
  private next: number;
  private dropDiscovers: number;

  constructor(
    readonly network: Network,
    readonly opts: DhcpServerOptions,
  ) {
    this.mac = Uint8Array.from((opts.mac ?? "02:00:00:00:00:d4").split(":").map((x) => parseInt(x, 16)));
    this.host = new ScriptedHost(network, "dhcp-server", this.mac);
    this.ip = ip4(opts.serverIp);
    const f = ip4(opts.first);
    this.next = ((f[0] << 24) | (f[1] << 16) | (f[2] << 8) | f[3]) >>> 0;
    this.dropDiscovers = opts.dropDiscovers ?? 0;
    this.host.onFrame = (frame) => this.onFrame(frame);
  }

  private onFrame(f: Uint8Array): void {
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
    if (f.length < 42) return;
    const type = dv.getUint16(12);
    if (type === 0x0806 && dv.getUint16(20) === 1 && ipStr(f.subarray(38, 42)) === ipStr(this.ip)) {
      const r = new Uint8Array(60);
      r.set(f.subarray(6, 12), 0);
      r.set(this.mac, 6);
      r.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2], 12);
      r.set(this.mac, 22);
      r.set(this.ip, 28);
      r.set(f.subarray(22, 32), 32);
      this.host.send(r);
      return;
    }
    if (type === 0x0800 && f[23] === 1 && ipStr(f.subarray(30, 34)) === ipStr(this.ip)) return this.echo(f);
    if (type !== 0x0800 || f[23] !== 17) return;
    const hl = (f[14] & 15) * 4;
    const u = 14 + hl;
    if (f.length < u + 8) return;
    const dport = dv.getUint16(u + 2);
    const payload = f.subarray(u + 8, 14 + dv.getUint16(16));
    const dstIp = f.subarray(30, 34);
    if (dport === 67) this.dhcp(payload, ipStr(dstIp) === ipStr(this.ip));
    else if (dport === 53 && ipStr(dstIp) === ipStr(this.ip)) this.dns(payload, f.subarray(6, 12), f.subarray(26, 30), dv.getUint16(u));
  }

  private dhcp(m: Uint8Array, unicast: boolean): void {
    if (m.length < 240 || m[0] !== 1) return;
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    if (dv.getUint32(236) !== 0x63825363) return;
    let type = 0;
    let requested: Uint8Array | undefined;
    let server: Uint8Array | undefined;
    for (let i = 240; i < m.length && m[i] !== 255; ) {
      if (m[i] === 0) { i++; continue; }
      const code = m[i], n = m[i + 1], v = m.subarray(i + 2, i + 2 + n);
      if (code === 53) type = v[0];
      if (code === 50) requested = v.slice();
      if (code === 54) server = v.slice();
      i += 2 + n;
    }
    const chaddr = m.subarray(28, 34);
    const key = macStr(chaddr);
    this.log.push({ at: this.network.now(), type: TYPES[type] ?? String(type), mac: key, unicast });
    const ciaddr = m.subarray(12, 16);
    if (type === 1) {
      if (this.dropDiscovers > 0) { this.dropDiscovers--; return; }
      this.reply(m, 2, this.leaseFor(key));
    } else if (type === 3) {
      if (server && ipStr(server) !== ipStr(this.ip)) return; // chose another server
      if (unicast && this.opts.ignoreRenewals) return;
      const lease = this.leases.get(key);
      const want = requested ?? ciaddr;
      if (!lease || ipStr(lease) !== ipStr(want)) this.reply(m, 6, new Uint8Array(4));
      else this.reply(m, 5, lease, unicast ? ciaddr : undefined);
    }
  }

  /** Forgets every lease: a client renewing or rebinding gets a NAK and must start over. */
  forgetLeases(): void {
    this.leases.clear();
  }

  private leaseFor(key: string): Uint8Array {
    let l = this.leases.get(key);
    if (!l) {
      const n = this.next++;
      l = Uint8Array.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
      this.leases.set(key, l);
    }
    return l;
  }

  private reply(req: Uint8Array, type: number, yiaddr: Uint8Array, unicastTo?: Uint8Array): void {
    const o = this.opts;
    const m = new Uint8Array(300);
    m.set([2, 1, 6, 0], 0);
    m.set(req.subarray(4, 8), 4); // xid
    m.set(req.subarray(10, 12), 10); // flags
    m.set(req.subarray(12, 16), 12); // ciaddr
    if (type !== 6) m.set(yiaddr, 16);
    m.set(this.ip, 20);
    m.set(req.subarray(28, 44), 28);
    m.set([0x63, 0x82, 0x53, 0x63], 236);
    let q = 240;
    const opt = (code: number, v: Uint8Array) => { m[q++] = code; m[q++] = v.length; m.set(v, q); q += v.length; };
    opt(53, Uint8Array.of(type));
    opt(54, this.ip);
    if (type !== 6) {
      const lease = o.leaseSeconds ?? 3600;
      opt(51, Uint8Array.of(lease >>> 24, (lease >>> 16) & 255, (lease >>> 8) & 255, lease & 255));
      opt(1, ip4(o.mask ?? "255.255.255.0"));
      if (o.router) opt(3, ip4(o.router));
      if (o.dns) opt(6, ip4(o.dns));
    }
    m[q++] = 255;
    const dstIp = unicastTo ?? ip4("255.255.255.255");
    const dstMac = unicastTo ? req.subarray(28, 34) : new Uint8Array(6).fill(255);
    this.sendUdp(dstMac, dstIp, 67, 68, m);
  }

  private dns(q: Uint8Array, srcMac: Uint8Array, srcIp: Uint8Array, srcPort: number): void {
    if (q.length < 17) return;
    let i = 12;
    const labels: string[] = [];
    while (i < q.length && q[i] !== 0) {
      labels.push(new TextDecoder().decode(q.subarray(i + 1, i + 1 + q[i])));
      i += 1 + q[i];
    }
    const qend = i + 5;
    let name = labels.join(".").toLowerCase();
    const answers: Uint8Array[] = [];
    const nameBytes = (n: string) => Uint8Array.from([...n.split(".").flatMap((l) => [l.length, ...new TextEncoder().encode(l)]), 0]);
    let owner: Uint8Array = Uint8Array.of(0xc0, 12);
    for (let hops = 0; hops < 8; hops++) {
      const e = this.opts.names?.[name];
      if (!e) break;
      const rr = (type: number, rdata: Uint8Array) => {
        const b = new Uint8Array(owner.length + 10 + rdata.length);
        b.set(owner, 0);
        const dv = new DataView(b.buffer);
        dv.setUint16(owner.length, type);
        dv.setUint16(owner.length + 2, 1);
        dv.setUint32(owner.length + 4, e.ttl ?? 60);
        dv.setUint16(owner.length + 8, rdata.length);
        b.set(rdata, owner.length + 10);
        return b;
      };
      if (e.cname) {
        const target = nameBytes(e.cname);
        answers.push(rr(5, target));
        owner = target; // spelled out again: no compression needed
        name = e.cname;
        continue;
      }
      if (e.a) answers.push(rr(1, ip4(e.a)));
      break;
    }
    const found = answers.length > 0 && answers[answers.length - 1].length > 0;
    const head = q.slice(0, qend);
    const dv = new DataView(head.buffer);
    dv.setUint16(2, found ? 0x8180 : 0x8183);
    dv.setUint16(6, answers.length);
    const body = new Uint8Array(head.length + answers.reduce((n, a) => n + a.length, 0));
    body.set(head, 0);
    let o = head.length;
    for (const a of answers) { body.set(a, o); o += a.length; }
    this.sendUdp(srcMac, srcIp, 53, srcPort, body);
  }

  /** Answers an ICMP echo request, as the gateway of QEMU's user network does. */
  private echo(f: Uint8Array): void {
    const hl = (f[14] & 15) * 4;
    const total = (f[16] << 8) | f[17];
    if (f[14 + hl] !== 8 || total > f.length - 14) return;
    const r = f.slice(0, 14 + total);
    r.set(f.subarray(6, 12), 0);
    r.set(this.mac, 6);
    r.set(this.ip, 26);
    r.set(f.subarray(26, 30), 30); // back to where it came from
    r[24] = r[25] = 0;
    const ipSum = ~csum(r.subarray(14, 14 + hl)) & 0xffff;
    r[24] = ipSum >> 8;
    r[25] = ipSum & 0xff;
    const icmp = r.subarray(14 + hl);
    icmp[0] = 0; // echo reply
    icmp[2] = icmp[3] = 0;
    const c = ~csum(icmp) & 0xffff;
    icmp[2] = c >> 8;
    icmp[3] = c & 0xff;
    this.host.send(r);
  }

  private sendUdp(dstMac: Uint8Array, dstIp: Uint8Array, sport: number, dport: number, data: Uint8Array): void {
    const udp = new Uint8Array(8 + data.length);
    const dv = new DataView(udp.buffer);
    dv.setUint16(0, sport);
    dv.setUint16(2, dport);
    dv.setUint16(4, 8 + data.length);
    udp.set(data, 8);
    const f = ipv4Frame(dstMac, this.mac, this.ip, dstIp, 17, udp);
    transportChecksum(f, 6);
    this.host.send(f);
  }
}
