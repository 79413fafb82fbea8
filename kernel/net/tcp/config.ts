// Per-socket settings. A listener's config is copied into every connection
// it accepts; `connect` copies the one it is given (or the stack's default).
// Sizes are bytes, times nanoseconds.

import { CongestionControl } from "./cc";
import { NewReno } from "./newreno";
import { MS, SEC } from "../../sched/time";

export class TcpConfig {
  /** Send and receive buffer per connection: the per-connection memory limit. */
  sndBuf: u32 = 64 * 1024;
  rcvBuf: u32 = 64 * 1024;
  /**
   * The most bytes queued by reference (TcpSocket.sendStatic) and not yet
   * acknowledged. They take no memory, so the bound is larger than sndBuf
   * (a 1 MiB file goes in one call); it keeps a connection's queued
   * sequence space finite.
   */
  sndRefMax: u32 = 1 << 20;
  /** Largest segment payload we accept (advertised MSS); also capped by the path MTU. */
  mss: u32 = 1460;
  /** Disables Nagle's algorithm: small writes go out at once. */
  noDelay: bool = false;
  /** The congestion controller; each connection gets `cc.fresh()`. */
  cc: CongestionControl = new NewReno();
  sack: bool = true;
  timestamps: bool = true;
  windowScale: bool = true;
  /** RFC 6298 bounds. The RFC's floor is 1 s; 200 ms is Linux's, and what this stack uses by default. */
  minRtoNs: u64 = 200 * MS;
  maxRtoNs: u64 = 60 * SEC;
  initialRtoNs: u64 = 1 * SEC;
  /** Delayed-ACK timeout (RFC 9293 allows up to 500 ms). */
  delAckNs: u64 = 40 * MS;
  /** TIME_WAIT lasts this long (2 MSL). */
  timeWaitNs: u64 = 60 * SEC;
  /** FIN_WAIT_2 gives up after this long, so a peer that never closes cannot pin a connection. */
  finWait2Ns: u64 = 60 * SEC;
  synRetries: u32 = 6;
  synAckRetries: u32 = 5;
  /** Retransmissions of the same data before the connection is dropped. */
  maxRetries: u32 = 15;
  keepAlive: bool = false;
  keepIdleNs: u64 = 7200 * SEC;
  keepIntvlNs: u64 = 75 * SEC;
  keepCount: u32 = 9;
  /** Immediate ACKs at connection start (quick-ACK mode), so slow start is not held back by delayed ACKs. */
  quickAcks: u32 = 16;

  clone(): TcpConfig {
    const c = new TcpConfig();
    c.sndBuf = this.sndBuf;
    c.rcvBuf = this.rcvBuf;
    c.sndRefMax = this.sndRefMax;
    c.mss = this.mss;
    c.noDelay = this.noDelay;
    c.cc = this.cc;
    c.sack = this.sack;
    c.timestamps = this.timestamps;
    c.windowScale = this.windowScale;
    c.minRtoNs = this.minRtoNs;
    c.maxRtoNs = this.maxRtoNs;
    c.initialRtoNs = this.initialRtoNs;
    c.delAckNs = this.delAckNs;
    c.timeWaitNs = this.timeWaitNs;
    c.finWait2Ns = this.finWait2Ns;
    c.synRetries = this.synRetries;
    c.synAckRetries = this.synAckRetries;
    c.maxRetries = this.maxRetries;
    c.keepAlive = this.keepAlive;
    c.keepIdleNs = this.keepIdleNs;
    c.keepIntvlNs = this.keepIntvlNs;
    c.keepCount = this.keepCount;
    c.quickAcks = this.quickAcks;
    return c;
  }
}
