// Manually managed, device-visible memory.
export { dmaAlloc, dmaAddr, dmaBytes } from "./dma";
export { PacketPool, packetPool, PKT_BUF_SIZE, PKT_HEADROOM, PKT_MAX_FRAME } from "./pktbuf";
export { HeapUsage, heapUsage } from "./heap";
