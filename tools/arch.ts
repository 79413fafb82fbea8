// Everything that differs between the architectures uniwasm builds for, in
// one table: the compiler's target flags, how the linked ELF becomes the file
// a loader boots, and how QEMU runs it (machine types, exit device, network
// transports). tools/image.ts and tools/qemu.ts read this table and contain no
// architecture literals of their own.

import { type ToolName } from "./toolchain.ts";

export const ARCHES = ["x86_64", "aarch64"] as const;
export type Arch = (typeof ARCHES)[number];

/** How a virtio device reaches the guest. */
export type Transport = "pci" | "mmio";

export interface MachineSettings {
  /** QEMU's -M value. */
  qemu: string;
  /** The transport of virtio devices when the caller does not choose one. */
  transport: Transport;
  /** The transports this machine has. */
  transports: readonly Transport[];
  /** Extra QEMU arguments this machine needs. */
  args: readonly string[];
}

export interface ArchSettings {
  /** clang flags for everything compiled into the image. */
  cflags: readonly string[];
  /** Further flags for the shim's own sources (boot/<arch>/). */
  shimCflags: readonly string[];
  /** llvm-objcopy's output arguments: the linked ELF -> the file a loader boots. */
  objcopy: readonly string[];
  /** What that file is, for the build log (tools/image-format.ts recognises it). */
  format: string;
  /** The QEMU binary. */
  qemu: ToolName;
  /** -cpu under TCG and under KVM. */
  cpu: { tcg: string; kvm: string };
  /** process.arch of a host whose KVM runs this architecture. */
  hostArch: string;
  /** Machine types, the first the default. */
  machines: Record<string, MachineSettings>;
  /** Arguments every run gets: the device or mechanism the exit code leaves through. */
  exitArgs: readonly string[];
}

const COMMON_CFLAGS = [
  "-ffreestanding", "-nostdlibinc", "-fno-pic", "-fno-pie", "-fno-stack-protector", "-fno-omit-frame-pointer",
  "-fno-math-errno", "-O2", "-ffunction-sections", "-fdata-sections",
];

const VIRTIO_MMIO_MODERN = ["-global", "virtio-mmio.force-legacy=false"]; // QEMU 7.2's default is the legacy layout

export const ARCH: Record<Arch, ArchSettings> = {
  x86_64: {
    cflags: ["--target=x86_64-unknown-none-elf", "-mno-red-zone", "-mcmodel=small", ...COMMON_CFLAGS],
    shimCflags: [],
    // Multiboot loaders want a 32-bit ELF: the same bits with an ELF32 wrapper
    objcopy: ["-O", "elf32-i386"],
    format: "ELF32 wrapper for Multiboot/PVH",
    qemu: "qemuX86",
    cpu: { tcg: "max", kvm: "max" },
    hostArch: "x64",
    machines: {
      pc: { qemu: "pc", transport: "pci", transports: ["pci"], args: ["-vga", "none"] },
      q35: { qemu: "q35", transport: "pci", transports: ["pci"], args: ["-vga", "none"] },
      // microvm without ACPI lists its virtio-mmio devices on the kernel command
      // line (virtio_mmio.device=...), the one discovery mechanism the drivers
      // share with the Node platform; with ACPI they are only in the DSDT (AML).
      microvm: { qemu: "microvm,acpi=off", transport: "mmio", transports: ["mmio"], args: VIRTIO_MMIO_MODERN },
    },
    // the guest writes its code to isa-debug-exit; QEMU exits with (code << 1) | 1
    exitArgs: ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
  },
  aarch64: {
    cflags: ["--target=aarch64-unknown-none-elf", ...COMMON_CFLAGS],
    // the shim reads the device tree with the MMU off, where all memory is
    // Device memory and an unaligned access faults
    shimCflags: ["-mstrict-align"],
    objcopy: ["-O", "binary"],
    format: "Linux arm64 Image",
    qemu: "qemuArm",
    cpu: { tcg: "cortex-a72", kvm: "host" },
    hostArch: "arm64",
    machines: {
      virt: { qemu: "virt", transport: "pci", transports: ["pci", "mmio"], args: VIRTIO_MMIO_MODERN },
      "virt-gicv3": { qemu: "virt,gic-version=3", transport: "pci", transports: ["pci", "mmio"], args: VIRTIO_MMIO_MODERN },
      "virt-el2": { qemu: "virt,virtualization=on", transport: "pci", transports: ["pci", "mmio"], args: VIRTIO_MMIO_MODERN },
    },
    // semihosting SYS_EXIT: the guest exits with (code << 1) | 1 as on x86_64
    exitArgs: ["-semihosting-config", "enable=on,target=native"],
  },
};

/** Every machine type of every architecture (for the command line's choices). */
export const MACHINES: string[] = ARCHES.flatMap((a) => Object.keys(ARCH[a].machines));
