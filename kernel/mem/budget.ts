// How level 1 splits a machine's memory between the kernel's pools, from
// what linear memory may grow to (hal.mem_limit): the rules in one place,
// so that a small machine is not promised more than it has and the memory
// map printed at boot (kernel/app/stack.ts) can say what got what.
//
//   packet buffers   an eighth, in 2 KiB buffers, but at least 256 (512 KiB)
//                    where that is at most a quarter: 64 to 1024. The device
//                    holds the frames it is sending until it is done with
//                    them; on a loaded host that is a hundred and more
//   receive queue    a quarter of those, at most 128 (drivers/virtio/net.ts
//                    rxQueueFor): frames the guest has no buffer for wait
//                    in the host's queue, frames it cannot send are lost
//   TSO buffers      at most a thirty-second, 64 KiB each, 0 to 8 (largeBuffersFor)
//   TCP buffers      a quarter, at most 64 MiB: a limit on rings that grow
//                    with the data they hold, not a reservation (bufpool.ts)
//   the heap         the rest: GC objects (a connection's TCB, socket and
//                    handler), TIME-WAIT records, the app's own data
//
// Only the packet and TSO buffers are carved out at boot; TCP's rings and
// everything else come from the heap as they are needed. The collector
// keeps what garbage the rest may hold bounded (kernel/mem/gc.ts).

import { PKT_BUF_SIZE } from "./pktbuf";

/** Fewest packet buffers: a receive queue of 32 and as many for frames in flight. */
export const MIN_PACKET_BUFFERS: u32 = 64;
/** Most packet buffers sized from memory (2 MiB). */
export const MAX_PACKET_BUFFERS: u32 = 1024;
/** Most TCP buffer memory sized from memory. */
export const MAX_TCP_MEMORY: u64 = 64 << 20;

/** Packet buffers that a small machine gets up to a quarter of its memory for. */
export const SMALL_PACKET_BUFFERS: u32 = 256;

/** Packet buffers for a machine of `mem` bytes (see above). */
export function packetBuffersFor(mem: u64): u32 {
  const eighth = mem / 8 / <u64>PKT_BUF_SIZE;
  const floor = min<u64>(<u64>SMALL_PACKET_BUFFERS, mem / 4 / <u64>PKT_BUF_SIZE);
  return <u32>min<u64>(MAX_PACKET_BUFFERS, max<u64>(MIN_PACKET_BUFFERS, max<u64>(eighth, floor)));
}

/** TCP's buffer limit for a machine of `mem` bytes: a quarter of it, at most MAX_TCP_MEMORY. */
export function tcpMemoryFor(mem: u64): u64 {
  return min<u64>(MAX_TCP_MEMORY, mem / 4);
}
