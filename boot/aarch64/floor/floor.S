/*
 * The boot-time floor: the same Linux arm64 Image header as the real shim and
 * an entry point that does nothing but exit with code 0 the way plat_exit
 * does (semihosting SYS_EXIT, status (0 << 1) | 1 = 1; without semihosting,
 * PSCI SYSTEM_OFF through HVC). Benchmarks compare the shim's boot wall time
 * against this image. Built on its own (see ../README.md), never linked into
 * a kernel image.
 */
  .section .text.head, "ax"
  .globl _head
_head:
  b _start
  .long 0
  .quad 0                       /* text_offset */
  .quad __image_size
  .quad 0x2
  .quad 0, 0, 0
  .ascii "ARM\x64"
  .long 0

_start:
  adr x1, block
  mov x0, #0x18                 /* SYS_EXIT */
  hlt #0xf000
  ldr x0, =0x84000008           /* PSCI SYSTEM_OFF */
  hvc #0
1: wfi
  b 1b

  .balign 8
block:
  .quad 0x20026                 /* ADP_Stopped_ApplicationExit */
  .quad 1                       /* (0 << 1) | 1 */
