// Static or DHCP configuration, chosen by the app or by the kernel command
// line: `ip=10.0.2.15/24 gw=10.0.2.2 dns=10.0.2.3`, or `ip=dhcp`.

import { commandLine, cmdlineValue } from "../cmdline";
import { NetStack } from "./stack";
import { DhcpClient, DhcpState } from "./dhcp";
import { Task } from "../sched/task";
import { SEC } from "../sched/time";
import { parseIp, parsedIp } from "./wire/bytes";

export class NetConfig {
  /** An `ip=` argument was present. */
  present: bool = false;
  dhcp: bool = false;
  addr: u32 = 0;
  prefixLen: i32 = 24;
  gateway: u32 = 0;
  dns: u32 = 0;
  mtu: u32 = 0;
  /** What was wrong, if anything ("" when fine). */
  error: string = "";
}

/** Parses the network arguments of a command line (the kernel's own if `line` is null). */
export function parseNetConfig(line: string | null = null): NetConfig {
  const text = line != null ? line : commandLine();
  const c = new NetConfig();
  const ip = cmdlineValue("ip", text);
  if (ip == null) return c;
  c.present = true;
  if (ip == "dhcp") c.dhcp = true;
  else {
    let a = ip;
    const slash = ip.indexOf("/");
    if (slash >= 0) {
      a = ip.substring(0, slash);
      const p = I32.parseInt(ip.substring(slash + 1));
      if (!(p >= 0 && p <= 32)) c.error = "bad prefix length in ip=" + ip;
      else c.prefixLen = p;
    }
    if (!parseIp(a)) c.error = "bad address in ip=" + ip;
    else c.addr = parsedIp;
  }
  const gw = cmdlineValue("gw", text);
  if (gw != null) {
    if (parseIp(gw)) c.gateway = parsedIp;
    else c.error = "bad gw=" + gw;
  }
  const dns = cmdlineValue("dns", text);
  if (dns != null) {
    if (parseIp(dns)) c.dns = parsedIp;
    else c.error = "bad dns=" + dns;
  }
  const mtu = cmdlineValue("mtu", text);
  if (mtu != null) {
    const m = I32.parseInt(mtu);
    if (m >= 68 && m <= 9000) c.mtu = <u32>m;
    else c.error = "bad mtu=" + mtu;
  }
  return c;
}

/** Applies a static configuration (not `dhcp`; its `mtu=` applies either way) to `net`. */
export function applyStatic(net: NetStack, c: NetConfig): void {
  if (c.mtu) net.ip.mtu = min<u32>(net.ip.mtu, c.mtu);
  if (c.dhcp) return;
  net.setAddress(c.addr, c.prefixLen);
  if (c.gateway) net.setGateway(c.gateway);
  if (c.dns) net.dns0 = c.dns;
}

export enum Addressing {
  Waiting,
  Ready,
  TimedOut,
}

/**
 * A task's wait for its stack's address: at once when it is static,
 * else a DHCP lease (the client starts here). The task calls `poll` from
 * its `run` until it stops saying Waiting.
 */
export class AddressWait {
  /** The DHCP client, when the address comes from a lease. */
  readonly dhcp: DhcpClient | null;

  constructor(net: NetStack, useDhcp: bool, readonly since: u64, readonly timeoutNs: u64 = 30 * SEC) {
    const d = useDhcp ? new DhcpClient(net) : null;
    if (d) d.start();
    this.dhcp = d;
  }

  /** Waiting re-arms `task` on the next lease (looking again within a second). */
  poll(task: Task, now: u64): Addressing {
    const d = this.dhcp;
    if (d == null || d.state == DhcpState.Bound) return Addressing.Ready;
    if (now - this.since > this.timeoutNs) return Addressing.TimedOut;
    task.waitOn(d.bound, 1 * SEC);
    return Addressing.Waiting;
  }
}
