/* Runtime internals shared by the runtime's own files and the generated glue. */
#ifndef UNIWASM_RUNTIME_H
#define UNIWASM_RUNTIME_H
#include <stdint.h>
#include <uniwasm/platform.h>

#define RT_WASM_PAGE 65536u
#define RT_TABLE_ARENA_BYTES (64u * 1024u)


/* Generated per image by the builder (entry.c): instantiates the kernel and
 * returns what its `main` returned. */
uint32_t rt_run_kernel(void);

/* The size argument of the allocation in progress: a global of the kernel
 * (tools/wasm-build.ts), or null when the kernel has no allocator. Read by the
 * out-of-memory report. */
extern uint32_t *rt_alloc_request;

/* Reserves linear memory for a kernel that imports it (env.memory). */
void rt_memory_setup(uint64_t initial_pages, uint64_t max_pages);

uint64_t runtime_memory_limit(void);
/* Physical address of linear memory offset 0 (what DMA uses). */
uint64_t runtime_memory_phys(void);
void rt_put_symbol(uintptr_t addr);
_Noreturn void rt_fail(const char *what, int code);
#endif
