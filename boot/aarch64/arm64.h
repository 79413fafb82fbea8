/* Internal to boot/aarch64: system-register helpers and the interfaces between its files. */
#ifndef UNIWASM_ARM64_H
#define UNIWASM_ARM64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uniwasm/platform.h>
#include "../common/shim.h"

#define read_sysreg(r) ({ uint64_t v_; __asm__ volatile("mrs %0, " #r : "=r"(v_)); v_; })
#define write_sysreg(r, v) __asm__ volatile("msr " #r ", %0" ::"r"((uint64_t)(v)) : "memory")
static inline void isb(void) { __asm__ volatile("isb" ::: "memory"); }
static inline void irq_off(void) { __asm__ volatile("msr daifset, #2" ::: "memory"); }

/* Register state saved by the vector stubs in entry.S (lowest address first). */
struct trap_frame {
  uint64_t x[31]; /* x0..x30 (x29 = frame pointer, x30 = link register) */
  uint64_t sp, elr, spsr, esr, far;
};

/* RAM from the device tree's /memory nodes (type 1). */
#define MAX_MEMRANGES 8
extern struct memrange boot_mem[MAX_MEMRANGES];
extern unsigned boot_mem_count;

/* A PL061 GPIO controller from the device tree. */
struct gpio_ctl {
  uint64_t base;
  uint32_t phandle, spi, flags; /* flags: its interrupt's GIC trigger flags */
};
#define MAX_GPIOS 4

/* What boot.c's device-tree reader found for the other files. */
struct machine {
  uint64_t uart;                 /* PL011 base, 0 if none */
  uint64_t gicd, gicd_len;       /* distributor */
  uint64_t gicc, gicc_len;       /* GICv2 CPU interface or GICv3 redistributors */
  unsigned gic_version;          /* 2 or 3, 0 if none found */
  unsigned timer_ppi;            /* INTID of the EL1 virtual timer */
  bool psci_smc;                 /* PSCI conduit: SMC (else HVC) */
  bool psci;                     /* a /psci node exists */
  unsigned gic_addr_cells;       /* the GIC node's #address-cells (interrupt-map entries) */
  uint8_t line_level[64];        /* SPI n: 1 level-triggered, 0 edge (from "interrupts" flags) */
  struct gpio_ctl gpio[MAX_GPIOS]; /* arm,pl061 nodes that are not disabled */
  unsigned gpio_count;
  bool pwr_key;                  /* gpio-keys has a KEY_POWER key: */
  uint32_t pwr_phandle, pwr_pin, pwr_flags; /* its controller, pin and GPIO flags (bit 0: active low) */
  uint64_t pvpanic;              /* a pvpanic-pci's mapped register (BAR 0), 0 if none */
};
extern struct machine mach;

/* linker.ld */
extern char __image_start[], __text_start[], __text_end[], __rodata_end[];
extern char __stack_guard[], __stack_top[], __image_end[];
/* entry.S */
extern uint64_t boot_cnt0; /* CNTVCT_EL0 at the first instruction */
extern uint64_t boot_el;   /* the exception level the loader entered us at (1 or 2) */
extern char vectors[];

/* boot.c */
void boot_main(uint64_t dtb);
void kputs(const char *s);
void kput_hex(uint64_t v);
void kput_dec(uint64_t v);
/* fdt.c */
/* devices=false (before the MMU): memory, command line, console, GIC, timer,
 * PSCI. devices=true (after): virtio-mmio slots and the PCIe host bridge,
 * appended to the command line. */
bool fdt_parse(uint64_t dtb, char *cmdline, size_t cap, bool devices);
void note_trigger(uint32_t spi, uint32_t flags); /* GIC "interrupts" flags of SPI spi */
/* trap.c */
_Noreturn void trap_exception(struct trap_frame *f, uint64_t kind); /* from entry.S */
extern volatile bool exiting; /* plat_exit has begun: a fault now goes straight to power-off */
_Noreturn void psci_off(void);
/* plat_exit's steps after semihosting (boot.c): pvpanic-pci for a failure, then PSCI off. */
_Noreturn void exit_after_semihosting(void);
/* mm.c */
void mm_init(void);
bool mm_in_linear_window(uint64_t addr);
/* irq.c */
void clock_init(void);
void irq_dispatch(void); /* from entry.S, interrupts only */
/* Enables SPI `spi` and has irq_dispatch hand it to gpio_power_irq instead
 * of the kernel's pending set. */
void irq_line_service(uint32_t spi);
/* gpio.c: for irq_dispatch, the power button's SPI has fired: acknowledges
 * the PL061 and returns 2 for a press, 1 for anything else. */
int gpio_power_irq(void);

#endif
