/* Runtime internals shared by the runtime's own files and the generated glue. */
#ifndef UNIWASM_RUNTIME_H
#define UNIWASM_RUNTIME_H
#include <stdint.h>

#define RT_WASM_PAGE 65536u
#define RT_TABLE_ARENA_BYTES (64u * 1024u)

/* Exit codes the runtime and shim use for the ways a kernel can fail; an app's
 * own codes from `main` should stay below 64. */
#define RT_EXIT_ABORT 70   /* AssemblyScript abort(): assertion, throw */
#define RT_EXIT_TRAP 71    /* wasm trap */
#define RT_EXIT_CPU 72     /* CPU exception in native code */
#define RT_EXIT_RUNTIME 73 /* the runtime could not start the kernel */

/* Generated per image by the builder (entry.c): instantiates the kernel and
 * returns what its `main` returned. */
uint32_t rt_run_kernel(void);

/* Reserves linear memory for a kernel that imports it (env.memory). */
void rt_memory_setup(uint64_t initial_pages, uint64_t max_pages);

uint64_t runtime_memory_limit(void);
void rt_put_symbol(uintptr_t addr);
_Noreturn void rt_fail(const char *what, int code);
#endif
