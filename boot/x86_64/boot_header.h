/*
 * Boot headers shared by entry.S and floor/floor.S (assembler only).
 *
 * MULTIBOOT_HEADER: a Multiboot v1 header (QEMU -M pc, via its multiboot
 *   option ROM). Flags: bit 0 (page-align modules) | bit 1 (memory map).
 *   Bit 16 (the a.out kludge) is NOT set: the image is delivered as an ELF32
 *   file (llvm-objcopy -O elf32-i386 of the ELF64 link) and QEMU loads its
 *   PT_LOAD segments by physical address. QEMU refuses ELF64 multiboot
 *   kernels ("Cannot load x86-64 image, give a 32-bit one.").
 * PVH_NOTE entry: the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY (type 18) naming
 *   the 32-bit PVH entry point (QEMU -M microvm via qboot, and -M pc/q35 when
 *   no multiboot header is found).
 */
#define MB1_MAGIC 0x1BADB002
#define MB1_FLAGS 0x00000003

.macro MULTIBOOT_HEADER
  .pushsection .multiboot, "a"
  .balign 4
  .long MB1_MAGIC
  .long MB1_FLAGS
  .long -(MB1_MAGIC + MB1_FLAGS)
  .popsection
.endm

.macro PVH_NOTE entry
  .pushsection .note.pvh, "a", @note
  .balign 4
  .long 4             /* namesz: "Xen\0" */
  .long 4             /* descsz */
  .long 18            /* XEN_ELFNOTE_PHYS32_ENTRY */
  .asciz "Xen"
  .balign 4
  .long \entry
  .popsection
.endm
