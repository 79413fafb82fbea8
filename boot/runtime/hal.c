/*
 * The wasm imports of module "hal" (kernel/hal.ts), in the form wasm2c's
 * output calls them, implemented once for every architecture on the plat_*
 * calls. Types follow wasm2c: i32 arguments arrive as u32, i64 as u64; the
 * first argument is the (unused) import-module instance.
 */
#include <stdint.h>
#include <uniwasm/platform.h>
#include <uniwasm/runtime.h>

struct w2c_hal;
typedef struct w2c_hal hal;

void w2c_hal_console_write(hal *h, uint32_t ptr, uint32_t len) {
  (void)h;
  plat_console_write((const char *)runtime_span(ptr, len), len);
}

uint64_t w2c_hal_clock_ns(hal *h) { (void)h; return plat_clock_ns(); }
uint64_t w2c_hal_wait(hal *h, uint64_t deadline) { (void)h; return plat_wait(deadline); }
void w2c_hal_irq_unmask(hal *h, uint32_t line) { (void)h; plat_irq_unmask(line); }
void w2c_hal_irq_mask(hal *h, uint32_t line) { (void)h; plat_irq_mask(line); }

/* A platform with no stop request need not define plat_stop_line. */
__attribute__((weak)) int32_t plat_stop_line(void) { return -1; }
uint32_t w2c_hal_stop_line(hal *h) { (void)h; return (uint32_t)plat_stop_line(); }

uint32_t w2c_hal_mmio_map(hal *h, uint64_t phys, uint64_t len) {
  (void)h;
  return (uint32_t)plat_mmio_map(phys, len);
}

uint32_t w2c_hal_mmio_read8(hal *h, uint64_t a) { (void)h; return (uint32_t)plat_mmio_read(a, 1); }
uint32_t w2c_hal_mmio_read16(hal *h, uint64_t a) { (void)h; return (uint32_t)plat_mmio_read(a, 2); }
uint32_t w2c_hal_mmio_read32(hal *h, uint64_t a) { (void)h; return (uint32_t)plat_mmio_read(a, 4); }
uint64_t w2c_hal_mmio_read64(hal *h, uint64_t a) { (void)h; return plat_mmio_read(a, 8); }
void w2c_hal_mmio_write8(hal *h, uint64_t a, uint32_t v) { (void)h; plat_mmio_write(a, 1, v); }
void w2c_hal_mmio_write16(hal *h, uint64_t a, uint32_t v) { (void)h; plat_mmio_write(a, 2, v); }
void w2c_hal_mmio_write32(hal *h, uint64_t a, uint32_t v) { (void)h; plat_mmio_write(a, 4, v); }
void w2c_hal_mmio_write64(hal *h, uint64_t a, uint64_t v) { (void)h; plat_mmio_write(a, 8, v); }

uint32_t w2c_hal_port_read8(hal *h, uint32_t p) { (void)h; return plat_port_read(p, 1); }
uint32_t w2c_hal_port_read16(hal *h, uint32_t p) { (void)h; return plat_port_read(p, 2); }
uint32_t w2c_hal_port_read32(hal *h, uint32_t p) { (void)h; return plat_port_read(p, 4); }
void w2c_hal_port_write8(hal *h, uint32_t p, uint32_t v) { (void)h; plat_port_write(p, 1, v); }
void w2c_hal_port_write16(hal *h, uint32_t p, uint32_t v) { (void)h; plat_port_write(p, 2, v); }
void w2c_hal_port_write32(hal *h, uint32_t p, uint32_t v) { (void)h; plat_port_write(p, 4, v); }

void w2c_hal_fence(hal *h) { (void)h; plat_fence(); }
/* Physical: devices see RAM, not the kernel's virtual window onto it. */
uint64_t w2c_hal_dma_base(hal *h) { (void)h; return runtime_memory_phys(); }

uint32_t w2c_hal_entropy(hal *h, uint32_t ptr, uint32_t len) {
  (void)h;
  return plat_entropy(runtime_span(ptr, len), len);
}

uint32_t w2c_hal_cmdline(hal *h, uint32_t ptr, uint32_t cap) {
  (void)h;
  const char *s = plat_cmdline();
  uint32_t n = 0;
  while (s[n])
    n++;
  uint8_t *dst = runtime_span(ptr, cap);
  for (uint32_t i = 0; i < n && i < cap; i++)
    dst[i] = (uint8_t)s[i];
  return n;
}

uint64_t w2c_hal_mem_limit(hal *h) { (void)h; return runtime_memory_limit(); }

void w2c_hal_exit(hal *h, uint32_t code) { (void)h; plat_exit((int)code); }

/* The kernel's event trace is a Node-platform tool (host/sim/trace.ts): on
 * hardware the call costs one return, and the kernel behaves the same. */
void w2c_hal_trace_event(hal *h, uint32_t kind, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  (void)h; (void)kind; (void)a; (void)b; (void)c; (void)d;
}
