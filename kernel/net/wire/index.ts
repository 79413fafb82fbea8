// Zero-copy views over packet bytes: parse to a plain representation, emit it back.
export * from "./error";
export * from "./bytes";
export * from "./checksum";
export * from "./ethernet";
export * from "./arp";
export * from "./ipv4";
export * from "./icmp";
export * from "./udp";
export * from "./dhcp";
export * from "./dns";
