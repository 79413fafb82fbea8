// The HAL: the kernel's only window to the world.
//
// Every platform (the x86_64 shim in boot/x86_64, the Node platform in host/)
// implements exactly these imports of the wasm module "hal". Nothing else in
// kernel/ or drivers/ may import from outside the module, so the same wasm runs
// everywhere. The contract is architecture-neutral: addresses are physical and
// 64-bit, interrupt lines are small integers the platform assigns (the GSI on
// x86, the SPI on ARM, the device model's line in Node).
//
// Conventions shared by every call:
// - `ptr`/`len` pairs name bytes in the kernel's own linear memory. A range that
//   does not lie wholly inside linear memory is a kernel bug: the platform traps
//   with a report instead of touching anything.
// - Times are nanoseconds on the platform's monotonic clock. Its origin is the
//   platform's first instruction (x86: the shim's entry point; Node: the creation
//   of the machine), so `clock_ns()` read in `main` is the boot time.
// - No call blocks except `wait`, and no call re-enters the kernel: interrupt
//   handlers live in the platform and only record that a line is pending.

/** Sentinel deadline for `wait`: sleep until an interrupt, however long. */
export const NO_DEADLINE: u64 = u64.MAX_VALUE;

/**
 * Writes `len` bytes (UTF-8, `\n` line ends) to the platform console: the
 * serial port on QEMU, stdout in Node. Returns when the bytes are accepted
 * (the platform may buffer, but `exit` flushes).
 */
@external("hal", "console_write")
export declare function console_write(ptr: usize, len: u32): void;

/** Monotonic time in nanoseconds since the platform started. Never goes back. */
@external("hal", "clock_ns")
export declare function clock_ns(): u64;

/**
 * Sleeps until at least one interrupt line is pending or `clock_ns()` reaches
 * `deadline_ns`, whichever comes first, and returns the set of pending lines
 * as a bit mask (bit n = line n, lines 0..63), clearing it. A deadline in the
 * past returns at once (with whatever is pending, possibly 0). `NO_DEADLINE`
 * means no timeout. A level-triggered line that fired is masked by the
 * platform until the kernel calls `irq_unmask` for it, so its device cannot
 * storm before its driver has serviced it. A platform may leave an
 * edge-triggered line unmasked (x86 does: an edge on a masked line is lost),
 * so a line can be pending again while its handler runs; the kernel must not
 * rely on a line staying quiet until it unmasks it.
 */
@external("hal", "wait")
export declare function wait(deadline_ns: u64): u64;

/**
 * Lets interrupts of `line` reach the pending set again (after servicing).
 * An interrupt raised before a line is unmasked for the first time may be
 * lost (x86's IOAPIC ignores an edge on a masked line, however the line is
 * later configured), so a driver services its device once after routing its
 * line, instead of waiting for an interrupt that already happened.
 */
@external("hal", "irq_unmask")
export declare function irq_unmask(line: u32): void;

/** Stops `line` from becoming pending (the device is being reset, say). */
@external("hal", "irq_mask")
export declare function irq_mask(line: u32): void;

/**
 * The interrupt line on which the platform asks the kernel to stop, or -1 if
 * it never does. The line becomes pending (in `wait`'s mask) once per
 * request: the power button (`virsh shutdown`, QEMU's `system_powerdown`;
 * line 63, the platform acknowledges the hardware itself) -- ACPI's on x86,
 * the gpio-keys key on aarch64 virt -- and `Machine.requestStop()` in Node. Asking arms it: a platform
 * raises no request before the first call. Unmask the line after each
 * request, as for any line. The scheduler asks when it starts
 * (kernel/sched/stop.ts says what it then does).
 */
@external("hal", "stop_line")
export declare function stop_line(): i32;

/**
 * Makes `len` bytes of device memory at physical address `phys` accessible to
 * the mmio_* calls (uncached, never executable). Returns 0, or a negative
 * value if the range cannot be mapped (the platform prints why).
 */
@external("hal", "mmio_map")
export declare function mmio_map(phys: u64, len: u64): i32;

