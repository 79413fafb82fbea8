// DHCP messages (RFC 2131 over the BOOTP layout, options from RFC 2132).
// Only the options a client needs are kept; others are skipped after their
// length is checked. A zero field means "option absent" (0.0.0.0 is never a
// useful server, router or lease here). Emit writes options in one fixed
// order — the order QEMU's slirp uses — and pads to `length`, so a parsed
// message emits back byte-for-byte.

import { WireError } from "./error";
import { be16, be32, put16, put32, loadMac, storeMac } from "./bytes";

export const DHCP_FIXED_LEN: u32 = 236;
export const DHCP_MAGIC: u32 = 0x63825363;
/** BOOTP messages are at least 300 bytes (RFC 1542), and many servers insist. */
export const DHCP_MIN_LEN: u32 = 300;
export const DHCP_SERVER_PORT: u32 = 67;
export const DHCP_CLIENT_PORT: u32 = 68;

export const BOOTREQUEST: u32 = 1;
export const BOOTREPLY: u32 = 2;

export const DHCPDISCOVER: u32 = 1;
export const DHCPOFFER: u32 = 2;
export const DHCPREQUEST: u32 = 3;
export const DHCPDECLINE: u32 = 4;
export const DHCPACK: u32 = 5;
export const DHCPNAK: u32 = 6;
export const DHCPRELEASE: u32 = 7;

const OPT_PAD: u32 = 0;
const OPT_SUBNET: u32 = 1;
const OPT_ROUTER: u32 = 3;
const OPT_DNS: u32 = 6;
const OPT_REQUESTED_IP: u32 = 50;
const OPT_LEASE: u32 = 51;
const OPT_MSG_TYPE: u32 = 53;
const OPT_SERVER_ID: u32 = 54;
const OPT_PARAMS: u32 = 55;
const OPT_T1: u32 = 58;
const OPT_T2: u32 = 59;
const OPT_END: u32 = 255;

export const DHCP_MAX_DNS: i32 = 3;
export const DHCP_MAX_PARAMS: i32 = 16;

export class DhcpRepr {
  op: u32 = BOOTREQUEST;
  hops: u32 = 0;
  xid: u32 = 0;
  secs: u32 = 0;
  /** Bit 15: broadcast. */
  flags: u32 = 0;
  ciaddr: u32 = 0;
  yiaddr: u32 = 0;
  siaddr: u32 = 0;
  giaddr: u32 = 0;
  chaddr: u64 = 0;
  msgType: u32 = 0;
  serverId: u32 = 0;
  requestedIp: u32 = 0;
  subnetMask: u32 = 0;
  router: u32 = 0;
  dnsCount: i32 = 0;
  readonly dns: StaticArray<u32> = new StaticArray<u32>(DHCP_MAX_DNS);
  /** Seconds; 0 = absent. */
  leaseTime: u32 = 0;
  renewalTime: u32 = 0;
  rebindingTime: u32 = 0;
  paramCount: i32 = 0;
  readonly params: StaticArray<u8> = new StaticArray<u8>(DHCP_MAX_PARAMS);
  /** Message length: parse sets it, emit pads up to it. */
  length: u32 = DHCP_MIN_LEN;

  reset(): void {
    this.op = BOOTREQUEST;
    this.hops = 0;
    this.xid = 0;
    this.secs = 0;
    this.flags = 0;
    this.ciaddr = 0;
    this.yiaddr = 0;
    this.siaddr = 0;
    this.giaddr = 0;
    this.chaddr = 0;
    this.msgType = 0;
    this.serverId = 0;
    this.requestedIp = 0;
    this.subnetMask = 0;
    this.router = 0;
    this.dnsCount = 0;
    this.leaseTime = 0;
    this.renewalTime = 0;
    this.rebindingTime = 0;
    this.paramCount = 0;
    this.length = DHCP_MIN_LEN;
  }

