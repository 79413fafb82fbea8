// TCP counters for the whole stack. Every segment that is not processed
// normally is counted under one reason, so tests and operators can tell a
// bad checksum from an attack from a full backlog. A CounterSet
// (kernel/counters.ts): the Node platform reads them live as `tcp`.

import { CounterSet, printCounterLines } from "../../counters";

/** The counters in the order of TcpCounters's fields (the names the snapshot and `tcp.name=value` lines use). */
const NAMES: StaticArray<string> = [
  "rxSegments",
  "rcvDropNoMemory",
  "sndMemoryWaits",
  "sndBufferWaits",
  "txSegments",
  "rxBytes",
  "txBytes",
  "retransSegments",
  "retransBytes",
  "tsoSegments",
  "tsoBytes",
  "dropTruncated",
  "dropBadChecksum",
  "dropBadHeaderLen",
  "dropBadOption",
  "dropBadFlags",
  "dropOutOfWindow",
  "dropPaws",
  "dropBadAck",
  "dropNoSocket",
  "dropBadAddress",
  "dropOooFull",
  "dropDataAfterClose",
  "unknownOptions",
  "challengeAcks",
  "icmpErrors",
  "icmpIgnored",
  "pmtuUpdates",
  "challengeAcksLimited",
  "rstAccepted",
  "rstIgnored",
  "synInSync",
  "activeOpens",
  "passiveOpens",
  "established",
  "closed",
  "resetsSent",
  "resetsReceived",
  "timeouts",
  "keepaliveDrops",
  "timeWaitReused",
  "timeWaitEvicted",
  "synReceived",
  "cookiesSent",
  "cookiesAccepted",
  "cookiesRejected",
  "acceptQueueFull",
  "synAckRetransmits",
  "memoryRefused",
  "fastRetransmits",
  "sackRecoveries",
  "rtoExpirations",
  "dupAcks",
  "zeroWindowProbes",
  "smallWindowSends",
  "keepaliveProbes",
  "delayedAcks",
  "oooSegments",
  "duplicateSegments",
];

export class TcpCounters extends CounterSet {
  rxSegments: u64 = 0;
  // ---- memory (bufpool.ts) ----
  /** In-window data dropped: the pool had no memory for it (the peer resends it). */
  rcvDropNoMemory: u64 = 0;
  /** Sends cut short because the pool had no memory to grow the send ring. */
  sndMemoryWaits: u64 = 0;
  /** Times a connection held its output back because no packet buffer was free: it sent it when one came back (not a loss). */
  sndBufferWaits: u64 = 0;
  txSegments: u64 = 0;
  rxBytes: u64 = 0;
  txBytes: u64 = 0;
  retransSegments: u64 = 0;
  retransBytes: u64 = 0;
  /** Large segments handed to a device with segmentation offload (TSO); each also counts its pieces in txSegments. */
  tsoSegments: u64 = 0;
  /** Payload bytes sent in them. */
  tsoBytes: u64 = 0;
  // ---- bad input (dropped) ----
  dropTruncated: u64 = 0;
  dropBadChecksum: u64 = 0;
  /** Data offset below 5 words or past the segment. */
  dropBadHeaderLen: u64 = 0;
  /** An option whose length lies. */
  dropBadOption: u64 = 0;
  /** SYN+FIN, SYN+RST, no flag at all, or FIN/data without ACK on a synchronized connection. */
  dropBadFlags: u64 = 0;
  /** Sequence number outside the receive window (an ACK is sent back). */
  dropOutOfWindow: u64 = 0;
  /** Timestamp older than the last one accepted (RFC 7323 PAWS). */
  dropPaws: u64 = 0;
  /** ACK of data never sent, or too old (RFC 5961 5). */
  dropBadAck: u64 = 0;
  /** Segments to a port nobody listens on (RST sent unless it was a RST). */
  dropNoSocket: u64 = 0;
  /** Source or destination is a broadcast, multicast or zero address. */
  dropBadAddress: u64 = 0;
  /** Out-of-order data that did not fit the reassembly ranges. */
  dropOooFull: u64 = 0;
  /** Data that arrived after our side stopped reading (closed or past FIN). */
  dropDataAfterClose: u64 = 0;
  unknownOptions: u64 = 0;
  // ---- RFC 5961 ----
  challengeAcks: u64 = 0;
  // ---- ICMP errors (from the IP layer) ----
  /** Errors that concerned a connection and were acted on or noted. */
  icmpErrors: u64 = 0;
  /** Errors quoting a sequence number not in flight (stale, or a blind forgery: RFC 5927 4.1). */
  icmpIgnored: u64 = 0;
  /** Fragmentation-needed errors that lowered a connection's MSS (RFC 1191). */
  pmtuUpdates: u64 = 0;
  /** Challenge ACKs not sent because of the rate limit. */
  challengeAcksLimited: u64 = 0;
  rstAccepted: u64 = 0;
  rstIgnored: u64 = 0;
  synInSync: u64 = 0;
  // ---- connections ----
  activeOpens: u64 = 0;
  passiveOpens: u64 = 0;
  established: u64 = 0;
  closed: u64 = 0;
  resetsSent: u64 = 0;
  resetsReceived: u64 = 0;
  timeouts: u64 = 0;
  keepaliveDrops: u64 = 0;
  timeWaitReused: u64 = 0;
  /** TIME-WAIT connections ended early: more lingered than the stack's timeWaitMax (Linux: tw_buckets overflow). */
  timeWaitEvicted: u64 = 0;
  // ---- listen queue and SYN flood ----
  synReceived: u64 = 0;
  /** SYNs answered with a cookie because the SYN backlog was full. */
  cookiesSent: u64 = 0;
  cookiesAccepted: u64 = 0;
  cookiesRejected: u64 = 0;
  /** Handshakes completed with no room in the accept queue. */
  acceptQueueFull: u64 = 0;
  synAckRetransmits: u64 = 0;
  // ---- memory ----
  /** Connections refused because buffers would pass the stack's memory limit. */
  memoryRefused: u64 = 0;
  // ---- loss recovery ----
  fastRetransmits: u64 = 0;
  sackRecoveries: u64 = 0;
  rtoExpirations: u64 = 0;
  dupAcks: u64 = 0;
  zeroWindowProbes: u64 = 0;
  /** Segments sent into an open window smaller than sender SWS avoidance waits for, after the persist time-out (the peer's window update was lost). */
  smallWindowSends: u64 = 0;
  keepaliveProbes: u64 = 0;
  delayedAcks: u64 = 0;
  oooSegments: u64 = 0;
  duplicateSegments: u64 = 0;

  constructor() {
    super("tcp", NAMES, 0, offsetof<TcpCounters>());
  }
}

/** Prints the counters that are non-zero, one `tcp.name=value` per line (too many to read as one line). */
export function printTcpCounters(c: TcpCounters): void {
  printCounterLines(c);
}
