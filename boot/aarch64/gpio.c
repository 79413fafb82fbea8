/*
 * The power button as the HAL's stop request (plat_stop_line).
 *
 * QEMU's virt without ACPI firmware has no ACPI power button: its
 * `system_powerdown` (QMP, `virsh shutdown`) raises pin 3 of a PL061 GPIO
 * controller for 100 ms, and the device tree says so with a gpio-keys node
 * whose key has linux,code KEY_POWER and gpios = <&pl061 pin flags>. The
 * shim finds that key and its controller (fdt.c), programs the pin as an
 * input that interrupts on its active edge (rising, or falling for
 * GPIO_ACTIVE_LOW), routes the controller's SPI through the GIC, and on each
 * interrupt clears the controller's interrupt status itself -- the kernel
 * only ever sees line PLAT_STOP_LINE become pending, as on x86_64 with the
 * ACPI SCI. Set up on the first plat_stop_line() call (the scheduler's
 * first run), not at boot.
 */
#include "arm64.h"

SHIM_CODE_BEGIN

/* PL061 registers (ARM DDI 0190B, "Summary of PrimeCell GPIO registers"). */
#define GPIODIR 0x400 /* 1: output */
#define GPIOIS 0x404  /* interrupt sense: 1 level, 0 edge */
#define GPIOIBE 0x408 /* both edges */
#define GPIOIEV 0x40c /* event: 1 rising edge / high level */
#define GPIOIE 0x410  /* interrupt mask: 1 enabled */
#define GPIOMIS 0x418 /* masked interrupt status */
#define GPIOIC 0x41c  /* interrupt clear: write 1 */

#define GPIO_ACTIVE_LOW 1u /* the gpios flags cell (dt-bindings/gpio/gpio.h) */

static const struct gpio_ctl *pwr_ctl; /* the controller the key sits on, once armed */
static uint32_t pwr_bit;
static bool stop_ready;

static volatile uint32_t *gpio_reg(unsigned off) { return (volatile uint32_t *)(uintptr_t)(pwr_ctl->base + off); }

static void gpio_set(unsigned off, bool on) {
  uint32_t v = *gpio_reg(off);
  *gpio_reg(off) = on ? v | pwr_bit : v & ~pwr_bit;
}

int32_t plat_stop_line(void) {
  if (stop_ready) return pwr_ctl ? PLAT_STOP_LINE : -1;
  stop_ready = true;
  if (!mach.pwr_key) return -1; /* no power button: no stop request, as on x86 without ACPI */
  const struct gpio_ctl *c = 0;
  for (unsigned i = 0; i < mach.gpio_count && !c; i++)
    if (mach.gpio[i].phandle == mach.pwr_phandle) c = &mach.gpio[i];
  if (!c || c->spi >= PLAT_STOP_LINE || mach.pwr_pin >= 8) { /* a PL061 has 8 pins */
    kputs("uniwasm: the device tree's power button (gpio-keys, KEY_POWER) names pin ");
    kput_dec(mach.pwr_pin);
    kputs(" of GPIO controller phandle ");
    kput_hex(mach.pwr_phandle);
    kputs(", not a pin of a PL061 with an SPI below 63 here: no stop request\n");
    return -1;
  }
  if (plat_mmio_map(c->base, 0x1000) < 0) return -1; /* it said why */
  pwr_ctl = c;
  pwr_bit = 1u << mach.pwr_pin;
  gpio_set(GPIOIE, false); /* quiet while it is configured */
  gpio_set(GPIODIR, false);
  gpio_set(GPIOIS, false);
  gpio_set(GPIOIBE, false);
  gpio_set(GPIOIEV, !(mach.pwr_flags & GPIO_ACTIVE_LOW)); /* the press, not the release */
  *gpio_reg(GPIOIC) = pwr_bit; /* no stale press */
  gpio_set(GPIOIE, true);
  note_trigger(c->spi, c->flags);
  irq_line_service(c->spi);
  return PLAT_STOP_LINE;
}

int gpio_power_irq(void) {
  uint32_t mis = *gpio_reg(GPIOMIS);
  *gpio_reg(GPIOIC) = mis; /* every pin's: the controller's output drops */
  return mis & pwr_bit ? 2 : 1;
}

SHIM_CODE_END
