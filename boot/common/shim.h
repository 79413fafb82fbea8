/*
 * What every architecture's boot shim shares (boot/common/shim.c): the
 * pieces of the platform.h contract whose logic does not depend on the CPU.
 * Each boot/<arch>/ includes this from its own internal header.
 */
#ifndef UNIWASM_SHIM_H
#define UNIWASM_SHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <uniwasm/platform.h>

/* The shim runs once at boot or at device-access speed: optimize it for size
 * whatever -O the image builder passes (clang's minsize attribute). */
#define SHIM_CODE_BEGIN _Pragma("clang attribute push (__attribute__((minsize)), apply_to = function)")
#define SHIM_CODE_END _Pragma("clang attribute pop")

/* Provided by the architecture: true if [a, a+len) is mapped readable (the
 * backtrace reads only such memory). */
bool trap_addr_readable(uint64_t a, uint64_t len);

/* " name+0xoff" for code address `addr`, looked up at `lookup` (a return
 * address minus one lies inside the call), or nothing if unknown. */
void shim_put_symbol(uint64_t addr, uint64_t lookup);

/* A 64-bit finalizer (splitmix64's) for mixing timer jitter into entropy. */
uint64_t shim_mix64(uint64_t z);

/* The HAL line of the stop request (plat_stop_line) on every shim: the
 * highest, which no device line is given (x86: the ACPI power button,
 * aarch64: the gpio-keys power button). */
#define PLAT_STOP_LINE 63

/* A memory range from the boot loader; type as in E820 (1 = usable RAM). */
struct memrange {
  uint64_t base, len;
  uint32_t type;
};

/* The largest usable range at or above `reserved_end`, 64 KiB aligned: linear
 * memory's region. The caller makes sure it is zero-filled. */
struct plat_region shim_choose_linear(const struct memrange *m, unsigned n, uint64_t reserved_end);

/* The end of boot_main: the memory map (with -DUNIWASM_BOOT_DEBUG), then
 * runtime_main() -- or a message and RT_EXIT_RUNTIME if there is no region. */
_Noreturn void shim_run(const struct memrange *m, unsigned n, struct plat_region linear);

/* plat_entropy's loop: 8 bytes at a time from hw() while it succeeds, else
 * the jitter of 16 sample()s (a cycle count around a device access) mixed
 * into a running state. Returns how many bytes came from hw(). */
uint32_t shim_entropy(uint8_t *buf, uint32_t len, bool (*hw)(uint64_t *out), uint64_t (*sample)(void));

/* Prints "exit code N" (when the machine has no way to pass it on). */
void shim_say_exit_code(int code);

#endif
