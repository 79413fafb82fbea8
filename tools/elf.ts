// Just enough ELF64 reading for the image builder: section sizes for the size
// report, and function symbols for the trap-report symbol table.

import { UserError } from "./errors.ts";

export interface ElfSection {
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  size: bigint;
}

export interface ElfSymbol {
  name: string;
  value: bigint;
  size: bigint;
  isFunction: boolean;
}

const SHT_SYMTAB = 2;
const SHT_NOBITS = 8;
const SHF_WRITE = 1n;
const SHF_ALLOC = 2n;
const SHF_EXECINSTR = 4n;
const STT_FUNC = 2;

export class Elf64 {
  readonly sections: ElfSection[] = [];
  readonly symbols: ElfSymbol[] = [];

  constructor(readonly bytes: Uint8Array, label: string) {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 64 || v.getUint32(0) !== 0x7f454c46 || bytes[4] !== 2) throw new UserError(`${label} is not an ELF64 file`);
    const shoff = Number(v.getBigUint64(0x28, true));
    const shentsize = v.getUint16(0x3a, true);
    const shnum = v.getUint16(0x3c, true);
    const shstrndx = v.getUint16(0x3e, true);
    const raw: { nameOff: number; type: number; flags: bigint; addr: bigint; offset: number; size: bigint; link: number; entsize: number }[] = [];
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      raw.push({
        nameOff: v.getUint32(o, true),
        type: v.getUint32(o + 4, true),
        flags: v.getBigUint64(o + 8, true),
        addr: v.getBigUint64(o + 16, true),
        offset: Number(v.getBigUint64(o + 24, true)),
        size: v.getBigUint64(o + 32, true),
        link: v.getUint32(o + 40, true),
        entsize: Number(v.getBigUint64(o + 56, true)),
      });
    }
    const str = (sec: (typeof raw)[number], off: number) => {
      let end = sec.offset + off;
      while (bytes[end]) end++;
      return new TextDecoder().decode(bytes.subarray(sec.offset + off, end));
    };
    for (const s of raw) this.sections.push({ name: str(raw[shstrndx], s.nameOff), type: s.type, flags: s.flags, addr: s.addr, size: s.size });
    for (const s of raw) {
      if (s.type !== SHT_SYMTAB) continue;
      const strtab = raw[s.link];
      for (let o = s.offset; o + 24 <= s.offset + Number(s.size); o += s.entsize || 24) {
        const info = bytes[o + 4];
        this.symbols.push({
          name: str(strtab, v.getUint32(o, true)),
          value: v.getBigUint64(o + 8, true),
          size: v.getBigUint64(o + 16, true),
          isFunction: (info & 0xf) === STT_FUNC,
        });
      }
    }
  }

  /** Loaded bytes by kind, as `size` reports them. */
  sizes(): { text: number; data: number; bss: number } {
    let text = 0, data = 0, bss = 0;
    for (const s of this.sections) {
      if (!(s.flags & SHF_ALLOC)) continue;
      const n = Number(s.size);
      if (s.type === SHT_NOBITS) bss += n;
      else if (s.flags & SHF_EXECINSTR || !(s.flags & SHF_WRITE)) text += n;
      else data += n;
    }
    return { text, data, bss };
  }

  /** End address of executable sections (code addresses beyond are not code). */
  textEnd(): bigint {
    let end = 0n;
    for (const s of this.sections) if (s.flags & SHF_EXECINSTR && s.addr + s.size > end) end = s.addr + s.size;
    return end;
  }
}
