/*
 * 32-bit entry (Multiboot v1 and PVH), switch to long mode, and the interrupt
 * and exception entry stubs.
 *
 * Both entries read the TSC first (the clock's origin), then share one path:
 * load our GDT, zero .bss, check for long mode, identity-map the first 4 GiB
 * with 2 MiB pages (bootstrap tables; mm.c replaces them with the real ones),
 * enable PAE + SSE (CR4), EFER.LME + EFER.NXE, paging + WP (CR0), far-jump to
 * 64-bit code, fninit, and call boot_main(magic, info) on the boot stack.
 *   Multiboot: eax = 0x2BADB002, ebx = multiboot info.
 *   PVH:       ebx = hvm_start_info; we pass magic 0x336ec578 (its own magic).
 */
#include "boot_header.h"

#define BOOT_STACK_SIZE (256 * 1024)

/* -DUNIWASM_PVH_ONLY drops the Multiboot header: QEMU then boots the image
 * through the PVH note on every machine (tests the PVH path). */
#ifndef UNIWASM_PVH_ONLY
MULTIBOOT_HEADER
#endif
PVH_NOTE _start_pvh

  .section .text.boot32, "ax"
  .code32
  .globl _start32
_start32:
  movl %eax, %ebp               /* multiboot magic (rdtsc clobbers eax/edx) */
  rdtsc
  movl %eax, boot_tsc0
  movl %edx, boot_tsc0 + 4
  movl %ebx, %esi
  jmp common32

  .globl _start_pvh
_start_pvh:
  rdtsc
  movl %eax, boot_tsc0
  movl %edx, boot_tsc0 + 4
  movl $0x336ec578, %ebp        /* XEN_HVM_START_MAGIC_VALUE */
  movl %ebx, %esi

common32:
  cli
  cld
  lgdt boot_gdt_ptr32
  movl $0x10, %eax
  movl %eax, %ds
  movl %eax, %es
  movl %eax, %ss
  movl %eax, %fs
  movl %eax, %gs
  movl $__stack_top, %esp

  /* zero .bss (the page-table pool and stacks live in .noinit instead) */
  movl $__bss_start, %edi
  movl $__bss_end, %ecx
  subl %edi, %ecx
  shrl $2, %ecx
  xorl %eax, %eax
  rep stosl

  /* long mode? NX? */
  movl $0x80000000, %eax
  cpuid
  cmpl $0x80000001, %eax
  jb no_long_mode
  movl $0x80000001, %eax
  cpuid
  btl $29, %edx
  jnc no_long_mode
  xorl %edi, %edi
  btl $20, %edx                 /* NX */
  jnc 1f
  movl $(1 << 11), %edi         /* EFER.NXE */
  movb $1, boot_has_nx
1:
  /* Bootstrap page tables (in .noinit, not cleared): identity-map the first
   * 4 GiB with 2 MiB pages. Only PML4[0] and PDPT[0..3] are written: nothing
   * touches an address above 4 GiB before mm_init() installs the real tables. */
  movl $boot_pdpt + 3, boot_pml4
  movl $0, boot_pml4 + 4
  movl $boot_pd + 0x0003, boot_pdpt
  movl $boot_pd + 0x1003, boot_pdpt + 8
  movl $boot_pd + 0x2003, boot_pdpt + 16
  movl $boot_pd + 0x3003, boot_pdpt + 24
  xorl %eax, %eax
  movl %eax, boot_pdpt + 4
  movl %eax, boot_pdpt + 12
  movl %eax, boot_pdpt + 20
  movl %eax, boot_pdpt + 28
  movl $boot_pd, %ebx
  movl $0x83, %eax              /* P | W | PS */
  xorl %edx, %edx
  movl $2048, %ecx
2:
  movl %eax, (%ebx)
  movl %edx, 4(%ebx)
  addl $0x200000, %eax
  adcl $0, %edx
  addl $8, %ebx
  loop 2b

  movl %cr4, %eax
  orl $((1 << 5) | (1 << 9) | (1 << 10)), %eax   /* PAE, OSFXSR, OSXMMEXCPT */
  movl %eax, %cr4
  movl $boot_pml4, %eax
  movl %eax, %cr3
  movl $0xC0000080, %ecx        /* EFER */
  rdmsr
  orl $(1 << 8), %eax           /* LME */
  orl %edi, %eax                /* NXE if supported */
  wrmsr
  movl %cr0, %eax
  andl $~((1 << 2) | (1 << 3)), %eax            /* EM, TS off */
  orl $((1 << 31) | (1 << 16) | (1 << 5) | (1 << 1) | 1), %eax  /* PG WP NE MP PE */
  movl %eax, %cr0
  ljmp $0x08, $long64

