// Port forwarding into the simulated network, as QEMU's slirp does it for
// `hostfwd`: each host connection becomes a TCP connection from the gateway
// to the guest, and the bytes are relayed both ways. The gateway's side is a
// small TCP written here (RFC 9293's state machine for one active opener:
// MSS option only, no window scaling, SACK or timestamps; segments that
// arrive ahead are kept until the gap fills; go-back-N retransmission on a
// 200 ms..6.4 s timer), enough for any
// conforming peer over the simulated links, lossy ones included.
//
// The host side is a ByteStream (a net.Socket in the CLI; anything in tests).
// The window offered to the guest is what the host side has not yet taken
// (ByteStream.buffered) subtracted from 64 KiB, so a slow host reader holds
// the guest's sender back instead of the relay buffering the whole
// transfer; `hostDrained` reopens it.

import type { Network } from "./network.ts";
import { ipv4Frame, onesSum, pseudoHeaderSum, transportChecksum } from "./ipv4.ts";

/** The host end of a forwarded connection. */
export interface ByteStream {
  write(data: Uint8Array): void;
  /** No more data will be written. */
  end(): void;
  /** The connection failed (the guest reset it, or never answered). */
  destroy(reason: string): void;
  /** Bytes written and not yet taken by the host's reader (a socket's writableLength); without it, 0. */
  buffered?(): number;
}

export interface ForwarderOptions {
  network: Network;
  /** Sends a frame from the gateway. */
  send: (frame: Uint8Array) => void;
  mac: Uint8Array;
  ip: Uint8Array;
  guestMac: Uint8Array;
}

const FIN = 1;
const SYN = 2;
const RST = 4;
const PSH = 8;
const ACK = 16;
const MSS = 1460;
const WINDOW = 65535;
const RTO_MIN = 200_000_000n;
const RTO_MAX = 6_400_000_000n;
const SYN_RETRIES = 6;

type State = "syn-sent" | "established" | "closed";

class Connection {
  state: State = "syn-sent";
  readonly iss: number;
  sndUna: number;
  sndNxt: number;
  rcvNxt = 0;
  peerWindow = 0;
  peerMss = 536;
  /** Bytes from the host not yet acknowledged by the guest; [0] is at sndUna. */
  pending: Uint8Array = new Uint8Array(0);
  hostEnded = false;
  finSent = false;
  guestFin = false;
  /** Segments that arrived ahead of rcvNxt, by sequence number (within our window). */
  ahead = new Map<number, { data: Uint8Array; fin: boolean }>();
  rto = RTO_MIN;
  timerAt = -1n;
  retries = 0;

  constructor(
    readonly fw: TcpForwarder,
    readonly localPort: number,
    readonly guestIp: Uint8Array,
    readonly guestPort: number,
    readonly stream: ByteStream,
    iss: number,
  ) {
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
  }
}

export class TcpForwarder {
  private readonly conns = new Map<number, Connection>();
  private nextPort = 40000;
  private issSeed = 0x1234567;
  readonly stats = { opened: 0, established: 0, reset: 0, closed: 0, retransmits: 0, bytesToGuest: 0, bytesToHost: 0 };

  constructor(private readonly o: ForwarderOptions) {}

  /** Opens a connection to guestIp:guestPort for a new host stream; returns its handle. */
  open(guestIp: Uint8Array, guestPort: number, stream: ByteStream): number {
    let port = this.nextPort;
    while (this.conns.has(port)) port = port >= 60999 ? 40000 : port + 1;
    this.nextPort = port >= 60999 ? 40000 : port + 1;
    this.issSeed = (Math.imul(this.issSeed, 1103515245) + 12345) >>> 0;
    const c = new Connection(this, port, guestIp, guestPort, stream, this.issSeed);
    this.conns.set(port, c);
    this.stats.opened++;
    this.segment(c, SYN, c.iss, new Uint8Array(0), true);
    c.sndNxt = (c.iss + 1) >>> 0;
    this.arm(c);
    return port;
  }

  /** Bytes from the host for connection `handle`. */
  hostData(handle: number, data: Uint8Array): void {
    const c = this.conns.get(handle);
    if (!c || c.state === "closed" || c.hostEnded) return;
    const merged = new Uint8Array(c.pending.length + data.length);
    merged.set(c.pending, 0);
    merged.set(data, c.pending.length);
    c.pending = merged;
    this.push(c);
  }

  /** The host closed its side of `handle` (after its last data). */
  hostEnd(handle: number): void {
    const c = this.conns.get(handle);
    if (!c || c.hostEnded) return;
    c.hostEnded = true;
    this.push(c);
  }

  /** The host's reader took what was buffered for `handle`: the window the guest sees opens again. */
  hostDrained(handle: number): void {
    const c = this.conns.get(handle);
    if (!c || c.state !== "established" || c.guestFin) return;
    this.ack(c);
  }

