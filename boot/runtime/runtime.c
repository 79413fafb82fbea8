/*
 * The runtime for wasm2c output: places linear memory, instantiates the
 * kernel, runs its `main`, and turns every way the kernel can fail (a trap,
 * call-depth exhaustion, an AssemblyScript abort) into a report and a
 * non-zero exit. Architecture-neutral: everything machine-specific is behind
 * the plat_* calls of <uniwasm/platform.h>.
 */
#include <stdint.h>
#include <string.h>
#include <uniwasm/platform.h>
#include <uniwasm/runtime.h>

#include "wasm-rt.h"

uint32_t wasm_rt_call_stack_depth;

static wasm_rt_memory_t *the_memory;
static uint64_t region_pages;
uint32_t *rt_alloc_request;
/* Pages the last memory.grow asked for, if it was refused (0 after a grow
 * that succeeded): with an `unreachable` in the allocator, out of memory. */
static uint64_t refused_grow_pages;

/* ---- reports ---- */

void rt_puts(const char *s) { plat_console_write(s, strlen(s)); }

void rt_put_hex(uint64_t v) {
  char buf[19];
  buf[0] = '0';
  buf[1] = 'x';
  int n = 2;
  int started = 0;
  for (int shift = 60; shift >= 0; shift -= 4) {
    unsigned d = (v >> shift) & 0xf;
    if (d || started || shift == 0) {
      buf[n++] = "0123456789abcdef"[d];
      started = 1;
    }
  }
  plat_console_write(buf, (size_t)n);
}