no_long_mode:
  movl $msg_no_lm, %esi
3:
  movb (%esi), %al
  testb %al, %al
  jz 4f
  movw $0x3f8, %dx
  outb %al, %dx
  incl %esi
  jmp 3b
4:
  movl $3, %eax
  outl %eax, $0xf4
5:
  hlt
  jmp 5b

  .code64
long64:
  movl $0x10, %eax
  movl %eax, %ds
  movl %eax, %es
  movl %eax, %ss
  xorl %eax, %eax
  movl %eax, %fs
  movl %eax, %gs
  movl $__stack_top, %esp
  fninit
  movl %ebp, %edi               /* magic (zero-extended) */
  movl %esi, %esi               /* info */
  xorl %ebp, %ebp               /* end of the frame-pointer chain */
  call boot_main
  ud2

/* ---- exception stubs: 32 x 16 bytes; frame = struct trap_frame (x86.h) ---- */
  .section .text.isr, "ax"
  .balign 16
  .globl exc_stubs
exc_stubs:
  .set vec, 0
  .rept 32
  .balign 16
  .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
  .else
  pushq $0
  .endif
  pushq $vec
  jmp exc_common
  .set vec, vec + 1
  .endr

exc_common:
  pushq %r15
  pushq %r14
  pushq %r13
  pushq %r12
  pushq %r11
  pushq %r10
  pushq %r9
  pushq %r8
  pushq %rbp
  pushq %rdi
  pushq %rsi
  pushq %rdx
  pushq %rcx
  pushq %rbx
  pushq %rax
  movq %rsp, %rdi
  andq $-16, %rsp
  call trap_exception           /* never returns */
  ud2

/* ---- interrupt stubs: vectors 0x20..0x6f, 8 bytes each; plus 0xf0, 0xff ---- */
  .balign 8
  .globl irq_stubs
irq_stubs:
  .set vec, 0x20
  .rept 0x50
  .balign 8
  pushq $vec
  jmp irq_common
  .set vec, vec + 1
  .endr
  .globl irq_stub_timer
irq_stub_timer:
  pushq $0xf0
  jmp irq_common
  .globl irq_stub_spurious
irq_stub_spurious:
  iretq                         /* spurious: no EOI */

/* Saves the caller-saved registers and the FPU/SSE state (the interrupted
 * code may be anywhere inside plat_wait), calls irq_dispatch(vector). */
irq_common:
  pushq %rax
  pushq %rcx
  pushq %rdx
  pushq %rsi
  pushq %rdi
  pushq %r8
  pushq %r9
  pushq %r10
  pushq %r11
  movl 72(%rsp), %edi
  pushq %rbp
  movq %rsp, %rbp
  andq $-16, %rsp
  subq $512, %rsp
  fxsave (%rsp)
  call irq_dispatch
  fxrstor (%rsp)
  movq %rbp, %rsp
  popq %rbp
  popq %r11
  popq %r10
  popq %r9
  popq %r8
  popq %rdi
  popq %rsi
  popq %rdx
  popq %rcx
  popq %rax
  addq $8, %rsp
  iretq

  .section .rodata.entry, "a"
msg_no_lm:
  .asciz "uniwasm: this CPU has no long mode\r\n"

  .section .data.entry, "aw"
  .balign 16
  .globl boot_gdt
boot_gdt:                       /* 0x18/0x20: the TSS, filled in by trap.c */
  .quad 0
  .quad 0x00af9a000000ffff      /* 0x08: 64-bit code */
  .quad 0x00cf92000000ffff      /* 0x10: data */
  .quad 0
  .quad 0
boot_gdt_ptr32:
  .word 5 * 8 - 1
  .long boot_gdt
  .balign 8
  .globl boot_tsc0
boot_tsc0:
  .quad 0
  .globl boot_has_nx
boot_has_nx:
  .byte 0

  .section .bss.noinit.boot_pt, "aw", @nobits
  .balign 4096
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd:   .skip 4 * 4096

  .section .bss.stack, "aw", @nobits
  .balign 16
  .skip BOOT_STACK_SIZE
