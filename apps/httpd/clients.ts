// httpd as the client (connect=<ip>:<port>): connections that move n bytes
// to or from the other end's services and check every byte of them.
//   echo: send n pattern bytes, check they come back;
//   up:   send n to a discard server, check its "<count> <crc32>" answer;
//   down: ask a chargen server for n, check them.
import { Bytes, Connection, Handler, Kernel, TcpError, tcpErrorName, println } from "uniwasm";
import { crc32, fillPattern, checkPattern } from "./pattern";
import { CHUNK } from "./services";

export enum ClientMode {
  Echo,
  Up,
  Down,
}

export class ClientStats {
  started: u32 = 0;
  ok: u32 = 0;
  failed: u32 = 0;
  bytesSent: u64 = 0;
  bytesChecked: u64 = 0;
  badBytes: u64 = 0;
  firstNs: u64 = 0;
  lastNs: u64 = 0;
  private readonly buf: Uint8Array = new Uint8Array(CHUNK);
  readonly chunk: Bytes = Bytes.of(this.buf);

  get finished(): u32 {
    return this.ok + this.failed;
  }
  get elapsedUs(): u64 {
    return (this.lastNs - this.firstNs) / 1000;
  }
  print(): void {
    const us = this.elapsedUs;
    println("cli_started=" + this.started.toString());
    println("cli_ok=" + this.ok.toString());
    println("cli_failed=" + this.failed.toString());
    println("cli_bytes_sent=" + this.bytesSent.toString());
    println("cli_bytes_checked=" + this.bytesChecked.toString());
    println("cli_bad_bytes=" + this.badBytes.toString());
    println("cli_elapsed_us=" + us.toString());
    println("cli_kbps=" + (us > 0 ? (this.bytesSent + this.bytesChecked) * 8 * 1000 / us : 0).toString());
  }
}

/** Told when every client has finished. */
export abstract class ClientsDone {
  abstract allDone(): void;
}

export class Client extends Handler {
  sent: u64 = 0;
  got: u64 = 0;
  crc: u32 = 0;
  bad: u32 = 0;
  answer: string = "";
  done: bool = false;

  constructor(readonly mode: ClientMode, readonly n: u64, readonly id: u32, readonly st: ClientStats, readonly owner: ClientsDone) {
    super();
    st.started++;
    if (st.firstNs == 0) st.firstNs = Kernel.now();
  }

  onConnected(c: Connection): void {
    if (this.mode == ClientMode.Down) {
      c.write(this.n.toString() + "\n");
      c.end();
    } else this.onWritable(c);
  }

  onWritable(c: Connection): void {
    if (this.mode == ClientMode.Down || this.sent >= this.n) return;
    const b = this.st.chunk;
    while (this.sent < this.n && c.queued == 0) {
      b.length = <u32>min<u64>(this.n - this.sent, CHUNK);
      fillPattern(b.ptr, this.sent, b.length);
      if (!c.write(b)) break;
      if (this.mode == ClientMode.Up) this.crc = crc32(this.crc, b.ptr, b.length);
      this.sent += b.length;
      this.st.bytesSent += b.length;
    }
    b.length = CHUNK;
    if (this.sent == this.n) c.end();
  }

  onData(c: Connection, d: Bytes): u32 {
    if (this.mode == ClientMode.Up) {
      if (this.answer.length < 64) this.answer += d.toString();
      return d.length;
    }
    const bad = checkPattern(d.ptr, this.got, d.length);
    this.bad += bad;
    this.st.badBytes += bad;
    this.got += d.length;
    this.st.bytesChecked += d.length;
    return d.length;
  }

  onEnd(c: Connection): void {
    c.end();
    if (this.mode == ClientMode.Up) {
      const want = this.n.toString() + " " + this.crc.toString() + "\n";
      if (this.answer != want) {
        this.fail("discard answered '" + this.answer.trim() + "', expected '" + want.trim() + "'");
        return;
      }
      this.st.bytesChecked += this.n;
    } else if (this.got != this.n || this.bad != 0) {
      this.fail("got " + this.got.toString() + " of " + this.n.toString() + " bytes, " + this.bad.toString() + " wrong");
      return;
    }
    this.finish(true);
  }

  onClosed(c: Connection, e: TcpError): void {
    if (!this.done) this.fail("error " + tcpErrorName(e) + " after sending " + this.sent.toString() + ", receiving " + this.got.toString());
  }

  fail(why: string): void {
    if (this.done) return;
    println("client " + this.id.toString() + ": " + why);
    this.finish(false);
  }

  private finish(ok: bool): void {
    this.done = true;
    if (ok) this.st.ok++;
    else this.st.failed++;
    this.st.lastNs = Kernel.now();
    if (this.st.finished == this.st.started) this.owner.allDone();
  }
}