  /** The host connection failed: reset the guest's side. */
  hostAbort(handle: number): void {
    const c = this.conns.get(handle);
    if (!c || c.state === "closed") return;
    this.segment(c, RST | ACK, c.sndNxt, new Uint8Array(0));
    this.close(c);
  }

  /** A frame for the gateway: true if it was a segment of one of our connections. */
  onFrame(f: Uint8Array): boolean {
    if (f.length < 54 || f[12] !== 8 || f[13] !== 0 || f[23] !== 6) return false;
    const ihl = (f[14] & 15) * 4;
    const total = (f[16] << 8) | f[17];
    if (ihl < 20 || total > f.length - 14 || total < ihl + 20) return false;
    if (!equal(f.subarray(30, 34), this.o.ip)) return false;
    const seg = f.subarray(14 + ihl, 14 + total);
    const dv = new DataView(seg.buffer, seg.byteOffset, seg.byteLength);
    const c = this.conns.get(dv.getUint16(2));
    if (!c || c.guestPort !== dv.getUint16(0) || !equal(f.subarray(26, 30), c.guestIp)) return false;
    if ((~onesSum(seg, pseudoHeaderSum(f.subarray(26, 30), f.subarray(30, 34), 6, seg.length)) & 0xffff) !== 0) return true; // corrupt: dropped
    const off = (seg[12] >> 4) * 4;
    if (off < 20 || off > seg.length) return true;
    this.input(c, dv.getUint32(4), dv.getUint32(8), seg[13], dv.getUint16(14), seg.subarray(20, off), seg.subarray(off));
    return true;
  }

  /** Open connections. */
  get size(): number {
    return this.conns.size;
  }

  private input(c: Connection, seq: number, ack: number, flags: number, window: number, opts: Uint8Array, data: Uint8Array): void {
    if (c.state === "closed") return;
    if (flags & RST) {
      if (c.state === "syn-sent" ? (flags & ACK) !== 0 && ack === c.sndNxt : seq === c.rcvNxt) {
        this.stats.reset++;
        c.stream.destroy(c.state === "syn-sent" ? "the guest refused the connection" : "the guest reset the connection");
        this.close(c);
      }
      return;
    }
    if (c.state === "syn-sent") {
      if ((flags & (SYN | ACK)) !== (SYN | ACK) || ack !== c.sndNxt) return;
      c.rcvNxt = (seq + 1) >>> 0;
      c.sndUna = ack;
      c.peerWindow = window;
      c.peerMss = Math.min(MSS, mssOption(opts) ?? 536);
      c.state = "established";
      c.retries = 0;
      c.rto = RTO_MIN;
      this.stats.established++;
      this.ack(c);
      this.push(c);
      return;
    }
    if (flags & ACK) {
      const acked = (ack - c.sndUna) >>> 0;
      const inFlight = (c.sndNxt - c.sndUna) >>> 0;
      if (acked > 0 && acked <= inFlight) {
        let dataAcked = acked;
        if (c.finSent && ack === c.sndNxt) dataAcked--; // our FIN
        c.pending = c.pending.subarray(Math.min(dataAcked, c.pending.length));
        c.sndUna = ack;
        c.retries = 0;
        c.rto = RTO_MIN;
        c.timerAt = -1n;
        if (c.sndUna !== c.sndNxt) this.arm(c);
      }
      c.peerWindow = window;
    }
    if (data.length > 0 || flags & FIN) {
      const offset = (seq - c.rcvNxt) | 0;
      if (offset > 0) {
        // ahead of what we have: keep it (within the window) until the gap fills; say where we are
        if (offset < this.window(c) && !c.guestFin && !c.ahead.has(seq)) c.ahead.set(seq, { data: data.slice(), fin: (flags & FIN) !== 0 });
        this.ack(c);
        return;
      }
      const fresh = data.subarray(Math.min(-offset, data.length));
      const fin = (flags & FIN) !== 0 && offset + data.length >= 0 && !c.guestFin; // the FIN sits just past the data
      if (fresh.length === 0 && !fin) {
        this.ack(c); // a repeat of what we have: say where we are
        return;
      }
      // in order, or overlapping what we have: take the new part, then what waited for it
      this.accept(c, fresh, fin);
      for (let next = c.ahead.get(c.rcvNxt); next && !c.guestFin; next = c.ahead.get(c.rcvNxt)) {
        c.ahead.delete(c.rcvNxt);
        this.accept(c, next.data, next.fin);
      }
      for (const k of c.ahead.keys()) if (((k - c.rcvNxt) | 0) <= 0) c.ahead.delete(k); // overtaken
      this.ack(c);
    }
    this.push(c);
    if (c.guestFin && c.finSent && c.sndUna === c.sndNxt) {
      this.stats.closed++;
      this.close(c);
    }
  }

