// The layout a simulation build's saved stack uses (Binaryen's Asyncify):
// a two-word header at ASYNCIFY_DATA (next free byte, end), then the saved
// frames up to ASYNCIFY_END. Kernels are compiled with --memoryBase
// ASYNCIFY_END, so this low memory is never theirs.
export const ASYNCIFY_DATA = 16;
export const ASYNCIFY_END = 8192;
/** The wasm function whose calls may suspend a kernel. */
export const ASYNCIFY_IMPORTS = "hal.wait";
