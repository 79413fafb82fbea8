// Puts a virtio device model on a machine's MMIO bus and tells the kernel
// where it is, the way Linux and QEMU's microvm do: a
// `virtio_mmio.device=<size>@<base>:<irq>` argument on the command line.

import type { Machine } from "../machine.ts";
import type { VirtioDevice } from "./device.ts";
import { VirtioMmio, VIRTIO_MMIO_SIZE } from "./mmio.ts";

export const VIRTIO_MMIO_DEFAULT_BASE = 0xfeb0_0000n;
export const VIRTIO_MMIO_FIRST_LINE = 16;

export interface AttachOptions {
  /** Physical base of the 0x200-byte register window. Default 0xfeb00000 + n * 0x200 for the n-th device. */
  base?: bigint;
  /** Interrupt line (0..63). Default 16 + n. */
  line?: number;
}

const attached = new WeakMap<Machine, number>();

/** Attaches `device` at `base` with interrupt `line`, and appends it to the kernel command line. */
export function attachVirtioMmio(machine: Machine, device: VirtioDevice, opts: AttachOptions = {}): VirtioMmio {
  if (device.machine !== machine) throw new Error("attachVirtioMmio: the device model was made for another machine");
  if (device.line >= 0) throw new Error(`attachVirtioMmio: ${device.name} is already attached`);
  const n = attached.get(machine) ?? 0;
  attached.set(machine, n + 1);
  const base = opts.base ?? VIRTIO_MMIO_DEFAULT_BASE + BigInt(n) * BigInt(VIRTIO_MMIO_SIZE);
  const line = opts.line ?? VIRTIO_MMIO_FIRST_LINE + n;
  if (!Number.isInteger(line) || line < 0 || line > 63) throw new Error(`attachVirtioMmio: interrupt line ${line} is not in 0..63`);
  const mmio = new VirtioMmio(device);
  device.line = line;
  machine.attachMmio(base, BigInt(VIRTIO_MMIO_SIZE), mmio);
  machine.appendCmdline(`virtio_mmio.device=${VIRTIO_MMIO_SIZE}@0x${base.toString(16)}:${line}`);
  return mmio;
}
