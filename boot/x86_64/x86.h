/* Internal to boot/x86_64: CPU helpers and the interfaces between its files. */
#ifndef UNIWASM_X86_H
#define UNIWASM_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uniwasm/platform.h>
#include "../common/shim.h"

static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(p)); }
static inline uint8_t inb(uint16_t p) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
  __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline uint64_t read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline void write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }

/* Register state saved by exc_common in entry.S (lowest address first). */
struct trap_frame {
  uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

#define MAX_MEMRANGES 32
extern struct memrange boot_mem[MAX_MEMRANGES];
extern unsigned boot_mem_count;
extern uint64_t boot_reserved_end; /* first byte above image + boot-loader data */
extern uint64_t boot_rsdp;         /* ACPI RSDP from the boot loader, or 0 */
extern uint64_t boot_ebda;         /* EBDA base read from the BDA (0x40e), or 0 */

/* linker.ld */
extern char __image_start[], __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __stack_guard[], __stack_bottom[], __stack_top[], __image_end[];
/* entry.S */
extern uint64_t boot_tsc0;
extern uint8_t boot_has_nx;
extern uint64_t boot_gdt[5];
extern char exc_stubs[], irq_stubs[], irq_stub_timer[], irq_stub_spurious[];

/* boot.c */
void boot_main(uint32_t magic, uint32_t info); /* from entry.S */
void kputs(const char *s);
void kput_hex(uint64_t v);
void kput_dec(uint64_t v);
/* trap.c */
void trap_init(void);
_Noreturn void trap_exception(struct trap_frame *f); /* from entry.S */
/* mm.c */
void mm_init(void);
/* irq.c */
void clock_init(void);
void irq_dispatch(uint32_t vector); /* from entry.S, interrupts only */
/* Unmasks GSI `gsi` and has irq_dispatch hand it to acpi_sci instead of the
 * kernel's pending set. */
void irq_line_service(uint32_t gsi);
/* acpi.c */
/* The ACPI table with signature `sig` (mapped, checksummed), or NULL. */
const uint8_t *acpi_find(const char sig[4]);
/* Enters S5 (soft off) through the FADT's PM1 control blocks; returns if
 * there are none or the machine is still running after a while. */
void acpi_poweroff(void);
/* For irq_dispatch: 0 if `gsi` is not the SCI; else acknowledges every PM1
 * status bit and returns 2 for a power button press, 1 otherwise. */
int acpi_sci(uint32_t gsi);

#define IST_STACK_SIZE 8192
extern uint8_t ist_stacks[4][IST_STACK_SIZE];

/* mm.c: whether an address lies in linear memory's guarded window. */
bool mm_in_linear_window(uint64_t addr);

#endif
