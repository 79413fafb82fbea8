// What `boot` is given, checked before QEMU starts: a bootable image in one
// of the formats of IMAGE_FORMATS (one entry per loader protocol and
// architecture; a new architecture adds its entries), or a plain statement
// of what the file is instead. Also the RAM an image needs, so `--mem` below
// it is refused instead of hanging in the loader.

import { readFileSync } from "node:fs";
import { UserError } from "./errors.ts";
import { type Arch } from "./arch.ts";

export interface ImageFormat {
  /** For messages: "Multiboot ELF (x86_64)". */
  name: string;
  arch: Arch;
  /** True when the bytes are an image of this format. */
  matches(bytes: Uint8Array): boolean;
  /** One past the highest physical address the loader fills (code, data, bss). */
  loadEnd(bytes: Uint8Array): bigint;
  /** Physical address where the machine's RAM starts (the `-m` size counts from there). */
  ramBase: bigint;
}

/** The facts the image builder leaves in every image (entry.c): the tag, then u32 initial and maximum wasm pages. */
export const IMAGE_INFO_TAG = "uwimage1";
const WASM_PAGE = 65536n;
/** Room for what the loader and firmware put after the image (boot information, command line, memory map). */
const LOADER_SLACK = 256n * 1024n;

/** QEMU virt's RAM base, and where its loader puts an arm64 Image above it. */
const VIRT_RAM = 0x4000_0000n;
const ARM64_BASE_OFFSET = 2n << 20n;
const VIRT_DTB = 1n << 20n;
const alignUp = (x: bigint, a: bigint) => (x + a - 1n) / a * a;

export const IMAGE_FORMATS: ImageFormat[] = [
  {
    name: "Multiboot ELF (x86_64)",
    arch: "x86_64",
    // QEMU's Multiboot loader takes ELF32 only (the builder wraps the ELF64 kernel)
    matches: (b) => isElf(b) && b[4] === 1 && multibootHeader(b),
    loadEnd: (b) => elfLoadEnd(b),
    ramBase: 0n,
  },
  {
    name: "PVH ELF (x86_64)",
    arch: "x86_64",
    // QEMU tries Multiboot first: an ELF64 with a Multiboot header fails there before PVH is looked at
    matches: (b) => isElf(b) && [3, 62].includes(elfMachine(b)!) && hasPvhNote(b) && !(b[4] === 2 && multibootHeader(b)),
    loadEnd: (b) => elfLoadEnd(b),
    ramBase: 0n,
  },
  {
    name: "Linux arm64 Image (aarch64)",
    arch: "aarch64",
    // the header's magic at 56, and a non-zero image_size (without it a loader guesses the size)
    matches: (b) => b.length >= 64 && String.fromCharCode(...b.subarray(56, 60)) === "ARMd" && view(b).getBigUint64(16, true) > 0n,
    // QEMU virt: RAM at 1 GiB; the loader puts an Image whose text_offset is
    // below 2 MiB at RAM + 2 MiB + text_offset (its own stub sits below), and
    // the device tree (1 MiB) at the next 2 MiB boundary after it, refusing to
    // start when that does not fit
    loadEnd: (b) => alignUp(VIRT_RAM + ARM64_BASE_OFFSET + view(b).getBigUint64(8, true) + view(b).getBigUint64(16, true), ARM64_BASE_OFFSET) + VIRT_DTB,
    ramBase: VIRT_RAM,
  },
];

/** The architecture of the image at `path`, or undefined for a file in no known format. */
export function imageArch(path: string): Arch | undefined {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  return IMAGE_FORMATS.find((f) => f.matches(bytes))?.arch;
}


export interface CheckedImage {
  format: ImageFormat;
  /** Bytes of RAM the image needs at least (rounded up to MiB), when known. */
  minMemory: number;
}

/** Reads `path` and says which format it is in for `arch`, or throws a UserError saying what it is. */
export function checkImage(path: string, arch: Arch): CheckedImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e: any) {
    throw new UserError(`${path}: cannot read the image (${e.code ?? e.message})`);
  }
  const format = IMAGE_FORMATS.find((f) => f.matches(bytes));
  if (!format) throw new UserError(`${path} is not a bootable image: ${describe(bytes, path)}`);
  if (format.arch !== arch) throw new UserError(`${path} is a ${format.name} image, not one for ${arch} (use --arch ${format.arch})`);
  return { format, minMemory: minMemory(format, bytes) };
}

function minMemory(format: ImageFormat, bytes: Uint8Array): number {
  const info = imageInfo(bytes);
  const linear = info ? BigInt(info.initialPages) * WASM_PAGE : 0n;
  const need = format.loadEnd(bytes) - format.ramBase + LOADER_SLACK + linear;
  const mib = 1n << 20n;
  return Number(((need + mib - 1n) / mib) * mib);
}

/** The builder's facts in the image, or undefined for an image built elsewhere. */
export function imageInfo(bytes: Uint8Array): { initialPages: number; maximumPages: number } | undefined {
  const at = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(IMAGE_INFO_TAG);
  if (at < 0 || at + 16 > bytes.length) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset + at + 8, 8);
  return { initialPages: v.getUint32(0, true), maximumPages: v.getUint32(4, true) };
}

