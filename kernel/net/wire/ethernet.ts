// Ethernet II framing: destination, source, EtherType. No FCS (devices strip
// it) and no 802.1Q tags (a tagged frame is Unsupported and counted).

import { WireError } from "./error";
import { be16, put16, loadMac, storeMac } from "./bytes";

export const ETH_HEADER_LEN: u32 = 14;
export const ETHERTYPE_IPV4: u32 = 0x0800;
export const ETHERTYPE_ARP: u32 = 0x0806;
/** The shortest frame on the wire without FCS: shorter ones are padded on send. */
export const ETH_MIN_FRAME: u32 = 60;

export class EthernetRepr {
  dst: u64 = 0;
  src: u64 = 0;
  ethertype: u32 = 0;

  /** Reads the header of the `len`-byte frame at `p`; the payload starts at `p + ETH_HEADER_LEN`. */
  parse(p: usize, len: u32): WireError {
    if (len < ETH_HEADER_LEN) return WireError.Truncated;
    const t = be16(p + 12);
    // Values below 0x0600 are 802.3 lengths, not types: LLC/SNAP is not ours.
    if (t < 0x0600) return WireError.Unsupported;
    this.dst = loadMac(p);
    this.src = loadMac(p + 6);
    this.ethertype = t;
    return WireError.Ok;
  }

  emit(p: usize): void {
    storeMac(p, this.dst);
    storeMac(p + 6, this.src);
    put16(p + 12, this.ethertype);
  }
}
