// The seam between TCP and the IP layer below it. TCP knows nothing of
// interfaces, routes or ARP: it is handed segments already validated at the
// IP level (`TcpStack.input(src, dst, ptr, len)`; the TCP checksum is still
// TCP's to verify) and hands whole segments, checksum filled in, to a
// TcpOutput. The IP layer implements TcpOutput in the kernel; tests implement
// it with an in-memory pipe (pipe.ts), which is how two stacks run in one
// kernel with no network at all.

export abstract class TcpOutput {
  /**
   * Sends the TCP segment [ptr, ptr+len) from `src` to `dst` (IPv4, host
   * order). The bytes are only valid during the call: copy them. Returns
   * false if the segment was not sent (no route, no buffer); TCP treats that
   * like a loss on the wire.
   */
  abstract send(src: u32, dst: u32, ptr: usize, len: u32): bool;
  /** The largest segment (header included) that fits the path to `dst` without fragmenting. */
  mtuFor(dst: u32): u32 {
    return 1500 - 20;
  }
  /** The source address to use for a connection to `dst` (0: none). */
  sourceFor(dst: u32): u32 {
    return 0;
  }
}
