// The architectures every QEMU integration test runs on, and what differs
// between them in what a test expects. Each QEMU test file runs its cases
// once per entry (describe.each(TEST_ARCHES)).

import { ARCH, type Arch } from "../../tools/arch.ts";
import { findTool, TOOLS } from "../../tools/toolchain.ts";

export interface TestArch {
  arch: Arch;
  /** QEMU for this architecture and clang are installed. */
  available: boolean;
  /** A second machine type the boot test also runs hello on. */
  otherMachines: string[];
  /** The CPU exception report for a read of unmapped device memory at 0xdead0000. */
  mmioFault: { title: string; detail: RegExp; pc: RegExp; address: string };
  /** The virtio transports its machines offer (each is tested). */
  transports: ("pci" | "mmio")[];
}

const clang = !!findTool(TOOLS.clang);

export const TEST_ARCHES: TestArch[] = [
  {
    arch: "x86_64",
    available: clang && !!findTool(TOOLS[ARCH.x86_64.qemu]),
    otherMachines: ["microvm"],
    mmioFault: { title: "*** CPU exception: page fault (#PF)", detail: /vector 14, error code 0x[0-9a-f]+/, pc: /rip 0x[0-9a-f]+ plat_mmio_read\+0x/, address: "cr2 0xdead0000" },
    transports: ["pci", "mmio"],
  },
  {
    arch: "aarch64",
    available: clang && !!findTool(TOOLS[ARCH.aarch64.qemu]),
    otherMachines: ["virt-gicv3", "virt-el2"],
    mmioFault: { title: "*** CPU exception: data abort", detail: /synchronous, EC 0x25, ESR 0x[0-9a-f]+/, pc: /elr 0x[0-9a-f]+ plat_mmio_read\+0x/, address: "far 0xdead0000 (not mapped, read)" },
    transports: ["pci", "mmio"],
  },
];

/** The machine type on which `transport` is tested for this architecture. */
export function machineFor(a: TestArch, transport: "pci" | "mmio"): string | undefined {
  if (a.arch === "x86_64") return transport === "mmio" ? "microvm" : "pc";
  return "virt";
}
