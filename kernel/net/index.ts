// The network stack below TCP, layer by layer, and the wiring of all of it: see docs/network.md.
export { NetStack, NetStackOptions } from "./stack";
export { EthernetLink, LinkReceiver, LINK_PAYLOAD } from "./link";
export { Ipv4 } from "./ip";
export { IpService, IpProtocol, IpPacket, IcmpErrorReport, IpErrorSender, IpError, ipErrorName } from "./ip-protocol";
export { Icmp, EchoHandler, IcmpRateLimit, PING_MAX } from "./icmp";
export { Udp, UdpSocket, UdpHandler, UdpError } from "./udp";
export { EphemeralPorts, EPHEMERAL_FIRST, EPHEMERAL_COUNT } from "./ports";
export { NetCounters, printCounters } from "./counters";
export { RouteTable, prefixMask } from "./route";
export { ArpCache, ARP_ENTRIES, ARP_INCOMPLETE, ARP_PENDING, ARP_RETRIES, ARP_RETRY_NS, ARP_LIFETIME_NS } from "./arp";
export { Reassembler, REASM_SLOTS, REASM_MAX_BYTES, REASM_TIMEOUT_NS } from "./reassembly";
export { ipString, parseIp, parsedIp, macString } from "./wire/bytes";
export { DhcpClient, DhcpState, DhcpCounters } from "./dhcp";
export { DnsResolver, DnsStatus, DnsCounters } from "./dns";
export { NetConfig, parseNetConfig, applyStatic, AddressWait, Addressing } from "./config";
