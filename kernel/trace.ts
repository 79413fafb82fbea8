// The kernel's event trace: what happened inside the kernel, for whoever
// studies a run (timers firing, TCP retransmitting, a congestion window
// moving). Each event is one hal.trace_event call with a kind and four u32
// arguments; the Node platform stamps it with the virtual time and the
// machine and writes a JSON line (host/sim/trace.ts holds the same table with
// the argument names); the native platforms ignore the call.
//
// Why numbers and not text: a trace point sits on hot paths (every timer,
// every ACK), so it must allocate nothing and format nothing. Keep this table
// and host/sim/trace.ts's EVENTS in step: tests/sim-trace.test.ts compares them.

import { trace_event } from "./hal";

/** A timer fired. a: lateness (ns, saturated), b: timers still armed. */
export const TRACE_TIMER: u32 = 1;
/** A TCP congestion-window decision on an ACK that advanced snd.una. a: connection, b: cwnd, c: ssthresh, d: bytes in flight. */
export const TRACE_TCP_CWND_ACK: u32 = 2;
/** Loss detected by duplicate ACKs or SACK: recovery starts. a: connection, b: cwnd, c: ssthresh, d: bytes in flight. */
export const TRACE_TCP_CWND_LOSS: u32 = 3;
/** The retransmission timer expired. a: connection, b: cwnd, c: ssthresh, d: bytes in flight. */
export const TRACE_TCP_RTO: u32 = 4;
/** Recovery ended. a: connection, b: cwnd, c: ssthresh, d: bytes in flight. */
export const TRACE_TCP_RECOVERED: u32 = 5;
/** The window was reset after an idle period. a: connection, b: cwnd, c: ssthresh, d: bytes in flight. */
export const TRACE_TCP_IDLE: u32 = 6;
/** A segment was sent again. a: connection, b: sequence offset from the ISS, c: length, d: 1 if in loss recovery (fast retransmit, SACK), 0 after a timeout. */
export const TRACE_TCP_RETRANSMIT: u32 = 7;
/** A connection is established: its initial window. a: connection, b: cwnd, c: ssthresh, d: bytes in flight. */
export const TRACE_TCP_INIT: u32 = 8;

/** A connection's trace identity: local port in the high half, remote port in the low half. */
@inline export function traceConn(localPort: u32, remotePort: u32): u32 {
  return (localPort << 16) | (remotePort & 0xffff);
}

/** Records one event (see the table above for what a..d mean per kind). */
@inline export function traceEvent(kind: u32, a: u32, b: u32, c: u32, d: u32): void {
  trace_event(kind, a, b, c, d);
}
