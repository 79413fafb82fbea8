// ARP for IPv4 over Ethernet (RFC 826): the only hardware/protocol pair we
// speak, so anything else is Unsupported rather than half-understood.

import { WireError } from "./error";
import { be16, be32, put16, put32, loadMac, storeMac } from "./bytes";

export const ARP_LEN: u32 = 28;
export const ARP_REQUEST: u32 = 1;
export const ARP_REPLY: u32 = 2;

export class ArpRepr {
  op: u32 = 0;
  senderMac: u64 = 0;
  senderIp: u32 = 0;
  targetMac: u64 = 0;
  targetIp: u32 = 0;

  parse(p: usize, len: u32): WireError {
    if (len < ARP_LEN) return WireError.Truncated;
    if (be16(p) != 1 || be16(p + 2) != 0x0800 || load<u8>(p + 4) != 6 || load<u8>(p + 5) != 4) return WireError.Unsupported;
    const op = be16(p + 6);
    if (op != ARP_REQUEST && op != ARP_REPLY) return WireError.Unsupported;
    this.op = op;
    this.senderMac = loadMac(p + 8);
    this.senderIp = be32(p + 14);
    this.targetMac = loadMac(p + 18);
    this.targetIp = be32(p + 24);
    return WireError.Ok;
  }

  emit(p: usize): void {
    put16(p, 1);
    put16(p + 2, 0x0800);
    store<u8>(p + 4, 6);
    store<u8>(p + 5, 4);
    put16(p + 6, this.op);
    storeMac(p + 8, this.senderMac);
    put32(p + 14, this.senderIp);
    storeMac(p + 18, this.targetMac);
    put32(p + 24, this.targetIp);
  }
}