// Device-register access at a physical address inside a range given to
// mmio_map. Each is a single access of exactly that width, never merged,
// split or reordered with other mmio/port calls.
@external("hal", "mmio_read8") export declare function mmio_read8(phys: u64): u32;
@external("hal", "mmio_read16") export declare function mmio_read16(phys: u64): u32;
@external("hal", "mmio_read32") export declare function mmio_read32(phys: u64): u32;
@external("hal", "mmio_read64") export declare function mmio_read64(phys: u64): u64;
@external("hal", "mmio_write8") export declare function mmio_write8(phys: u64, value: u32): void;
@external("hal", "mmio_write16") export declare function mmio_write16(phys: u64, value: u32): void;
@external("hal", "mmio_write32") export declare function mmio_write32(phys: u64, value: u32): void;
@external("hal", "mmio_write64") export declare function mmio_write64(phys: u64, value: u64): void;

// Port I/O, for platforms that have it (x86). Elsewhere reads return all ones
// and writes are ignored, so a driver probing a port-only device finds nothing.
@external("hal", "port_read8") export declare function port_read8(port: u32): u32;
@external("hal", "port_read16") export declare function port_read16(port: u32): u32;
@external("hal", "port_read32") export declare function port_read32(port: u32): u32;
@external("hal", "port_write8") export declare function port_write8(port: u32, value: u32): void;
@external("hal", "port_write16") export declare function port_write16(port: u32, value: u32): void;
@external("hal", "port_write32") export declare function port_write32(port: u32, value: u32): void;

/**
 * A full memory barrier: every load and store to linear memory before it is
 * visible to devices (and every device write is visible to later loads)
 * before any access after it. Wasm loads and stores carry no ordering, so
 * drivers call this between filling a descriptor and publishing it.
 */
@external("hal", "fence")
export declare function fence(): void;

/**
 * Physical address of linear memory offset 0. Linear memory never moves, so
 * the DMA address of a buffer at offset `p` is `dma_base() + p`.
 */
@external("hal", "dma_base")
export declare function dma_base(): u64;

/**
 * Fills `len` bytes at `ptr` with entropy from the best source the platform
 * has (RDRAND/RDSEED, a seeded generator in Node simulation). Returns how many
 * bytes came from a hardware or host source; fewer than `len` means the rest
 * is only as good as the platform's fallback mixing of timer jitter.
 */
@external("hal", "entropy")
export declare function entropy(ptr: usize, len: u32): u32;

/**
 * Copies the boot command line (without a terminating NUL) to `ptr`, at most
 * `cap` bytes, and returns its full length, so a caller can retry with room.
 */
@external("hal", "cmdline")
export declare function cmdline(ptr: usize, cap: u32): u32;

/**
 * Bytes of RAM the platform gave the kernel for linear memory: the most that
 * `memory.grow` can ever reach.
 */
@external("hal", "mem_limit")
export declare function mem_limit(): u64;

/**
 * Records a kernel event for whoever studies the run: `kind` names the event
 * and what `a`..`d` mean (the table is kernel/trace.ts). The Node platform
 * turns each call into one JSON line stamped with the virtual time and the
 * machine (host/sim/trace.ts), when a trace was asked for; the native
 * platforms ignore it. Never fails, never blocks, allocates nothing, and
 * changes nothing the kernel can observe, so a traced run is the same run.
 */
@external("hal", "trace_event")
export declare function trace_event(kind: u32, a: u32, b: u32, c: u32, d: u32): void;

/**
 * Ends the machine with `code` as its exit status (0 success). Console output
 * is flushed first. Never returns. How the host learns the code is the
 * platform's: Node returns it; x86 prints `exit code N` on the console, then
 * uses isa-debug-exit if present (`uniwasm boot`: the exact code), else ACPI
 * power-off for 0 and pvpanic for any other code (libvirt: shut off, or
 * crashed), else a reset (boot/x86_64/README.md, "Exit").
 */
@external("hal", "exit")
export declare function exit(code: i32): void;
