/*
 * The clock (the generic timer's virtual counter), the interrupt controller
 * (GICv2 or GICv3, from the device tree), and plat_wait.
 *
 * Lines: HAL line n is SPI n (INTID 32 + n), n < 63 -- QEMU virt's UART is
 * SPI 1, its PCIe INTx SPIs 3-6, its virtio-mmio transports SPIs 16-47;
 * line 63 is the stop request (PLAT_STOP_LINE: gpio.c), whose SPI -- the
 * power button's GPIO controller, SPI 7 on virt -- the shim services. The
 * EL1 virtual timer (PPI 27 on virt) wakes plat_wait at its deadline.
 * Interrupts are unmasked (PSTATE.I) only inside plat_wait, so handlers never
 * interleave with the kernel; they record the line in `pending`, mask it at
 * the distributor if it is level-triggered, and end it (EOI).
 *
 * Boot time: as on x86_64 (first execution under TCG costs far more than
 * running), the GIC is set up on the first plat_wait or plat_irq_mask/unmask,
 * not at boot.
 */
#include "arm64.h"

SHIM_CODE_BEGIN

#define MAX_LINES 64
#define SPI_BASE 32

/* ---- clock ---- */

static uint64_t cnt_hz, ns_mult, cnt_mult; /* ns = ticks * ns_mult >> 32; ticks = ns * cnt_mult >> 32 */

static uint64_t mulshift32(uint64_t a, uint64_t b, bool *overflow) {
  unsigned __int128 p = (unsigned __int128)a * b >> 32;
  if (overflow) *overflow = (p >> 64) != 0;
  return (uint64_t)p;
}

static uint64_t counter(void) {
  isb(); /* not read early, ahead of the code before it */
  return read_sysreg(cntvct_el0);
}

void clock_init(void) {
  cnt_hz = read_sysreg(cntfrq_el0) & 0xffffffff;
  if (!cnt_hz) {
    kputs("uniwasm: CNTFRQ_EL0 is 0 (firmware did not set it): assuming 62.5 MHz\n");
    cnt_hz = 62500000;
  }
  ns_mult = (1000000000ull << 32) / cnt_hz;
  cnt_mult = (cnt_hz << 32) / 1000000000ull;
}

uint64_t plat_clock_ns(void) { return mulshift32(counter() - boot_cnt0, ns_mult, 0); }

/* ---- GIC ---- */

#define GICD_CTLR 0x000
#define GICD_IGROUPR 0x080
#define GICD_ISENABLER 0x100
#define GICD_ICENABLER 0x180
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR 0x800
#define GICD_ICFGR 0xc00
#define GICD_IROUTER 0x6000
#define GICC_CTLR 0x00
#define GICC_PMR 0x04
#define GICC_IAR 0x0c
#define GICC_EOIR 0x10
#define GICR_WAKER 0x14
#define GICR_SGI 0x10000 /* SGI_base frame: the PPI/SGI registers, at distributor offsets */

static bool gic_ready;
static uintptr_t ppi_base; /* where PPI enables live: GICD (v2) or the redistributor's SGI frame (v3) */

static volatile uint32_t *reg32(uintptr_t base, unsigned off) { return (volatile uint32_t *)(base + off); }

/* Redistributor of this CPU (v3): the frame whose GICR_TYPER affinity matches MPIDR. */
static uintptr_t find_redistributor(void) {
  uint64_t mpidr = read_sysreg(mpidr_el1), aff = (mpidr & 0xffffff) | ((mpidr >> 32) & 0xff) << 24;
  for (uint64_t off = 0; off + 0x20000 <= mach.gicc_len; off += 0x20000) {
    uintptr_t rd = (uintptr_t)(mach.gicc + off);
    uint64_t typer = *(volatile uint64_t *)(rd + 0x08);
    if (typer >> 32 == aff) return rd;
    if (typer & (1u << 4)) break; /* Last */
  }
  return 0;
}