void rt_put_dec(uint64_t v) {
  char buf[20];
  int n = sizeof buf;
  do {
    buf[--n] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  plat_console_write(buf + n, sizeof buf - (size_t)n);
}

/* Prints "name+0xoff" for a code address, or the bare address; then
 * " at file:line" when the builder knew where the function's source starts
 * (its location follows the name in the table, tools/image.ts). */
void rt_put_symbol(uintptr_t addr) {
  uintptr_t off;
  const char *name = runtime_symbolize(addr, &off);
  if (!name) {
    rt_put_hex(addr);
    return;
  }
  rt_puts(name);
  rt_puts("+");
  rt_put_hex(off);
  rt_put_source(name);
}

void rt_put_source(const char *name) {
  const char *at = runtime_source_of(name);
  if (!at) return;
  rt_puts(" at ");
  if (*at == ':') {
    /* ":<n>:<line>": the file is the name's first n bytes and ".ts" (tools/image.ts) */
    size_t n = 0;
    for (at++; *at >= '0' && *at <= '9'; at++) n = n * 10 + (size_t)(*at - '0');
    plat_console_write(name, n);
    rt_puts(".ts");
  }
  rt_puts(at);
}

_Noreturn void rt_fail(const char *what, int code) {
  rt_puts("\nuniwasm: ");
  rt_puts(what);
  rt_puts("\n");
  plat_exit(code);
}

const char *wasm_rt_strerror(wasm_rt_trap_t trap) {
  switch (trap) {
  case WASM_RT_TRAP_NONE: return "no trap";
  case WASM_RT_TRAP_OOB: return "out of bounds memory access";
  case WASM_RT_TRAP_INT_OVERFLOW: return "integer overflow";
  case WASM_RT_TRAP_DIV_BY_ZERO: return "integer divide by zero";
  case WASM_RT_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
  case WASM_RT_TRAP_UNREACHABLE: return "unreachable executed";
  case WASM_RT_TRAP_CALL_INDIRECT: return "indirect call signature mismatch";
  case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return "uncaught exception";
  case WASM_RT_TRAP_UNALIGNED: return "unaligned atomic access";
  case WASM_RT_TRAP_EXHAUSTION: return "call stack exhausted";
  case WASM_RT_TRAP_NULL_REF: return "null reference";
  }
  return "unknown trap";
}

static int is_allocator(uintptr_t where) {
  uintptr_t off;
  const char *name = runtime_symbolize(where, &off);
  return name && strlen(name) >= 8 && memcmp(name, "~lib/rt/", 8) == 0;
}

/* AssemblyScript's allocator traps with `unreachable` when memory.grow is
 * refused: say what that is, how much was asked and how much there was. */
static _Noreturn void oom_report(uintptr_t where, uintptr_t fp) {
  rt_puts("\nuniwasm: out of memory: the kernel's heap could not grow");
  if (rt_alloc_request) {
    rt_puts(" for an allocation of ");
    rt_put_dec(*rt_alloc_request);
    rt_puts(" bytes");
  }
  rt_puts("\n  linear memory: ");
  rt_put_dec(the_memory ? the_memory->size / 1024 : 0);
  rt_puts(" KiB in use of ");
  rt_put_dec(the_memory ? the_memory->max_pages * (RT_WASM_PAGE / 1024) : 0);
  rt_puts(" KiB the machine gives it (--mem); ");
  rt_put_dec(refused_grow_pages * (RT_WASM_PAGE / 1024));
  rt_puts(" KiB more were refused\n  in ");
  rt_put_symbol(where);
  rt_puts("\n  call chain:\n");
  plat_backtrace(fp);
  plat_exit(RT_EXIT_OOM);
}

/* The trap report: what, the function it happened in, and the call chain. */
static _Noreturn void trap_report(wasm_rt_trap_t trap, uintptr_t where, uintptr_t fp) {
  if (trap == WASM_RT_TRAP_UNREACHABLE && refused_grow_pages && is_allocator(where))
    oom_report(where, fp);
  rt_puts("\nuniwasm: wasm trap: ");
  rt_puts(wasm_rt_strerror(trap));
  rt_puts("\n  in ");
  rt_put_symbol(where);
  rt_puts("\n  call chain:\n");
  plat_backtrace(fp);
  plat_exit(RT_EXIT_TRAP);
}

/* noinline keeps the caller's return address meaningful: it is inside the
 * wasm function whose check failed. One byte back from it: a call to this
 * noreturn function can be its caller's last instruction (clang does that on
 * aarch64), so the return address itself may already be the next function. */
__attribute__((noinline)) _Noreturn void wasm_rt_trap(wasm_rt_trap_t trap) {
  uintptr_t where = (uintptr_t)__builtin_extract_return_addr(__builtin_return_address(0)) - 1;
  trap_report(trap, where, (uintptr_t)__builtin_frame_address(0));
}

_Noreturn void runtime_memory_fault(uintptr_t pc, uintptr_t fp) {
  trap_report(WASM_RT_TRAP_OOB, pc, fp);
}

/* ---- linear memory ---- */

static wasm_rt_memory_t linear_memory;

/* linear_memory.data, which never changes once set (wasm-rt.h: wasm_rt_linear_base). */
uint8_t *rt_linear_base;

/* Places linear memory at the start of the region the shim reserved. */
void wasm_rt_allocate_memory(wasm_rt_memory_t *mem, uint64_t initial_pages,
                             uint64_t max_pages, bool is64, uint32_t page_size) {
  if (the_memory)
    rt_fail("the kernel module declares more than one memory", RT_EXIT_RUNTIME);
  if (is64 || page_size != RT_WASM_PAGE)
    rt_fail("the kernel's memory must be 32-bit with 64 KiB pages", RT_EXIT_RUNTIME);
  struct plat_region r = plat_linear_region();
  region_pages = r.size / RT_WASM_PAGE;
  if (initial_pages > region_pages) {
    rt_puts("\nuniwasm: the kernel needs ");
    rt_put_dec(initial_pages * 64);
    rt_puts(" KiB of linear memory at start but the machine has ");
    rt_put_dec(region_pages * 64);
    rt_puts(" KiB: give it more RAM (--mem)\n");
    plat_exit(RT_EXIT_RUNTIME);
  }
  mem->data = plat_linear_map(initial_pages * RT_WASM_PAGE);
  if (!mem->data) rt_fail("could not map linear memory", RT_EXIT_RUNTIME);
  mem->pages = initial_pages;
  mem->max_pages = max_pages < region_pages ? max_pages : region_pages;
  mem->size = initial_pages * RT_WASM_PAGE;
  mem->is64 = false;
  rt_linear_base = mem->data;
  the_memory = mem;
}

/* Kernels import their memory (env.memory) so that the platform, not the
 * module, decides how far it may grow; the builder passes the import's
 * limits here before instantiation. */
void rt_memory_setup(uint64_t initial_pages, uint64_t max_pages) {
  wasm_rt_allocate_memory(&linear_memory, initial_pages, max_pages, false, RT_WASM_PAGE);
}

struct w2c_env;
wasm_rt_memory_t *w2c_env_memory(struct w2c_env *env) {
  (void)env;
  return &linear_memory;
}

/* Grows in place: the whole region is reserved, so memory never moves and
 * DMA addresses handed to devices stay valid; the shim maps the new pages. */
uint64_t wasm_rt_grow_memory(wasm_rt_memory_t *mem, uint64_t delta) {
  uint64_t old = mem->pages;
  if (delta > mem->max_pages - old || !plat_linear_map((old + delta) * RT_WASM_PAGE)) {
    refused_grow_pages = delta;
    return (uint64_t)-1;
  }
  refused_grow_pages = 0;
  mem->pages = old + delta;
  mem->size = mem->pages * RT_WASM_PAGE;
  return old;
}

void wasm_rt_free_memory(wasm_rt_memory_t *mem) { (void)mem; }

uint8_t *runtime_memory_base(void) { return the_memory ? the_memory->data : 0; }
uint64_t runtime_memory_phys(void) { return plat_linear_region().base; }
uint64_t runtime_memory_size(void) { return the_memory ? the_memory->size : 0; }
uint64_t runtime_memory_limit(void) { return region_pages * RT_WASM_PAGE; }

uint8_t *runtime_span(uint64_t ptr, uint64_t len) {
  if (!the_memory || ptr > the_memory->size || len > the_memory->size - ptr)
    wasm_rt_trap(WASM_RT_TRAP_OOB);
  return the_memory->data + ptr;
}

/* ---- tables: fixed-size in practice (no table.grow from AssemblyScript),
 * so they come from a static arena rather than a heap. ---- */

static uint8_t table_arena[RT_TABLE_ARENA_BYTES] __attribute__((aligned(16)));
static size_t table_arena_used;

static void *table_alloc(size_t bytes) {
  bytes = (bytes + 15) & ~(size_t)15;
  if (bytes > sizeof table_arena - table_arena_used)
    rt_fail("the kernel's tables exceed the runtime's table arena", RT_EXIT_RUNTIME);
  void *p = table_arena + table_arena_used;
  table_arena_used += bytes;
  return p;
}

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *t, uint32_t elements,
                                    uint32_t max_elements) {
  t->data = table_alloc((size_t)elements * sizeof *t->data);
  t->size = elements;
  t->max_size = elements; /* growing would need a heap; refuse it */
  (void)max_elements;
}

void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t *t, uint32_t elements,
                                      uint32_t max_elements) {
  t->data = table_alloc((size_t)elements * sizeof *t->data);
  t->size = elements;
  t->max_size = elements;
  (void)max_elements;
}

void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *t) { (void)t; }
void wasm_rt_free_externref_table(wasm_rt_externref_table_t *t) { (void)t; }

uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t *t, uint32_t delta,
                                    wasm_rt_funcref_t init) {
  (void)init;
  return delta ? (uint32_t)-1 : t->size;
}

uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t *t, uint32_t delta,
                                      wasm_rt_externref_t init) {
  (void)init;
  return delta ? (uint32_t)-1 : t->size;
}

/* ---- entry ---- */

_Noreturn void runtime_main(void) {
  uint32_t code = rt_run_kernel();
  plat_exit((int)code);
}
