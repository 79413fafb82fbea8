/*
 * The Linux arm64 Image header, the entry point, and the exception vectors.
 *
 * A loader that boots Linux (QEMU -M virt -kernel, U-Boot's booti) loads the
 * image at a 2 MiB-aligned base + text_offset (0) and enters it at its first
 * byte with the MMU off, x0 = physical address of the device tree, at EL2 or
 * EL1. The image is linked at one such address (linker.ld); entered anywhere
 * else it stops at once (PSCI is not known yet: it spins in WFE).
 *
 * Entry: read the counter (the clock's origin), drop from EL2 to EL1 if
 * entered at EL2, install the vectors, enable FP/SIMD, zero .bss, put the
 * exception stack in SP_EL1 and run everything else on SP_EL0 with the boot
 * stack (so an exception -- a kernel stack overflow included -- always finds
 * a good stack), and call boot_main(dtb).
 */
#define BOOT_STACK_SIZE (256 * 1024)
#define EXC_STACK_SIZE (16 * 1024)

  .section .text.head, "ax"
  .globl _head
_head:
  b _start                      /* code0 */
  .long 0                       /* code1 */
  .quad 0                       /* text_offset */
  .quad __image_size            /* image_size: memory the image occupies, .bss included */
  .quad 0x2                     /* flags: little-endian, 4 KiB pages, 2 MiB-aligned base near DRAM start */
  .quad 0, 0, 0                 /* res2..res4 */
  .ascii "ARM\x64"              /* magic */
  .long 0                       /* res5 (no PE/COFF header) */

_start:
  mrs x19, cntvct_el0
  mov x20, x0                   /* the device tree */
  adr x1, _head
  ldr x2, =_head
  cmp x1, x2
  b.ne wrong_address
  mrs x21, CurrentEL
  lsr x21, x21, #2               /* the EL we were entered at */
  cmp x21, #2
  b.ne at_el1
  /* EL2 -> EL1: EL1 is AArch64, its timer and counter and FP are not trapped,
   * no virtual offset, GICv3 system registers usable from EL1 (if present). */
  mov x1, #(1 << 31)            /* HCR_EL2.RW */
  msr hcr_el2, x1
  mov x1, #3                    /* CNTHCTL_EL2: EL1PCTEN | EL1PCEN */
  msr cnthctl_el2, x1
  msr cntvoff_el2, xzr
  mov x1, #0x33ff               /* CPTR_EL2: no FP/SIMD traps */
  msr cptr_el2, x1
  msr hstr_el2, xzr
  mrs x1, midr_el1
  msr vpidr_el2, x1
  mrs x1, mpidr_el1
  msr vmpidr_el2, x1
  mrs x1, id_aa64pfr0_el1
  ubfx x1, x1, #24, #4          /* GIC system-register interface */
  cbz x1, 1f
  mrs x1, S3_4_C12_C9_5         /* ICC_SRE_EL2 */
  orr x1, x1, #0x8              /* Enable: EL1 may use ICC_SRE_EL1 */
  orr x1, x1, #0x1              /* SRE */
  msr S3_4_C12_C9_5, x1
  isb
1:
  ldr x1, =0x30d00800           /* SCTLR_EL1: RES1 bits, MMU and caches off */
  msr sctlr_el1, x1
  mov x1, #0x3c5                /* SPSR_EL2: EL1h, DAIF masked */
  msr spsr_el2, x1
  adr x1, at_el1
  msr elr_el2, x1
  eret

at_el1:
  msr daifset, #0xf
  ldr x1, =vectors
  msr vbar_el1, x1
  mov x1, #(3 << 20)            /* CPACR_EL1.FPEN: no FP/SIMD traps */
  msr cpacr_el1, x1
  isb
  ldr x1, =boot_cnt0
  str x19, [x1]
  ldr x1, =boot_el
  str x21, [x1]
  /* zero .bss (page tables and stacks are in .noinit instead) */
  ldr x1, =__bss_start
  ldr x2, =__bss_end
2:
  cmp x1, x2
  b.hs 3f
  stp xzr, xzr, [x1], #16
  b 2b