/** What a file that is no image is, in words a user recognises. */
export function describe(b: Uint8Array, path = ""): string {
  const s = (i: number, n: number) => String.fromCharCode(...b.subarray(i, i + n));
  if (b.length === 0) return "the file is empty";
  if (isElf(b) && b[4] === 2 && multibootHeader(b)) return "an ELF64 with a Multiboot header, which QEMU loads only as ELF32 (boot the .img the image builder wrote beside it)";
  if (isElf(b)) {
    const m = elfMachine(b);
    const machine = m === undefined ? "unknown machine" : ({ 3: "i386", 62: "x86_64", 183: "aarch64", 40: "arm", 243: "riscv" } as Record<number, string>)[m] ?? `machine ${m}`;
    const type = ({ 1: "relocatable object", 2: "executable", 3: "shared object or PIE", 4: "core dump" } as Record<number, string>)[b[16] | (b[17] << 8)] ?? "file";
    return `an ELF${b[4] === 2 ? "64" : "32"} ${type} for ${machine} without a Multiboot header or PVH note (not built by uniwasm image?)`;
  }
  if (s(0, 4) === "\0asm") return "a WebAssembly module (run it with uniwasm node <app>, or build an image with uniwasm image <app>)";
  if (b.length >= 64 && s(56, 4) === "ARMd") return "a Linux arm64 Image";
  if (s(0, 2) === "MZ") return "a PE/COFF (Windows or EFI) executable";
  if (b[0] === 0x1f && b[1] === 0x8b) return "gzip-compressed data";
  if (s(0, 4) === "PK\x03\x04") return "a zip archive";
  if (s(0, 2) === "#!") return "a script";
  if (isText(b)) {
    if (/\.(ts|js)$/.test(path)) return "source code, not an image (boot the app's folder to build and boot it)";
    return "a text file";
  }
  return "unknown data (no ELF, Multiboot or PVH header)";
}

function isText(b: Uint8Array): boolean {
  const n = Math.min(b.length, 4096);
  for (let i = 0; i < n; i++) if (b[i] < 9 || (b[i] > 13 && b[i] < 32)) return false;
  return true;
}

function isElf(b: Uint8Array): boolean {
  return b.length >= 52 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46 && (b[4] === 1 || b[4] === 2) && b[5] === 1;
}

function elfMachine(b: Uint8Array): number | undefined {
  return isElf(b) ? b[18] | (b[19] << 8) : undefined;
}

/** Multiboot v1: the magic 0x1BADB002, 4-byte aligned in the first 8 KiB, with a checksum that sums to zero. */
function multibootHeader(b: Uint8Array): boolean {
  const v = view(b);
  for (let i = 0; i + 12 <= Math.min(b.length, 8192); i += 4) {
    if (v.getUint32(i, true) !== 0x1badb002) continue;
    if (((v.getUint32(i, true) + v.getUint32(i + 4, true) + v.getUint32(i + 8, true)) >>> 0) === 0) return true;
  }
  return false;
}

interface Phdr {
  type: number;
  offset: number;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
}

function programHeaders(b: Uint8Array): Phdr[] {
  const v = view(b);
  const is64 = b[4] === 2;
  const phoff = is64 ? Number(v.getBigUint64(0x20, true)) : v.getUint32(0x1c, true);
  const entsize = v.getUint16(is64 ? 0x36 : 0x2a, true);
  const num = v.getUint16(is64 ? 0x38 : 0x2c, true);
  const out: Phdr[] = [];
  for (let i = 0; i < num; i++) {
    const o = phoff + i * entsize;
    if (o + (is64 ? 56 : 32) > b.length) break;
    out.push(
      is64
        ? { type: v.getUint32(o, true), offset: Number(v.getBigUint64(o + 8, true)), paddr: v.getBigUint64(o + 24, true), filesz: v.getBigUint64(o + 32, true), memsz: v.getBigUint64(o + 40, true) }
        : { type: v.getUint32(o, true), offset: v.getUint32(o + 4, true), paddr: BigInt(v.getUint32(o + 12, true)), filesz: BigInt(v.getUint32(o + 16, true)), memsz: BigInt(v.getUint32(o + 20, true)) },
    );
  }
  return out;
}

function elfLoadEnd(b: Uint8Array): bigint {
  let end = 0n;
  for (const p of programHeaders(b)) if (p.type === 1 && p.paddr + p.memsz > end) end = p.paddr + p.memsz;
  return end;
}

/** A PT_NOTE holding Xen's note 18 (XEN_ELFNOTE_PHYS32_ENTRY): QEMU's PVH entry point. */
function hasPvhNote(b: Uint8Array): boolean {
  const v = view(b);
  for (const p of programHeaders(b)) {
    if (p.type !== 4) continue;
    let o = p.offset;
    const end = p.offset + Number(p.filesz);
    while (o + 12 <= end && end <= b.length) {
      const namesz = v.getUint32(o, true);
      const descsz = v.getUint32(o + 4, true);
      const type = v.getUint32(o + 8, true);
      const name = String.fromCharCode(...b.subarray(o + 12, o + 12 + Math.max(0, namesz - 1)));
      if (name === "Xen" && type === 18) return true;
      o += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
    }
  }
  return false;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
