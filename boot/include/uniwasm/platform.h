/*
 * The seam between an architecture's boot shim (boot/<arch>/) and the
 * architecture-neutral runtime for wasm2c output (boot/runtime/).
 *
 * The shim owns the machine: CPU setup, page tables, interrupts, the clock,
 * the console. It implements every `plat_*` call below and the wasm imports
 * of module "hal" (kernel/hal.ts) as `w2c_hal_*` functions. The runtime owns
 * the wasm instance: it places linear memory, instantiates, runs `main`, and
 * turns traps into reports. Neither calls into wasm from an interrupt.
 */
#ifndef UNIWASM_PLATFORM_H
#define UNIWASM_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes the shim, the runtime and the Node platform (host/exit-codes.ts) use for the ways a kernel can fail; an app's
 * own codes from `main` should stay below 64. */
#define RT_EXIT_ABORT 70   /* AssemblyScript abort(): assertion, throw */
#define RT_EXIT_TRAP 71    /* wasm trap */
#define RT_EXIT_CPU 72     /* CPU exception in native code */
#define RT_EXIT_RUNTIME 73 /* the machine could not start or continue the kernel */
#define RT_EXIT_OOM 75     /* the kernel's heap could not grow: out of memory */

/* ---- provided by the shim ---- */

/* Writes n bytes to the early console (serial). Usable from the first
 * instruction of C code on, and from exception handlers. */
void plat_console_write(const char *s, size_t n);

/* Monotonic nanoseconds since the shim's entry point. */
uint64_t plat_clock_ns(void);

/* Flushes the console, prints `exit code N` on it, and ends the machine with
 * `code` (0 success) in the way that carries the most: a device that hands
 * the host the exact code (x86: isa-debug-exit) first; else power-off for 0
 * and a panic notification (x86: pvpanic) for any other code; else a reset
 * or a halt. Each shim's README says which methods, in which order. */
_Noreturn void plat_exit(int code);

/* The physically contiguous, identity-mapped, writable, non-executable and
 * zero-filled RAM region reserved for linear memory, chosen from the boot
 * loader's memory map. base is 64 KiB aligned. */
struct plat_region {
  uint64_t base;
  uint64_t size;
};
struct plat_region plat_linear_region(void);

/* Maps the first `bytes` of that region (a multiple of 64 KiB, at most its
 * size) at linear memory's virtual window and returns the window's base, or
 * NULL. Called again as memory grows; the base never changes. Nothing past
 * `bytes` is mapped within the 8 GiB after the base that a wasm address can
 * reach, so an access beyond the memory faults, and the shim hands such a
 * fault to runtime_memory_fault(). */
uint8_t *plat_linear_map(uint64_t bytes);

/* Sleeps (interrupts enabled, CPU halted) until a line is pending or the
 * clock reaches deadline_ns (UINT64_MAX: no deadline); returns and clears the
 * pending mask (bit n = line n). A level-triggered line that fires is masked
 * until plat_irq_unmask(line); an edge-triggered one stays unmasked (an edge
 * on a masked line would be lost), so it may be pending again before it is
 * unmasked. Never busy-spins for longer than it takes to arm the timer. */
uint64_t plat_wait(uint64_t deadline_ns);
void plat_irq_mask(uint32_t line);
void plat_irq_unmask(uint32_t line);

/* The line (0..63) that becomes pending, in plat_wait's mask, once per
 * request from outside to stop the machine cleanly, or -1 if the platform has
 * no such request. Arms the source on the first call; the platform
 * acknowledges the hardware itself. Both shims use line 63 (PLAT_STOP_LINE
 * in boot/common/shim.h), which no device is given. x86: the ACPI power
 * button (FADT PM1 event block, the SCI). aarch64: the device tree's
 * gpio-keys key with code KEY_POWER, on its PL061 GPIO pin (QEMU virt's
 * system_powerdown). Optional: the runtime's weak default returns -1. */
int32_t plat_stop_line(void);

/* Maps [phys, phys+len) uncached, non-executable. 0 or negative on error
 * (after printing why). Accesses are single, exact-width, volatile. */
int plat_mmio_map(uint64_t phys, uint64_t len);
uint64_t plat_mmio_read(uint64_t phys, unsigned width_bytes);
void plat_mmio_write(uint64_t phys, unsigned width_bytes, uint64_t value);
/* Port I/O; on architectures without it reads return all ones. */
uint32_t plat_port_read(uint32_t port, unsigned width_bytes);
void plat_port_write(uint32_t port, unsigned width_bytes, uint32_t value);
/* Full barrier between normal memory and device accesses. */
void plat_fence(void);

/* Fills buf with entropy; returns how many bytes came from hardware. */
uint32_t plat_entropy(uint8_t *buf, uint32_t len);

/* The boot command line, NUL-terminated ("" if none). */
const char *plat_cmdline(void);

/* Prints the chain of return addresses starting at frame pointer `fp`,
 * one per line, symbolized through runtime_symbolize(). */
void plat_backtrace(uintptr_t fp);

/* hal.trace_event (kernel/hal.ts) needs nothing from the shim: the runtime
 * implements it as a no-op (boot/runtime/hal.c), since the kernel's event
 * trace is read on the Node platform. */

/* ---- provided by the runtime ---- */

/* The runtime implements every wasm import of module "hal" (boot/runtime/
 * hal.c) on top of the plat_* calls above, so the shim never sees wasm types. */

/* Called by the shim for a page fault inside linear memory's window: a wasm
 * access out of bounds (the check itself, in guard-page mode). Reports it as
 * a wasm trap at `pc` and ends the machine. */
_Noreturn void runtime_memory_fault(uintptr_t pc, uintptr_t fp);

/* Entered by the shim once the machine is set up (stack, paging, FPU/SSE,
 * console, clock, interrupt controllers). Instantiates the kernel, runs its
 * `main`, and exits with its result. Never returns. */
_Noreturn void runtime_main(void);

/* Returns a pointer to linear memory bytes [ptr, ptr+len), or traps with an
 * out-of-bounds report if the range is not wholly inside linear memory. HAL
 * imports use this for every (ptr, len) argument. */
uint8_t *runtime_span(uint64_t ptr, uint64_t len);

/* Current linear memory: base and size in bytes. */
uint8_t *runtime_memory_base(void);
uint64_t runtime_memory_size(void);

/* Name of the function containing code address `addr`, or NULL; *offset is
 * set to addr - start of that function. Backed by a table the image builder
 * generates from the linked image. */
const char *runtime_symbolize(uintptr_t addr, uintptr_t *offset);

/* For a name runtime_symbolize() returned: where the function's source
 * starts (from the app's source map), or NULL when unknown. Either
 * "file:line", or, when the file is the name's module (a function of
 * kernel/net/ip.ts is named ~lib/uniwasm/kernel/net/ip/...), ":<n>:<line>"
 * for the name's first n bytes and ".ts" (rt_put_source prints both alike). */
const char *runtime_source_of(const char *name);

/* Formatting for reports, usable before and after the kernel runs. */
void rt_puts(const char *s);
void rt_put_hex(uint64_t v);
/* " at file:line" for a symbolized name whose source location is known, else nothing. */
void rt_put_source(const char *name);
void rt_put_dec(uint64_t v);

#endif
