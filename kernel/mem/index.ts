// Memory: manually managed, device-visible buffers; heap figures; when garbage is collected.
export { dmaAlloc, dmaAddr, dmaBytes } from "./dma";
export { PacketPool, PoolReclaimer, packetPool, PKT_BUF_SIZE, PKT_HEADROOM, PKT_MAX_FRAME } from "./pktbuf";
export { HeapUsage, heapUsage } from "./heap";
export { Collector, GC_INTERVAL_NS } from "./gc";