  private accept(c: Connection, data: Uint8Array, fin: boolean): void {
    if (data.length > 0) {
      c.rcvNxt = (c.rcvNxt + data.length) >>> 0;
      this.stats.bytesToHost += data.length;
      c.stream.write(data.slice());
    }
    if (fin && !c.guestFin) {
      c.guestFin = true;
      c.rcvNxt = (c.rcvNxt + 1) >>> 0;
      c.stream.end();
    }
  }

  /** Sends what the window allows, and the FIN once the host has ended and everything is out. */
  private push(c: Connection): void {
    if (c.state !== "established") return;
    if (c.finSent) return; // everything went out before the FIN (a timeout clears finSent to resend)
    let offset = Math.min((c.sndNxt - c.sndUna) >>> 0, c.pending.length);
    while (offset < c.pending.length) {
      const room = c.peerWindow - offset;
      if (room <= 0) break;
      const n = Math.min(c.peerMss, room, c.pending.length - offset);
      const seq = (c.sndUna + offset) >>> 0;
      this.segment(c, ACK | PSH, seq, c.pending.subarray(offset, offset + n));
      this.stats.bytesToGuest += n;
      offset += n;
      c.sndNxt = (c.sndUna + offset) >>> 0;
    }
    if (c.hostEnded && !c.finSent && offset === c.pending.length) {
      this.segment(c, FIN | ACK, c.sndNxt, new Uint8Array(0));
      c.sndNxt = (c.sndNxt + 1) >>> 0;
      c.finSent = true;
    }
    if (c.sndUna !== c.sndNxt && c.timerAt < 0n) this.arm(c);
  }

  private arm(c: Connection): void {
    const at = this.o.network.now() + c.rto;
    c.timerAt = at;
    this.o.network.events.schedule(at, () => {
      if (c.timerAt !== at || c.state === "closed") return;
      this.timeout(c);
    });
  }

  private timeout(c: Connection): void {
    c.timerAt = -1n;
    if (++c.retries > SYN_RETRIES * 2 || (c.state === "syn-sent" && c.retries > SYN_RETRIES)) {
      c.stream.destroy(c.state === "syn-sent" ? "the guest did not answer the connection" : "the guest stopped acknowledging");
      this.segment(c, RST | ACK, c.sndNxt, new Uint8Array(0));
      this.close(c);
      return;
    }
    c.rto = c.rto * 2n > RTO_MAX ? RTO_MAX : c.rto * 2n;
    this.stats.retransmits++;
    if (c.state === "syn-sent") {
      this.segment(c, SYN, c.iss, new Uint8Array(0), true);
    } else {
      // go back to the first unacknowledged byte
      c.sndNxt = c.sndUna;
      c.finSent = false;
      if (c.peerWindow === 0) c.peerWindow = 1; // probe a closed window with one byte
      this.push(c);
    }
    this.arm(c);
  }

  /**
   * The window to offer: 64 KiB less what the host has not taken yet. The
   * right edge never moves back: bytes accepted raise rcvNxt and what is
   * buffered by the same amount.
   */
  private window(c: Connection): number {
    return Math.max(0, WINDOW - (c.stream.buffered?.() ?? 0));
  }

  private ack(c: Connection): void {
    this.segment(c, ACK, c.sndNxt, new Uint8Array(0));
  }

  private close(c: Connection): void {
    c.state = "closed";
    c.timerAt = -1n;
    this.conns.delete(c.localPort);
  }

  private segment(c: Connection, flags: number, seq: number, data: Uint8Array, mss = false): void {
    const hl = mss ? 24 : 20;
    const seg = new Uint8Array(hl + data.length);
    const dv = new DataView(seg.buffer);
    dv.setUint16(0, c.localPort);
    dv.setUint16(2, c.guestPort);
    dv.setUint32(4, seq >>> 0);
    dv.setUint32(8, flags & ACK ? c.rcvNxt : 0);
    seg[12] = (hl / 4) << 4;
    seg[13] = flags;
    dv.setUint16(14, this.window(c));
    if (mss) {
      seg.set([2, 4, MSS >> 8, MSS & 0xff], 20);
    }
    seg.set(data, hl);
    const f = ipv4Frame(this.o.guestMac, this.o.mac, this.o.ip, c.guestIp, 6, seg);
    transportChecksum(f, 16);
    this.o.send(f);
  }
}

function mssOption(opts: Uint8Array): number | undefined {
  for (let i = 0; i < opts.length; ) {
    const kind = opts[i];
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = opts[i + 1];
    if (!len || len < 2 || i + len > opts.length) break;
    if (kind === 2 && len === 4) return (opts[i + 2] << 8) | opts[i + 3];
    i += len;
  }
  return undefined;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
