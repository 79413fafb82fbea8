// The network stack below TCP: see docs/network.md.
export { Interface, EchoHandler } from "./iface";
export { UdpSocket, UdpHandler, UdpError } from "./udp";
export { IpService, IpProtocol, IpPacket, IcmpErrorReport, IpError, ipErrorName } from "./ip-protocol";
export { NetCounters, printCounters } from "./counters";
export { RouteTable, prefixMask } from "./route";
export { ArpCache, ARP_ENTRIES, ARP_PENDING, ARP_RETRIES, ARP_RETRY_NS, ARP_LIFETIME_NS } from "./arp";
export { Reassembler, REASM_SLOTS, REASM_MAX_BYTES, REASM_TIMEOUT_NS } from "./ipv4";
export { ipString, parseIp, parsedIp, macString } from "./wire/bytes";
export { DhcpClient, DhcpState, DhcpCounters } from "./dhcp";
export { DnsResolver, DnsStatus, DnsCounters } from "./dns";
export { NetConfig, parseNetConfig, applyStatic, AddressWait, Addressing } from "./config";
export { PING_MAX } from "./iface";