3:
  ldr x1, =exc_stack_top        /* SP_EL1: exceptions */
  mov sp, x1
  msr spsel, #0                 /* from here on SP is SP_EL0: the boot stack */
  ldr x1, =__stack_top
  mov sp, x1
  mov x29, #0                   /* end of the frame-pointer chain */
  mov x30, #0
  mov x0, x20
  bl boot_main
4:
  wfe
  b 4b

wrong_address:
  wfe
  b wrong_address

/* ---- exception vectors: 16 entries of 0x80 bytes ----
 * The kernel runs on SP_EL0, so its exceptions arrive in the first group
 * ("current EL, SP0"); the second group ("current EL, SPx") only sees
 * exceptions raised while handling one. IRQs from the first group go to
 * irq_dispatch and return; everything else ends in trap_exception's report,
 * with `kind` = the entry's index (0..15). */
/* op (stp or ldp) on x0..x29 in pairs at [base, #0], #16, ... */
.macro XPAIRS op, base
  .set off, 0
  .irp p, "x0, x1", "x2, x3", "x4, x5", "x6, x7", "x8, x9", "x10, x11", "x12, x13", "x14, x15", "x16, x17", "x18, x19", "x20, x21", "x22, x23", "x24, x25", "x26, x27", "x28, x29"
  \op \p, [\base, #off]
  .set off, off + 16
  .endr
.endm

/* op on q0..q31 in pairs, post-incrementing base */
.macro QPAIRS op, base
  .irp p, "q0, q1", "q2, q3", "q4, q5", "q6, q7", "q8, q9", "q10, q11", "q12, q13", "q14, q15", "q16, q17", "q18, q19", "q20, q21", "q22, q23", "q24, q25", "q26, q27", "q28, q29", "q30, q31"
  \op \p, [\base], #32
  .endr
.endm

.macro SAVE_FRAME
  sub sp, sp, #(36 * 8)
  XPAIRS stp, sp
.endm

.macro VECTOR kind
  .balign 0x80
  SAVE_FRAME
  mov x1, #\kind
  b exc_common
.endm

  .section .text.vectors, "ax"
  .balign 2048
  .globl vectors
vectors:
  VECTOR 0
  .balign 0x80
  b irq_entry                   /* IRQ while running on SP_EL0: the only place they are expected */
  VECTOR 2
  VECTOR 3
  VECTOR 4
  VECTOR 5
  VECTOR 6
  VECTOR 7
  VECTOR 8
  VECTOR 9
  VECTOR 10
  VECTOR 11
  VECTOR 12
  VECTOR 13
  VECTOR 14
  VECTOR 15

exc_common:
  mrs x2, sp_el0
  stp x30, x2, [sp, #240]
  mrs x2, elr_el1
  mrs x3, spsr_el1
  stp x2, x3, [sp, #256]
  mrs x2, esr_el1
  mrs x3, far_el1
  stp x2, x3, [sp, #272]
  mov x0, sp
  bl trap_exception             /* never returns */
  b .

/* Saves the general registers (the frame layout of SAVE_FRAME), ELR/SPSR and
 * all of q0-q31 -- the interrupted code may be anywhere inside plat_wait --
 * and calls irq_dispatch(). */
#define IRQ_FRAME (36 * 8 + 32 * 16)
irq_entry:
  sub sp, sp, #(32 * 16)
  SAVE_FRAME
  mrs x0, elr_el1
  mrs x1, spsr_el1
  stp x30, x0, [sp, #240]
  str x1, [sp, #256]
  add x0, sp, #(36 * 8)
  QPAIRS stp, x0
  mov x29, #0
  bl irq_dispatch
  add x0, sp, #(36 * 8)
  QPAIRS ldp, x0
  ldp x30, x0, [sp, #240]
  ldr x1, [sp, #256]
  msr elr_el1, x0
  msr spsr_el1, x1
  XPAIRS ldp, sp
  add sp, sp, #IRQ_FRAME
  eret

  .section .data.entry, "aw"
  .balign 8
  .globl boot_cnt0
boot_cnt0:
  .quad 0
  .globl boot_el
boot_el:
  .quad 0

  .section .bss.noinit.exc_stack, "aw", @nobits
  .balign 16
  .skip EXC_STACK_SIZE
exc_stack_top:

  .section .bss.stack, "aw", @nobits
  .balign 16
  .skip BOOT_STACK_SIZE
