// `uniwasm export --libvirt`: a libvirt domain for an image, and optionally an
// isolated libvirt network for it (docs/deploying.md).
//
// The domain is what libvirt accepts as it is, with nothing it would have to
// guess: QEMU under TCG (type qemu), or KVM with the host's CPU passed
// through (--accel kvm), direct kernel boot (<kernel> + <cmdline>, no
// firmware, disk or initrd), ACPI on (the
// power button and soft-off: boot/x86_64/README.md "Exit"), no USB, balloon,
// graphics or video, the serial console to a file (where `exit code N` is
// read back), pvpanic (libvirt reports a failed guest as crashed), the
// `destroy` action for power-off, reboot and crash (a unikernel that ends is
// done; a reset is the shim's last resort, never a reason to boot again),
// virtio-net (non-transitional: the driver is modern-only) on the given
// network or bridge, and no security relabelling (libvirt would otherwise
// chown the image for each run).
//
// aarch64 differs where libvirt does: ACPI there needs UEFI firmware, so the
// domain has none; the power button is the device tree's gpio-keys on QEMU's
// virt machine (boot/aarch64, same stop request as x86_64's ACPI button), and
// libvirt 9.0 offers no panic device for aarch64 (the shim raises a
// pvpanic-pci where there is one; libvirt offers it in later releases), so
// a failed aarch64 guest ends as a shutdown and its console's `exit code N`
// is the only record of the code.

import { UserError } from "./errors.ts";
import { sizeBytes } from "./qemu.ts";
import type { Arch } from "./arch.ts";

export interface DomainOptions {
  name: string;
  arch: Arch;
  /** Absolute path of the image (QEMU's -kernel). */
  image: string;
  /** "64M" style. */
  memory: string;
  cmdline?: string;
  /** A libvirt network's name, or a host bridge; neither: no NIC. */
  network?: string;
  bridge?: string;
  /** Absolute path of the console file. */
  console: string;
  /** Virtual CPUs (the kernel uses one). */
  vcpus?: number;
  /** "tcg" (domain type qemu, the default) or "kvm" (type kvm, the host's CPU passed through). */
  accel?: "tcg" | "kvm";
}

export interface NetworkOptions {
  name: string;
  /** The host bridge libvirt creates (at most 15 characters). */
  bridge: string;
  /** The host's address and prefix on it, e.g. 10.79.0.1/24; DHCP hands out the rest. */
  address: string;
}

/** libvirt's name rules, checked before libvirt sees them (its message names no option). */
export function checkName(what: string, v: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/.test(v)) throw new UserError(`${what} "${v}": expected 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit`);
  return v;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&apos;").replace(/"/g, "&quot;");

/** What a domain says differently per architecture: machine, features, CPU, panic device. */
interface ArchDomain {
  machine: string;
  features: string;
  cpu: string;
  panic: string;
}

const ARCH_DOMAIN: Record<Arch, ArchDomain> = {
  x86_64: {
    machine: "pc",
    features: "    <acpi/>\n",
    cpu: "<cpu mode='maximum' check='none'/>",
    panic: "    <panic model='isa'>\n      <address type='isa' iobase='0x505'/>\n    </panic>\n",
  },
  aarch64: {
    machine: "virt",
    features: "    <gic version='2'/>\n",
    // the CPU uniwasm boot gives TCG (tools/arch.ts); under KVM the host's own
    cpu: "<cpu mode='custom' match='exact' check='none'>\n    <model fallback='forbid'>cortex-a72</model>\n  </cpu>",
    panic: "",
  },
};

export function domainXml(o: DomainOptions): string {
  checkName("--name", o.name);
  const a = ARCH_DOMAIN[o.arch];
  const kvm = o.accel === "kvm";
  if (o.network && o.bridge) throw new UserError("--network and --bridge: give one (a libvirt network, or a host bridge)");
  const kib = Math.ceil(sizeBytes(o.memory) / 1024);
  const nic = o.network
    ? `    <interface type='network'>\n      <source network='${esc(o.network)}'/>\n      <model type='virtio-non-transitional'/>\n    </interface>\n`
    : o.bridge
      ? `    <interface type='bridge'>\n      <source bridge='${esc(o.bridge)}'/>\n      <model type='virtio-non-transitional'/>\n    </interface>\n`
      : "";
  return `<domain type='${kvm ? "kvm" : "qemu"}'>
  <name>${esc(o.name)}</name>
  <memory unit='KiB'>${kib}</memory>
  <currentMemory unit='KiB'>${kib}</currentMemory>
  <vcpu>${o.vcpus ?? 1}</vcpu>
  <os>
    <type arch='${o.arch}' machine='${a.machine}'>hvm</type>
    <kernel>${esc(o.image)}</kernel>
    <cmdline>${esc(o.cmdline ?? "")}</cmdline>
  </os>
  <features>
${a.features}  </features>
  ${kvm ? "<cpu mode='host-passthrough' check='none'/>" : a.cpu}
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
${nic}    <serial type='file'>
      <source path='${esc(o.console)}'/>
      <target port='0'/>
    </serial>
    <console type='file'>
      <source path='${esc(o.console)}'/>
      <target type='serial' port='0'/>
    </console>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <video>
      <model type='none'/>
    </video>
${a.panic}  </devices>
  <seclabel type='none' model='dac'/>
</domain>
`;
}

/** An isolated network (no forwarding) with DHCP; dnsmasq's no-ping skips its ~2 s probe per new lease. */
export function networkXml(o: NetworkOptions): string {
  checkName("--network", o.name);
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(o.bridge)) throw new UserError(`bridge "${o.bridge}": expected 1-15 letters, digits, '.', '_' or '-' (a Linux interface name)`);
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(o.address);
  const oct = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : -1;
  if (!m || oct.some((x) => x > 255) || prefix < 8 || prefix > 30) throw new UserError(`--isolated-network ${o.address}: expected the host's address and a prefix of 8-30 bits, e.g. 10.79.0.1/24`);
  const addr = ((oct[0] << 24) | (oct[1] << 16) | (oct[2] << 8) | oct[3]) >>> 0;
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  const net = (addr & mask) >>> 0;
  const last = (net | (~mask >>> 0)) >>> 0;
  if (addr === net || addr === last) throw new UserError(`--isolated-network ${o.address}: that is the subnet's ${addr === net ? "network" : "broadcast"} address, not a host's`);
  const ip = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
  // DHCP: the larger side of the host's address within the subnet
  const [start, end] = addr - net <= last - addr ? [addr + 1, last - 1] : [net + 1, addr - 1];
  if (end < start) throw new UserError(`--isolated-network ${o.address}: the subnet leaves no address for a guest`);
  return `<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>
  <name>${esc(o.name)}</name>
  <bridge name='${esc(o.bridge)}' stp='off' delay='0'/>
  <ip address='${ip(addr)}' netmask='${ip(mask)}'>
    <dhcp>
      <range start='${ip(start)}' end='${ip(end)}'/>
    </dhcp>
  </ip>
  <dnsmasq:options>
    <dnsmasq:option value='no-ping'/>
  </dnsmasq:options>
</network>
`;
}
