// Exit codes for the ways a kernel can fail, shared with the native runtime
// (boot/include/uniwasm/platform.h). An app's own codes stay below 64.
export const EXIT_ABORT = 70; // AssemblyScript abort(): assertion, throw
export const EXIT_TRAP = 71; // wasm trap
export const EXIT_CPU = 72; // CPU exception in native code
export const EXIT_RUNTIME = 73; // the platform could not start or continue the kernel
export const EXIT_OOM = 75; // the kernel's heap could not grow: out of memory
/** The kernel's exported global holding the size of the allocation in
 * progress, which the out-of-memory report names (tools/wasm-build.ts adds it). */
export const ALLOC_REQUEST_EXPORT = "uw_alloc_request";