/* Priority, trigger (from the device tree's flags) and, on GICv2, target of SPI n. */
static void spi_config(unsigned n) {
  uintptr_t d = (uintptr_t)mach.gicd;
  unsigned id = SPI_BASE + n;
  *(volatile uint8_t *)(d + GICD_IPRIORITYR + id) = 0xa0;
  volatile uint32_t *cfg = reg32(d, GICD_ICFGR + id / 16 * 4);
  uint32_t bit = 2u << (id % 16 * 2);
  *cfg = mach.line_level[n] ? *cfg & ~bit : *cfg | bit; /* 1: edge, 0: level */
  if (mach.gic_version == 2) *(volatile uint8_t *)(d + GICD_ITARGETSR + id) = 1; /* CPU 0 */
}

static void gic_setup(void) {
  gic_ready = true;
  if (!mach.gic_version || plat_mmio_map(mach.gicd, mach.gicd_len) < 0 || plat_mmio_map(mach.gicc, mach.gicc_len) < 0) {
    kputs("uniwasm: no usable interrupt controller in the device tree\n");
    plat_exit(RT_EXIT_RUNTIME);
  }
  uintptr_t d = (uintptr_t)mach.gicd;
  *reg32(d, GICD_CTLR) = 0;
  for (unsigned i = SPI_BASE; i < SPI_BASE + MAX_LINES; i += 32) {
    *reg32(d, GICD_ICENABLER + i / 8) = ~0u;
    *reg32(d, GICD_IGROUPR + i / 8) = mach.gic_version == 3 ? ~0u : 0; /* v3: group 1 (ICC_*1), v2: group 0 (IRQ) */
  }
  for (unsigned n = 0; n < MAX_LINES; n++) spi_config(n);
  if (mach.gic_version == 3) {
    uintptr_t rd = find_redistributor();
    if (!rd) {
      kputs("uniwasm: GICv3: no redistributor for this CPU\n");
      plat_exit(RT_EXIT_RUNTIME);
    }
    uint64_t mpidr = read_sysreg(mpidr_el1), aff = (mpidr & 0xffffff) | ((mpidr >> 32) & 0xff) << 32;
    for (unsigned n = 0; n < MAX_LINES; n++) *(volatile uint64_t *)(d + GICD_IROUTER + 8 * (SPI_BASE + n)) = aff;
    *reg32(rd, GICR_WAKER) &= ~2u; /* ProcessorSleep off */
    for (int i = 0; i < 1000000 && (*reg32(rd, GICR_WAKER) & 4u); i++) /* ChildrenAsleep */
      ;
    ppi_base = rd + GICR_SGI;
    *reg32(ppi_base, GICD_IGROUPR) = ~0u;
    *(volatile uint8_t *)(ppi_base + GICD_IPRIORITYR + mach.timer_ppi) = 0xa0;
    *reg32(d, GICD_CTLR) = 1u << 4 | 1u << 1 | 1u; /* ARE, EnableGrp1, EnableGrp0 */
    write_sysreg(S3_0_C12_C12_5, read_sysreg(S3_0_C12_C12_5) | 1); /* ICC_SRE_EL1.SRE */
    isb();
    write_sysreg(S3_0_C4_C6_0, 0xff);  /* ICC_PMR_EL1: every priority */
    write_sysreg(S3_0_C12_C12_7, 1);   /* ICC_IGRPEN1_EL1 */
    isb();
  } else {
    ppi_base = d;
    *(volatile uint8_t *)(d + GICD_IPRIORITYR + mach.timer_ppi) = 0xa0;
    uintptr_t c = (uintptr_t)mach.gicc;
    *reg32(c, GICC_PMR) = 0xff;
    *reg32(c, GICC_CTLR) = 1;
    *reg32(d, GICD_CTLR) = 1;
  }
  *reg32(ppi_base, GICD_ISENABLER) = 1u << mach.timer_ppi;
}

static void line_enable(uint32_t line, bool on) {
  unsigned id = SPI_BASE + line;
  *reg32((uintptr_t)mach.gicd, (on ? GICD_ISENABLER : GICD_ICENABLER) + id / 32 * 4) = 1u << (id % 32);
}

static uint64_t shim_lines; /* SPIs the shim services itself (the power button's) */