  /** Reads the `len`-byte message at `p` (the UDP payload). */
  parse(p: usize, len: u32): WireError {
    if (len < DHCP_FIXED_LEN + 4) return WireError.Truncated;
    const op = <u32>load<u8>(p);
    if (op != BOOTREQUEST && op != BOOTREPLY) return WireError.Unsupported;
    if (load<u8>(p + 1) != 1 || load<u8>(p + 2) != 6) return WireError.Unsupported;
    if (be32(p + DHCP_FIXED_LEN) != DHCP_MAGIC) return WireError.BadMagic;
    this.reset();
    this.op = op;
    this.hops = load<u8>(p + 3);
    this.xid = be32(p + 4);
    this.secs = be16(p + 8);
    this.flags = be16(p + 10);
    this.ciaddr = be32(p + 12);
    this.yiaddr = be32(p + 16);
    this.siaddr = be32(p + 20);
    this.giaddr = be32(p + 24);
    this.chaddr = loadMac(p + 28);
    this.length = len;
    let i = DHCP_FIXED_LEN + 4;
    while (i < len) {
      const code = <u32>load<u8>(p + i);
      if (code == OPT_END) break;
      if (code == OPT_PAD) {
        i++;
        continue;
      }
      if (i + 2 > len) return WireError.BadOption;
      const n = <u32>load<u8>(p + i + 1);
      const v = p + i + 2;
      if (i + 2 + n > len) return WireError.BadOption;
      switch (code) {
        case OPT_MSG_TYPE:
          if (n != 1) return WireError.BadOption;
          this.msgType = load<u8>(v);
          break;
        case OPT_SERVER_ID:
        case OPT_REQUESTED_IP:
        case OPT_SUBNET:
        case OPT_LEASE:
        case OPT_T1:
        case OPT_T2: {
          if (n != 4) return WireError.BadOption;
          const x = be32(v);
          if (code == OPT_SERVER_ID) this.serverId = x;
          else if (code == OPT_REQUESTED_IP) this.requestedIp = x;
          else if (code == OPT_SUBNET) this.subnetMask = x;
          else if (code == OPT_LEASE) this.leaseTime = x;
          else if (code == OPT_T1) this.renewalTime = x;
          else this.rebindingTime = x;
          break;
        }
        case OPT_ROUTER:
          if (n < 4 || (n & 3) != 0) return WireError.BadOption;
          this.router = be32(v);
          break;
        case OPT_DNS: {
          if (n < 4 || (n & 3) != 0) return WireError.BadOption;
          let k: i32 = 0;
          for (; k < DHCP_MAX_DNS && <u32>k * 4 < n; k++) unchecked((this.dns[k] = be32(v + <usize>k * 4)));
          this.dnsCount = k;
          break;
        }
        case OPT_PARAMS: {
          let k: i32 = 0;
          for (; k < DHCP_MAX_PARAMS && <u32>k < n; k++) unchecked((this.params[k] = load<u8>(v + k)));
          this.paramCount = k;
          break;
        }
        default:
          break;
      }
      i += 2 + n;
    }
    if (this.msgType == 0) return WireError.BadOption;
    return WireError.Ok;
  }

  /** Writes the message at `p` (room for `cap` bytes); returns its length, or 0 if it does not fit. */
  emit(p: usize, cap: u32): u32 {
    // Options take at most 3+6+6+6+6+14+6+6+6+18+1 bytes after the cookie.
    const need = max<u32>(this.length, DHCP_FIXED_LEN + 4 + 76 + DHCP_MAX_PARAMS);
    if (cap < need) return 0;
    memory.fill(p, 0, need);
    store<u8>(p, <u8>this.op);
    store<u8>(p + 1, 1);
    store<u8>(p + 2, 6);
    store<u8>(p + 3, <u8>this.hops);
    put32(p + 4, this.xid);
    put16(p + 8, this.secs);
    put16(p + 10, this.flags);
    put32(p + 12, this.ciaddr);
    put32(p + 16, this.yiaddr);
    put32(p + 20, this.siaddr);
    put32(p + 24, this.giaddr);
    storeMac(p + 28, this.chaddr);
    put32(p + DHCP_FIXED_LEN, DHCP_MAGIC);
    let q = p + DHCP_FIXED_LEN + 4;
    if (this.msgType) {
      store<u8>(q, <u8>OPT_MSG_TYPE);
      store<u8>(q, 1, 1);
      store<u8>(q, <u8>this.msgType, 2);
      q += 3;
    }
    q = opt32(q, OPT_SERVER_ID, this.serverId);
    q = opt32(q, OPT_REQUESTED_IP, this.requestedIp);
    q = opt32(q, OPT_SUBNET, this.subnetMask);
    q = opt32(q, OPT_ROUTER, this.router);
    if (this.dnsCount > 0) {
      store<u8>(q, <u8>OPT_DNS);
      store<u8>(q, <u8>(this.dnsCount * 4), 1);
      for (let k = 0; k < this.dnsCount; k++) put32(q + 2 + <usize>k * 4, unchecked(this.dns[k]));
      q += 2 + <usize>this.dnsCount * 4;
    }
    q = opt32(q, OPT_LEASE, this.leaseTime);
    q = opt32(q, OPT_T1, this.renewalTime);
    q = opt32(q, OPT_T2, this.rebindingTime);
    if (this.paramCount > 0) {
      store<u8>(q, <u8>OPT_PARAMS);
      store<u8>(q, <u8>this.paramCount, 1);
      for (let k = 0; k < this.paramCount; k++) store<u8>(q + 2 + k, unchecked(this.params[k]));
      q += 2 + <usize>this.paramCount;
    }
    store<u8>(q, <u8>OPT_END);
    q++;
    const used = <u32>(q - p);
    return max<u32>(used, this.length);
  }
}

function opt32(q: usize, code: u32, v: u32): usize {
  if (v == 0) return q;
  store<u8>(q, <u8>code);
  store<u8>(q, 4, 1);
  put32(q + 2, v);
  return q + 6;
}
