/*
 * boot_main, the PL011 console, exit (semihosting, then PSCI), the linear
 * region, and the small HAL primitives (MMIO, fence, entropy, ...).
 */
#include "arm64.h"

SHIM_CODE_BEGIN

struct memrange boot_mem[MAX_MEMRANGES];
unsigned boot_mem_count;
struct machine mach;
static char cmdline[4096];
static struct plat_region linear;

/* ---- console: PL011, polled ---- */

#define UART_DR 0x00
#define UART_FR 0x18
#define FR_TXFF (1u << 5)
#define FR_BUSY (1u << 3)

static volatile uint32_t *uart_reg(unsigned off) { return (volatile uint32_t *)(uintptr_t)(mach.uart + off); }

static void uart_putc(char c) {
  if (!mach.uart) return;
  while (*uart_reg(UART_FR) & FR_TXFF)
    ;
  *uart_reg(UART_DR) = (uint8_t)c;
}

void plat_console_write(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\n') uart_putc('\r');
    uart_putc(s[i]);
  }
}

void kputs(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  plat_console_write(s, n);
}

void kput_hex(uint64_t v) { rt_put_hex(v); }
void kput_dec(uint64_t v) { rt_put_dec(v); }

/* ---- exit ---- */

volatile bool exiting;

static uint64_t psci_call(uint64_t fn) {
  register uint64_t x0 __asm__("x0") = fn;
  if (mach.psci_smc)
    __asm__ volatile("smc #0" : "+r"(x0)::"x1", "x2", "x3", "memory");
  else
    __asm__ volatile("hvc #0" : "+r"(x0)::"x1", "x2", "x3", "memory");
  return x0;
}

_Noreturn void psci_off(void) {
  if (mach.psci) psci_call(0x84000008); /* SYSTEM_OFF */
  for (;;) __asm__ volatile("msr daifset, #0xf; wfi");
}

static void console_drain(void) {
  while (mach.uart && (*uart_reg(UART_FR) & FR_BUSY)) /* transmitter idle */
    ;
}

/* pvpanic-pci (found by pci.c): reading the register gives the events it
 * supports; writing PANICKED (bit 0) tells the host the guest failed, and the
 * host stops the machine (its panic action: libvirt reports it crashed). */
static void pvpanic(void) {
  volatile uint8_t *reg = (volatile uint8_t *)(uintptr_t)mach.pvpanic;
  if (!reg || !(*reg & 1)) return;
  *reg = 1;
  for (uint32_t i = 0; i < 100000000; i++) __asm__ volatile("yield"); /* time for the host to act */
}

/* How the machine ends, first that works (README.md, "Exit"):
 * 1. the console line `exit code N`, always, so a code is never lost;
 * 2. semihosting SYS_EXIT (0x18) with ADP_Stopped_ApplicationExit: QEMU run
 *    with -semihosting exits with the subcode as its status, sent as
 *    (code << 1) | 1 as x86_64's isa-debug-exit does, so an even status
 *    (0 from a power-off) always means "no code";
 * 3. any code but 0: pvpanic-pci's PANICKED, where there is one;
 * 4. PSCI SYSTEM_OFF (QEMU exits with status 0);
 * 5. WFI with everything masked.
 * Without semihosting the HLT is an undefined instruction: the trap handler
 * sees `exiting` and goes on with 3 (exit_after_semihosting). */
static int exit_status;

_Noreturn void exit_after_semihosting(void) {
  if (exit_status) pvpanic();
  psci_off();
}

_Noreturn void plat_exit(int code) {
  irq_off();
  if (!exiting) {
    exiting = true;
    exit_status = code;
    shim_say_exit_code(code);
    console_drain();
    uint64_t block[2] = {0x20026, ((uint64_t)(uint32_t)code << 1) | 1};
    register uint64_t x0 __asm__("x0") = 0x18;
    register uint64_t x1 __asm__("x1") = (uint64_t)(uintptr_t)block;
    __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
  }
  exit_after_semihosting();
}

