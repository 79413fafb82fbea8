/*
 * The runtime interface that wasm2c output of WABT 1.0.39 (the version pinned
 * in package.json) compiles against, written for a freestanding kernel: one
 * linear memory placed in RAM the shim reserved, traps that end the machine
 * with a report, and recursion bounded by the stack's floor.
 * The generated code's expectations change between WABT versions; when the
 * pin moves, this header moves with it.
 */
#ifndef WASM_RT_H_
#define WASM_RT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WABT_BIG_ENDIAN 0
#define WASM_RT_USE_SEGUE 0
#define WASM_RT_SANITY_CHECKS 0
#define WASM_RT_THREAD_LOCAL

/* Explicit bounds checks on every access (the default), or none when the
 * builder asks for guard-page checking. */
#ifndef WASM_RT_MEMCHECK_GUARD_PAGES
#define WASM_RT_MEMCHECK_GUARD_PAGES 0
#endif

/*
 * wasm2c's recursion limit, a global counter incremented on every function's
 * entry and decremented on every return, is replaced by the image builder
 * (tools/wasm2c-edits.ts) with a check of the stack itself: each generated
 * function's entry compares its frame address with __wasm_stack_floor, which
 * the linker scripts put 32 KiB above the bottom of the 256 KiB boot stack
 * that all wasm code runs on, and traps with WASM_RT_TRAP_EXHAUSTION below it
 * -- no store, nothing on return, and the limit is the stack's bytes rather
 * than a frame count that has to guess their size. The counter remains, for
 * -DUNIWASM_CALL_DEPTH_COUNT (measuring the difference).
 */
#define WASM_RT_STACK_DEPTH_COUNT 1
#ifndef WASM_RT_MAX_CALL_STACK_DEPTH
#define WASM_RT_MAX_CALL_STACK_DEPTH 2000
#endif
extern char __wasm_stack_floor[];
#define WASM_RT_BELOW_STACK_FLOOR() \
  ((uintptr_t)__builtin_frame_address(0) < (uintptr_t)__wasm_stack_floor)

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define WASM_RT_NO_RETURN __attribute__((noreturn))
#define wasm_rt_memcpy __builtin_memcpy

typedef enum {
  WASM_RT_TRAP_NONE,
  WASM_RT_TRAP_OOB,
  WASM_RT_TRAP_INT_OVERFLOW,
  WASM_RT_TRAP_DIV_BY_ZERO,
  WASM_RT_TRAP_INVALID_CONVERSION,
  WASM_RT_TRAP_UNREACHABLE,
  WASM_RT_TRAP_CALL_INDIRECT,
  WASM_RT_TRAP_UNCAUGHT_EXCEPTION,
  WASM_RT_TRAP_UNALIGNED,
  WASM_RT_TRAP_EXHAUSTION,
  WASM_RT_TRAP_NULL_REF,
} wasm_rt_trap_t;

typedef enum {
  WASM_RT_I32,
  WASM_RT_I64,
  WASM_RT_F32,
  WASM_RT_F64,
  WASM_RT_V128,
  WASM_RT_FUNCREF,
  WASM_RT_EXTERNREF,
} wasm_rt_type_t;

typedef void (*wasm_rt_function_ptr_t)(void);

struct wasm_rt_tailcallee_t;
typedef void (*wasm_rt_tailcallee_fn_t)(void **instance_ptr, void *tail_call_stack,
                                        struct wasm_rt_tailcallee_t *next);
typedef struct wasm_rt_tailcallee_t {
  wasm_rt_tailcallee_fn_t fn;
} wasm_rt_tailcallee_t;

typedef const char *wasm_rt_func_type_t;

typedef struct {
  wasm_rt_func_type_t func_type;
  wasm_rt_function_ptr_t func;
  wasm_rt_tailcallee_t func_tailcallee;
  void *module_instance;
} wasm_rt_funcref_t;

#define wasm_rt_funcref_null_value ((wasm_rt_funcref_t){NULL, NULL, {NULL}, NULL})

typedef void *wasm_rt_externref_t;
#define wasm_rt_externref_null_value ((wasm_rt_externref_t){NULL})

typedef struct {
  uint8_t *data;
  uint64_t pages;
  uint64_t max_pages;
  uint64_t size;
  bool is64;
} wasm_rt_memory_t;

typedef struct {
  wasm_rt_funcref_t *data;
  uint32_t max_size;
  uint32_t size;
} wasm_rt_funcref_table_t;

typedef struct {
  wasm_rt_externref_t *data;
  uint32_t max_size;
  uint32_t size;
} wasm_rt_externref_table_t;

extern uint32_t wasm_rt_call_stack_depth;

/*
 * Linear memory's base address, for the generated code's loads and stores
 * (the image builder points wasm2c's MEM_ADDR_MEMOP here: tools/wasm2c-edits.ts).
 * The one memory never moves (its region is reserved whole and grown in
 * place) and wasm_rt_allocate_memory sets rt_linear_base before any wasm code
 * runs, so for the generated code the base is a constant. wasm2c's own form,
 * instance->memory->data, is two dependent loads that the compiler repeats
 * after every store, since a store through a char pointer may alias both:
 * a fifth of the generated machine code went to it. An asm statement with no
 * memory operand is a pure value to the compiler, read once per function.
 */
extern uint8_t *rt_linear_base;
static inline uint8_t *wasm_rt_linear_base(void) {
  uint8_t *base;
#if defined(__aarch64__)
  __asm__("adrp %0, rt_linear_base\n\tldr %0, [%0, :lo12:rt_linear_base]" : "=r"(base));
#elif defined(__x86_64__)
  __asm__("movq rt_linear_base(%%rip), %0" : "=r"(base));
#else
  base = rt_linear_base;
#endif
  return base;
}

/* Ends the machine with a trap report naming the function that trapped. */
WASM_RT_NO_RETURN void wasm_rt_trap(wasm_rt_trap_t trap);
const char *wasm_rt_strerror(wasm_rt_trap_t trap);

void wasm_rt_allocate_memory(wasm_rt_memory_t *mem, uint64_t initial_pages,
                             uint64_t max_pages, bool is64, uint32_t page_size);
uint64_t wasm_rt_grow_memory(wasm_rt_memory_t *mem, uint64_t delta);
void wasm_rt_free_memory(wasm_rt_memory_t *mem);

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *table,
                                    uint32_t elements, uint32_t max_elements);
void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *table);
uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t *table, uint32_t delta,
                                    wasm_rt_funcref_t init);
void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t *table,
                                      uint32_t elements, uint32_t max_elements);
void wasm_rt_free_externref_table(wasm_rt_externref_table_t *table);
uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t *table, uint32_t delta,
                                      wasm_rt_externref_t init);

#endif
