// UDP for apps: a bound port whose datagrams come to a handler, from a task
// of the port's own (not from the NIC's interrupt task), and a sendTo that
// takes strings and bytes.

import { UdpSocket } from "../net/udp";
import { Task } from "../sched/task";
import { Bytes, bytesOf } from "./bytes";

/** What an app hears about a bound port. */
export abstract class DatagramHandler {
  /** A datagram from `fromIp`:`fromPort`; `data` is valid during this call only. */
  abstract onDatagram(port: UdpPort, data: Bytes, fromIp: u32, fromPort: u32): void;
}

export class UdpPort extends Task {
  private readonly buf: usize;
  private readonly view: Bytes = new Bytes();

  constructor(readonly sock: UdpSocket, readonly handler: DatagramHandler, readonly maxSize: u32) {
    super("udp");
    this.buf = heap.alloc(<usize>maxSize);
  }

  /** The local port number. */
  get port(): u32 {
    return this.sock.port;
  }

  /**
   * Sends a string (UTF-8), `Bytes` or a `Uint8Array` to `ip`:`port`
   * (fragmented when larger than the MTU). Returns the byte count, or a
   * negative UdpError (NoRoute, NoBuffer, TooBig, Closed, Down).
   */
  sendTo<T>(ip: u32, port: u32, data: T): i32 {
    const b = bytesOf<T>(data);
    return this.sock.sendTo(ip, port, b.ptr, b.length);
  }

  /** Unbinds the port; datagrams still queued are dropped. */
  close(): void {
    if (!this.sock.open) return;
    this.sock.close();
    heap.free(this.buf);
    this.sched.cancel(this);
  }

  /** Datagrams dropped because the queue was full or they were larger than `maxSize`. */
  get dropped(): u64 {
    return this.sock.dropped + this.sock.droppedTooBig;
  }

  run(): void {
    const s = this.sock;
    const v = this.view;
    while (s.open) {
      const n = s.recvFrom(this.buf, this.maxSize);
      if (n < 0) break;
      v.ptr = this.buf;
      v.length = min(<u32>n, this.maxSize);
      this.handler.onDatagram(this, v, s.srcIp, s.srcPort);
    }
    if (s.open) this.waitOn(s.event);
  }
}
