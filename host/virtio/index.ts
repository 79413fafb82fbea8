// Virtio device models for the Node platform: see docs/node-platform.md.
export * from "./device.ts";
export * from "./queue.ts";
export * from "./mmio.ts";
export * from "./net.ts";
export * from "./rng.ts";
export * from "./attach.ts";
