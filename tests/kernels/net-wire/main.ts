// Test kernel for tests/net-wire.test.ts: runs one wire-layer command from the
// command line ("<cmd> <args...> <hex>") and prints key=value lines, so one
// build serves every case.
import { cmdline } from "../../../kernel/hal";
import { print, println } from "../../../kernel/console";
import { hex, unhex } from "../common/hex";
import {
  WireError, wireErrorName, EthernetRepr, ArpRepr, Ipv4Repr, IcmpRepr, UdpRepr, DhcpRepr, DnsName, DnsResponse, emitQuery,
  ETHERTYPE_ARP, ETHERTYPE_IPV4, IP_PROTO_ICMP, IP_PROTO_UDP, ipString, macString, parseIp, parsedIp,
} from "../../../kernel/net/wire/index";

const IN = heap.alloc(8192);
const OUT = heap.alloc(8192);

function kv(k: string, v: string): void { println(k + "=" + v); }
function num(k: string, v: u64): void { kv(k, v.toString()); }
function err(k: string, e: WireError): bool {
  if (e == WireError.Ok) return false;
  kv(k, wireErrorName(e));
  return true;
}

const eth = new EthernetRepr();
const arp = new ArpRepr();
const ip = new Ipv4Repr();
const icmp = new IcmpRepr();
const udp = new UdpRepr();
const dhcp = new DhcpRepr();
const name = new DnsName();
const resp = new DnsResponse();

function printDhcp(): void {
  num("dhcp.op", dhcp.op); num("dhcp.xid", dhcp.xid); num("dhcp.type", dhcp.msgType); num("dhcp.flags", dhcp.flags);
  kv("dhcp.ciaddr", ipString(dhcp.ciaddr)); kv("dhcp.yiaddr", ipString(dhcp.yiaddr)); kv("dhcp.siaddr", ipString(dhcp.siaddr));
  kv("dhcp.chaddr", macString(dhcp.chaddr)); kv("dhcp.server", ipString(dhcp.serverId)); kv("dhcp.mask", ipString(dhcp.subnetMask));
  kv("dhcp.router", ipString(dhcp.router)); num("dhcp.dns_count", dhcp.dnsCount);
  for (let i = 0; i < dhcp.dnsCount; i++) kv("dhcp.dns" + i.toString(), ipString(dhcp.dns[i]));
  num("dhcp.lease", dhcp.leaseTime); num("dhcp.params", dhcp.paramCount); num("dhcp.len", dhcp.length);
}

function frame(n: u32): void {
  memory.fill(OUT, 0, n);
  if (err("eth", eth.parse(IN, n))) return;
  kv("eth.dst", macString(eth.dst)); kv("eth.src", macString(eth.src)); num("eth.type", eth.ethertype);
  eth.emit(OUT);
  let end: u32 = 14;
  if (eth.ethertype == ETHERTYPE_ARP) {
    if (err("arp", arp.parse(IN + 14, n - 14))) return;
    num("arp.op", arp.op); kv("arp.smac", macString(arp.senderMac)); kv("arp.sip", ipString(arp.senderIp));
    kv("arp.tmac", macString(arp.targetMac)); kv("arp.tip", ipString(arp.targetIp));
    arp.emit(OUT + 14);
    end = 42;
  } else if (eth.ethertype == ETHERTYPE_IPV4) {
    if (err("ipv4", ip.parse(IN + 14, n - 14))) return;
    num("ip.hl", ip.headerLen); num("ip.tos", ip.tos); num("ip.len", ip.totalLen); num("ip.id", ip.ident); num("ip.ttl", ip.ttl);
    num("ip.proto", ip.protocol); num("ip.df", ip.dontFrag ? 1 : 0); num("ip.mf", ip.moreFrags ? 1 : 0); num("ip.off", ip.fragOffset);
    kv("ip.src", ipString(ip.src)); kv("ip.dst", ipString(ip.dst));
    const hl = ip.headerLen;
    if (hl == 20) ip.emit(OUT + 14);
    else memory.copy(OUT + 14, IN + 14, hl); // options are carried, never re-encoded
    const p: u32 = 14 + hl;
    const plen = ip.payloadLen;
    end = p + plen;
    if (ip.protocol == IP_PROTO_ICMP && !ip.isFragment) {
      if (err("icmp", icmp.parse(IN + p, plen))) return;
      num("icmp.type", icmp.type); num("icmp.code", icmp.code); num("icmp.ident", icmp.ident); num("icmp.seq", icmp.seq); num("icmp.data", icmp.dataLen);
      memory.copy(OUT + p + 8, IN + p + 8, icmp.dataLen);
      icmp.emit(OUT + p);
    } else if (ip.protocol == IP_PROTO_UDP && !ip.isFragment) {
      if (err("udp", udp.parse(IN + p, plen, ip.src, ip.dst))) return;
      num("udp.sport", udp.srcPort); num("udp.dport", udp.dstPort); num("udp.len", udp.length); num("udp.csum", udp.checksum);
      const d = p + 8;
      const dl = udp.payloadLen;
      if (udp.dstPort == 67 || udp.dstPort == 68) {
        if (err("dhcp", dhcp.parse(IN + d, dl))) return;
        printDhcp();
        num("dhcp.emitted", dhcp.emit(OUT + d, 4096));
      } else memory.copy(OUT + d, IN + d, dl);
      const had = udp.checksum;
      udp.emit(OUT + p, ip.src, ip.dst, true);
      if (had == 0) store<u16>(OUT + p + 6, 0);
    } else memory.copy(OUT + p, IN + p, plen);
  } else return;
  memory.copy(OUT + end, IN + end, n - end); // Ethernet padding
  kv("emit", hex(OUT, n));
}

export function main(): i32 {
  const cap: u32 = 16384;
  const buf = heap.alloc(cap);
  const len = cmdline(buf, cap);
  const words = String.UTF8.decodeUnsafe(buf, min(len, cap)).split(" ");
  const cmd = words[0];
  const data = words[words.length - 1];
  const n = unhex(data, IN);
  if (cmd == "frame") frame(n);
  else if (cmd == "ipv4") {
    if (!err("ipv4", ip.parse(IN, n))) kv("ipv4", "ok");
  } else if (cmd == "udp") {
    parseIp(words[1]); const s = parsedIp; parseIp(words[2]);
    if (!err("udp", udp.parse(IN, n, s, parsedIp))) kv("udp", "ok");
  } else if (cmd == "dhcp") {
    if (!err("dhcp", dhcp.parse(IN, n))) printDhcp();
  } else if (cmd == "dnsname") {
    if (!err("name", name.read(IN, n, <u32>I32.parseInt(words[1])))) { kv("name", name.toString()); num("end", name.end); }
  } else if (cmd == "dns") {
    if (!name.set(words[2])) { kv("dns", "bad-qname"); return 0; }
    if (err("dns", resp.parse(IN, n, <u32>I32.parseInt(words[1]), name, 1))) return 0;
    num("dns.rcode", resp.rcode); num("dns.addrs", resp.addrCount);
    for (let i = 0; i < resp.addrCount; i++) kv("dns.a" + i.toString(), ipString(resp.addrs[i]));
    num("dns.ttl", resp.ttl); num("dns.cnames", resp.cnames); kv("dns.canonical", resp.canonical.toString());
  } else if (cmd == "dnsq") {
    if (!name.set(words[2])) { kv("dnsq", "bad-name"); return 0; }
    kv("dnsq", hex(OUT, emitQuery(OUT, 512, <u32>I32.parseInt(words[1]), name, 1)));
  }
  return 0;
}