/* ---- linear region ---- */

/* QEMU's RAM is zero at start; the device tree (which QEMU places in RAM
 * above the image) is cleared by boot_main once read, and nothing else lies
 * above the image. */
static void choose_linear(void) { linear = shim_choose_linear(boot_mem, boot_mem_count, (uint64_t)(uintptr_t)__image_end); }

struct plat_region plat_linear_region(void) { return linear; }
const char *plat_cmdline(void) { return cmdline; }

/* Entered from entry.S at EL1 on the boot stack (SP_EL0), MMU off, FP on,
 * interrupts masked, x0 = the device tree. */
void boot_main(uint64_t dtb) {
  /* The console is not known before the device tree is read: a tree that
   * cannot be read ends the machine without a word, through PSCI's usual
   * conduit for where we were entered (QEMU: HVC at EL1, SMC when it gave us
   * EL2 and keeps PSCI in its own EL3). */
  if (!fdt_parse(dtb, cmdline, sizeof cmdline, false) || !mach.uart) {
    mach.psci = true;
    mach.psci_smc = boot_el == 2;
    psci_off();
  }
  if (!boot_mem_count) {
    kputs("uniwasm: the device tree names no memory\n");
    plat_exit(RT_EXIT_RUNTIME);
  }
  mm_init();
  plat_mmio_map(mach.uart, 0x1000);
  fdt_parse(dtb, cmdline, sizeof cmdline, true);
  const uint8_t *b = (const uint8_t *)(uintptr_t)dtb;
  uint32_t total = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
  __builtin_memset((void *)(uintptr_t)dtb, 0, total); /* read once; the RAM becomes linear memory */
  clock_init();
  choose_linear();
#ifdef UNIWASM_BOOT_DEBUG
  kputs("[dtb ");
  kput_hex(dtb);
  kputs(", gic v");
  kput_dec(mach.gic_version);
  kputs("]\n");
#endif
  shim_run(boot_mem, boot_mem_count, linear);
}

/* ---- small HAL primitives ---- */

/* No port I/O on this architecture. */
uint32_t plat_port_read(uint32_t port, unsigned width) {
  (void)port;
  (void)width;
  return ~0u;
}

void plat_port_write(uint32_t port, unsigned width, uint32_t v) {
  (void)port;
  (void)width;
  (void)v;
}

/* dsb sy: orders normal-memory and Device accesses both ways (outer shareable,
 * so DMA masters see descriptor writes before the doorbell). */
void plat_fence(void) { __asm__ volatile("dsb sy" ::: "memory"); }

/* RNDR (FEAT_RNG, ID_AA64ISAR0_EL1.RNDR) where the CPU has it -- QEMU's
 * cortex-a72 does not, -cpu max does; otherwise the jitter of counter reads
 * around device-register reads, mixed through a 64-bit finalizer (weak: a
 * guest on an idle emulator sees little jitter; the count returned tells the
 * kernel how many bytes were hardware). */

static bool has_rndr;

static bool rndr(uint64_t *out) {
  for (int i = 0; has_rndr && i < 10; i++) {
    uint64_t v, ok;
    __asm__ volatile("mrs %0, S3_3_C2_C4_0; cset %1, ne" : "=r"(v), "=r"(ok)::"cc");
    if (ok) {
      *out = v;
      return true;
    }
  }
  return false;
}

/* The counter around a device-register read. */
static uint64_t jitter_sample(void) {
  isb();
  uint64_t t0 = read_sysreg(cntvct_el0);
  (void)*uart_reg(UART_FR);
  isb();
  return (read_sysreg(cntvct_el0) - t0) ^ (t0 << 32);
}

uint32_t plat_entropy(uint8_t *buf, uint32_t len) {
  has_rndr = ((read_sysreg(id_aa64isar0_el1) >> 60) & 0xf) >= 1;
  return shim_entropy(buf, len, rndr, jitter_sample);
}

SHIM_CODE_END
