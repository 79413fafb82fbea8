// Exit codes for the ways a kernel can fail, shared with the native runtime
// (boot/runtime/include/uniwasm/runtime.h). An app's own codes stay below 64.
export const EXIT_ABORT = 70; // AssemblyScript abort(): assertion, throw
export const EXIT_TRAP = 71; // wasm trap
export const EXIT_CPU = 72; // CPU exception in native code
export const EXIT_RUNTIME = 73; // the platform could not start or continue the kernel
