// uniwasm/build: the image builder as a library (what `uniwasm image` and
// `uniwasm node` run). An app is a folder holding main.ts (loadApp); buildWasm
// makes the kernel's wasm for the Node platform, buildImage goes on to a
// bootable image.

export { loadApp, type App, type AppConfig } from "../app.ts";
export { buildImage, BOUNDS_CHECKS, type BoundsChecks, type ImageOptions, type ImageResult } from "../image.ts";
export { buildWasm, checkKernelAbi, type Log, type WasmArtifacts, type WasmBuildOptions } from "../wasm-build.ts";
export { StageCache } from "../cache.ts";
export { checkImage, IMAGE_FORMATS, type CheckedImage, type ImageFormat } from "../image-format.ts";
export { UserError } from "../errors.ts";
export { ARCHES, type Arch } from "../paths.ts";
