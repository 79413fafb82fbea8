// TcpOutput over the kernel's IPv4 interface (kernel/net/iface.ts): TCP's
// segments go out through Interface.output (routing, ARP, one copy into a
// packet buffer) with don't-fragment set, as TCP sizes segments to the MTU.
// The receive side is `iface.tcp = stack`: the interface hands protocol 6,
// and ICMP errors quoting TCP, to the stack.

import { Interface } from "../iface";
import { IP_PROTO_TCP } from "../wire/ipv4";
import { TcpOutput } from "./ip";

export class IfaceTcpOutput extends TcpOutput {
  constructor(readonly iface: Interface) {
    super();
  }
  send(src: u32, dst: u32, ptr: usize, len: u32): bool {
    return this.iface.output(IP_PROTO_TCP, src, dst, ptr, len, 0, 0, true) == 0;
  }
  mtuFor(dst: u32): u32 {
    return this.iface.mtu - 20;
  }
  sourceFor(dst: u32): u32 {
    return this.iface.addr;
  }
}
