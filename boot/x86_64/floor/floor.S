/*
 * The boot-time floor: the same Multiboot header and PVH note as the real
 * shim, and entry points that do nothing but write 0 to QEMU's isa-debug-exit
 * port (QEMU exits with status 1). Benchmarks compare the shim's boot wall
 * time against this image. Built on its own (see ../README.md), never linked
 * into a kernel image.
 */
#include "../boot_header.h"

MULTIBOOT_HEADER
PVH_NOTE _start_pvh

  .section .text.boot32, "ax"
  .code32
  .globl _start32
  .globl _start_pvh
_start32:
_start_pvh:
  xorl %eax, %eax
  outl %eax, $0xf4
1: cli
  hlt
  jmp 1b
