/*
 * The exception report (its backtrace: boot/common/shim.c).
 *
 * Every exception except an IRQ in plat_wait is fatal: the report names the
 * exception class and shows ESR, FAR (for aborts), ELR (symbolized), SP, the
 * frame pointer and the frame-pointer chain, then plat_exit(RT_EXIT_CPU).
 * Handlers run on the exception stack (SP_EL1) while the kernel runs on
 * SP_EL0, so a kernel stack overflow (an abort in the guard page below the
 * boot stack) is still reported.
 */
#include "arm64.h"

SHIM_CODE_BEGIN

static const char *const kinds[16] = {
    "synchronous", "IRQ", "FIQ", "SError", "synchronous (in a handler)", "IRQ (in a handler)",
    "FIQ (in a handler)", "SError (in a handler)", "synchronous (lower EL)", "IRQ (lower EL)", "FIQ (lower EL)",
    "SError (lower EL)", "synchronous (lower EL, AArch32)", "IRQ (lower EL, AArch32)",
    "FIQ (lower EL, AArch32)", "SError (lower EL, AArch32)"};

static const char *ec_name(uint32_t ec) {
  switch (ec) {
    case 0x00: return "undefined instruction";
    case 0x01: return "WFI/WFE trapped";
    case 0x07: return "FP/SIMD access trapped";
    case 0x0e: return "illegal execution state";
    case 0x15: return "SVC";
    case 0x16: return "HVC";
    case 0x17: return "SMC";
    case 0x18: return "system register access trapped";
    case 0x20: case 0x21: return "instruction abort";
    case 0x22: return "PC alignment fault";
    case 0x24: case 0x25: return "data abort";
    case 0x26: return "SP alignment fault";
    case 0x2c: return "floating-point exception";
    case 0x2f: return "SError interrupt";
    case 0x30: case 0x31: return "breakpoint";
    case 0x32: case 0x33: return "software step";
    case 0x34: case 0x35: return "watchpoint";
    case 0x3c: return "BRK instruction";
  }
  return "unknown exception class";
}

static bool is_abort(uint32_t ec) { return ec == 0x20 || ec == 0x21 || ec == 0x24 || ec == 0x25; }

/* True if [a, a+len) lies in memory the page tables map readable: RAM from
 * the device tree, outside the stack guard page. */
bool trap_addr_readable(uint64_t a, uint64_t len) {
  uint64_t e = a + len, g = (uint64_t)(uintptr_t)__stack_guard;
  if (e < a || (a < g + 4096 && e > g)) return false;
  for (unsigned i = 0; i < boot_mem_count; i++)
    if (a >= boot_mem[i].base && e <= boot_mem[i].base + boot_mem[i].len) return true;
  return false;
}

_Noreturn void trap_exception(struct trap_frame *f, uint64_t kind) {
  static int depth;
  uint32_t ec = (uint32_t)(f->esr >> 26) & 0x3f;
  if (exiting) exit_after_semihosting(); /* plat_exit's semihosting call trapped: there is none */
  if (depth++) {
    kputs("\n*** nested CPU exception: ");
    kputs(ec_name(ec));
    kputs(" at elr ");
    kput_hex(f->elr);
    kputs("\n");
    plat_exit(RT_EXIT_CPU);
  }
  /* A wasm access beyond linear memory: in guard-page mode, the bounds check. */
  if (kind == 0 && ec == 0x25 && mm_in_linear_window(f->far)) runtime_memory_fault(f->elr, f->x[29]);
  uint64_t g = (uint64_t)(uintptr_t)__stack_guard;
  bool abort = (kind & 3) == 0 && is_abort(ec);
  kputs("\n*** CPU exception: ");
  if (abort && f->far >= g && f->far < g + 4096)
    kputs("kernel stack overflow (data abort in the stack guard page)");
  else
    kputs(kind & 3 ? kinds[kind & 15] : ec_name(ec));
  kputs("\n  ");
  kputs(kinds[kind & 15]);
  kputs(", EC ");
  kput_hex(ec);
  kputs(", ESR ");
  kput_hex(f->esr);
  kputs("\n  elr ");
  kput_hex(f->elr);
  shim_put_symbol(f->elr, f->elr);
  kputs("\n  sp ");
  kput_hex(f->sp);
  kputs(", fp ");
  kput_hex(f->x[29]);
  kputs(", lr ");
  kput_hex(f->x[30]);
  if (abort) {
    uint32_t dfsc = (uint32_t)f->esr & 0x3f;
    kputs("\n  far ");
    kput_hex(f->far);
    kputs((dfsc & 0x3c) == 0x04 ? " (not mapped" : (dfsc & 0x3c) == 0x0c ? " (permission fault" : (dfsc & 0x3c) == 0x08 ? " (access flag fault" : " (fault");
    if (ec >= 0x24) kputs(f->esr & (1u << 6) ? ", write" : ", read");
    else kputs(", instruction fetch");
    kputs(f->far < 4096 ? ", null pointer)" : ")");
  }
  kputs("\n  backtrace:\n");
  plat_backtrace(f->x[29]);
  plat_exit(RT_EXIT_CPU);
}

SHIM_CODE_END
