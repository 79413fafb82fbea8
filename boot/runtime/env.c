/*
 * The imports AssemblyScript's standard library makes from module "env":
 * abort (failed assertions, `throw`, runtime errors), trace, and the seed for
 * Math.random. Strings arrive as AssemblyScript objects: UTF-16 code units
 * with the byte length stored in the object header just before the data.
 */
#include <stdint.h>
#include <uniwasm/platform.h>
#include <uniwasm/runtime.h>

struct w2c_env;

/* Prints an AssemblyScript string as ASCII ('?' for anything wider), never
 * trusting the pointer: a corrupt heap must not turn a report into a fault. */
static void put_as_string(uint32_t ptr) {
  if (ptr < 4 || ptr > runtime_memory_size()) {
    rt_puts("<bad string>");
    return;
  }
  uint32_t bytes;
  __builtin_memcpy(&bytes, runtime_memory_base() + ptr - 4, 4);
  if (bytes > runtime_memory_size() - ptr || bytes > 4096) {
    rt_puts("<bad string>");
    return;
  }
  const uint8_t *p = runtime_memory_base() + ptr;
  for (uint32_t i = 0; i + 1 < bytes; i += 2) {
    uint16_t u = (uint16_t)(p[i] | (p[i + 1] << 8));
    char c = (u >= 0x20 && u < 0x7f) || u == '\n' ? (char)u : '?';
    plat_console_write(&c, 1);
  }
}

void w2c_env_abort(struct w2c_env *e, uint32_t msg, uint32_t file, uint32_t line,
                   uint32_t col) {
  (void)e;
  rt_puts("\nuniwasm: abort: ");
  if (msg)
    put_as_string(msg);
  else
    rt_puts("(no message)");
  if (file) {
    rt_puts(" at ");
    put_as_string(file);
    rt_puts(":");
    rt_put_dec(line);
    rt_puts(":");
    rt_put_dec(col);
  }
  rt_puts("\n  call chain:\n");
  plat_backtrace((uintptr_t)__builtin_frame_address(0));
  plat_exit(RT_EXIT_ABORT);
}

void w2c_env_trace(struct w2c_env *e, uint32_t msg, uint32_t n, double a0, double a1,
                   double a2, double a3, double a4) {
  (void)e;
  double args[5] = {a0, a1, a2, a3, a4};
  rt_puts("trace: ");
  put_as_string(msg);
  for (uint32_t i = 0; i < n && i < 5; i++) {
    rt_puts(i ? ", " : " ");
    double v = args[i];
    if (v < 0) {
      rt_puts("-");
      v = -v;
    }
    rt_put_dec((uint64_t)v); /* integer part is what traces are read for */
  }
  rt_puts("\n");
}

double w2c_env_seed(struct w2c_env *e) {
  (void)e;
  uint64_t s = 0;
  plat_entropy((uint8_t *)&s, sizeof s);
  return (double)(s >> 11);
}