/* Lines the kernel may mask and unmask: not the stop request's, not the shim's own. */
static bool kernel_line(uint32_t line) { return line < PLAT_STOP_LINE && !(shim_lines & (1ull << line)); }

void plat_irq_mask(uint32_t line) {
  if (!gic_ready) gic_setup();
  if (kernel_line(line)) line_enable(line, false);
}

void plat_irq_unmask(uint32_t line) {
  if (!gic_ready) gic_setup();
  if (kernel_line(line)) line_enable(line, true);
}

void irq_line_service(uint32_t spi) {
  if (!gic_ready) gic_setup();
  if (spi >= PLAT_STOP_LINE) return;
  shim_lines |= 1ull << spi;
  spi_config(spi); /* its trigger may have been learnt after gic_setup */
  line_enable(spi, true);
}

/* ---- interrupts and wait ---- */

static volatile uint64_t pending;
static uint32_t gpio_spurious; /* power-button SPIs in a row without a press */

static uint32_t gic_ack(void) {
  if (mach.gic_version == 3) return (uint32_t)read_sysreg(S3_0_C12_C12_0); /* ICC_IAR1_EL1 */
  return *reg32((uintptr_t)mach.gicc, GICC_IAR);
}

static void gic_eoi(uint32_t iar) {
  if (mach.gic_version == 3) write_sysreg(S3_0_C12_C12_1, iar); /* ICC_EOIR1_EL1 */
  else *reg32((uintptr_t)mach.gicc, GICC_EOIR) = iar;
}

void irq_dispatch(void) {
  uint32_t iar = gic_ack(), id = iar & 0xffffff;
  if (id >= 1020 && id < 1024) return; /* spurious: no EOI */
  if (id >= SPI_BASE && id < SPI_BASE + MAX_LINES && (shim_lines & (1ull << (id - SPI_BASE)))) {
    /* The power button's controller: gpio_power_irq acknowledges it; a press
     * becomes the stop request. One that keeps firing without a press (a
     * level some other pin holds) is masked for good. */
    if (gpio_power_irq() == 2) {
      pending |= 1ull << PLAT_STOP_LINE;
      gpio_spurious = 0;
    } else if (++gpio_spurious > 1000) {
      kputs("uniwasm: the power button's GPIO interrupt keeps firing without a press: masked\n");
      line_enable(id - SPI_BASE, false);
    }
  } else if (id >= SPI_BASE && id < SPI_BASE + PLAT_STOP_LINE) {
    /* platform.h: a level line stays masked until the kernel unmasks it (it
     * would fire again at once); an edge line stays enabled. */
    pending |= 1ull << (id - SPI_BASE);
    if (mach.line_level[id - SPI_BASE]) line_enable(id - SPI_BASE, false);
  } else if (id == mach.timer_ppi) {
    write_sysreg(cntv_ctl_el0, 0); /* the timer's level output drops */
  }
  gic_eoi(iar);
}

uint64_t plat_wait(uint64_t deadline) {
  bool armed = false;
  irq_off();
  if (!gic_ready) gic_setup();
  /* Interrupts are masked outside this function, so a poll (a deadline
   * already past) must open a window for lines that fired since the last wait. */
  __asm__ volatile("msr daifclr, #2; isb; msr daifset, #2" ::: "memory");
  while (!pending) {
    if (deadline != UINT64_MAX) {
      uint64_t now = plat_clock_ns();
      if (now >= deadline) break;
      bool ovf;
      uint64_t t = mulshift32(deadline, cnt_mult, &ovf) + boot_cnt0;
      write_sysreg(cntv_cval_el0, ovf || t < boot_cnt0 ? ~0ull : t + 1);
      write_sysreg(cntv_ctl_el0, 1); /* enabled, not masked */
      armed = true;
    }
    /* WFI wakes on a pending interrupt even while PSTATE.I masks it, so no
     * wakeup is lost between the check above and the halt; the window after
     * it takes the interrupt. */
    __asm__ volatile("wfi; msr daifclr, #2; isb; msr daifset, #2" ::: "memory");
  }
  if (armed) write_sysreg(cntv_ctl_el0, 0);
  uint64_t r = pending;
  pending = 0;
  return r;
}

SHIM_CODE_END
