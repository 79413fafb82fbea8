// An HTTP load generator kernel for apps/httpd, for long runs in simulation
// (bench/experiments/http-liveness.ts): `peer=<ip> requests=<n> par=<k>
// size=<bytes> close=<0|1>` keeps k connections busy until n requests were
// answered, each a `GET /<size>` whose answer must be a 200 with exactly
// `size` body bytes whose CRC-32 matches the server's X-Crc32 header; with
// close=1 every request has a connection of its own (`Connection: close`),
// else each connection carries requests until the end. Prints
// req_ok/req_bad/conn_errors/elapsed_ms and exits 0 when all n were good.
import { Net, App, Handler, Connection, Bytes, Kernel, args, println, TcpError, tcpErrorName } from "uniwasm";
import { crc32 } from "../../apps/httpd/pattern";

let peer: u32 = 0;
let total: u64 = 0;
let size: u64 = 0;
let close: bool = true;
let started: u64 = 0;
let started0: u64 = 0;
let ok: u64 = 0;
let bad: u64 = 0;
let errors: u64 = 0;
let request: string = "";
let theNet: Net | null = null;

function finish(): void {
  println("req_ok=" + ok.toString());
  println("req_bad=" + bad.toString());
  println("conn_errors=" + errors.toString());
  println("elapsed_ms=" + ((Kernel.now() - started0) / 1_000_000).toString());
  theNet!.printCounters();
  Kernel.exit(ok == total ? 0 : 1);
}

/** The decimal value of header `name` ("Content-Length: ") in `head`; u64.MAX_VALUE if absent or not a number. */
function header(head: Bytes, name: string): u64 {
  const at = head.find(name);
  if (at < 0) return u64.MAX_VALUE;
  const v = head.slice(<u32>at + <u32>name.length);
  const eol = v.find("\r\n");
  return (eol < 0 ? v : v.slice(0, <u32>eol)).toU64();
}

/** One connection: a request, its answer (head, then `size` body bytes), the next. */
class Client extends Handler {
  body: u64 = 0; // body bytes still to come (u64.MAX_VALUE: reading the head)
  crc: u32 = 0;
  want: u32 = 0;
  constructor() {
    super();
    this.body = u64.MAX_VALUE;
  }
  onConnected(c: Connection): void {
    this.send(c);
  }
  send(c: Connection): void {
    started++;
    this.body = u64.MAX_VALUE;
    this.crc = 0;
    if (!c.write(request)) bad++;
  }
  onData(c: Connection, d: Bytes): u32 {
    if (this.body == u64.MAX_VALUE) {
      const end = d.find("\r\n\r\n");
      if (end < 0) return 0;
      const head = d.slice(0, <u32>end);
      const crc = header(head, "X-Crc32: ");
      if (!head.startsWith("HTTP/1.1 200 OK") || header(head, "Content-Length: ") != size || crc > u32.MAX_VALUE) {
        bad++;
        c.abort();
        return d.length;
      }
      this.want = <u32>crc;
      this.body = size;
      const k = <u32>end + 4;
      return k + this.take(c, d.slice(k, d.length));
    }
    return this.take(c, d);
  }
  /** Body bytes of the current answer in `d`; returns how many it used. */
  take(c: Connection, d: Bytes): u32 {
    const n = <u32>min(<u64>d.length, this.body);
    this.crc = crc32(this.crc, d.ptr, n);
    this.body -= n;
    if (this.body == 0) {
      this.body = u64.MAX_VALUE;
      if (this.crc == this.want) ok++;
      else bad++;
      if (ok + bad == total) finish();
      else if (close) c.end();
      else if (started < total) this.send(c);
    }
    return n;
  }
  onClosed(c: Connection, e: TcpError): void {
    if (e != TcpError.None) {
      errors++;
      if (errors <= 10) println("connection error " + tcpErrorName(e));
    }
    if (Kernel.exiting) return;
    if (close && started < total) open();
  }
}

function open(): void {
  if (theNet!.connect(peer, 80, new Client()) == null) {
    errors++;
    Kernel.fail("connect failed");
  }
}

class Load extends App {
  onUp(net: Net): void {
    theNet = net;
    started0 = Kernel.now();
    const par = args.u32("par", 10);
    for (let i: u32 = 0; i < par && <u64>i < total; i++) open();
  }
}

export function main(): i32 {
  peer = args.ip("peer", 0);
  total = args.u64("requests", 1000);
  size = args.u64("size", 612);
  close = args.bool("close", true);
  request = "GET /" + size.toString() + " HTTP/1.1\r\nHost: server\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n";
  Net.up(new Load());
  return Kernel.run();
}
