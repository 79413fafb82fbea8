// One HTTP/1.1 connection's exchanges, over bytes: `input` takes what the
// peer sent and says how much it consumed (a partial head stays with the
// caller until more arrives), `writable` continues a body when the output
// has room, `tick` enforces the time-outs. Requests are answered strictly in
// order: the next head is not parsed until the previous response is queued
// in full, so pipelined requests come back in order and a client that stops
// reading stops being read. Bodies go from the embedded files (kernel
// Files) to TCP by reference (Connection.writeStatic), never copied except
// into the NIC's frame.

import { Files, println } from "uniwasm";
import { Limits, Method, Parse, Request, eqIgnoreCase } from "./request";
import { SitePath } from "./path";
import { Head, statusBody } from "./response";

/** Where a session's bytes go: the connection, or a test's buffer. */
export abstract class HttpOutput {
  /** Body bytes `writeStatic` takes now without going past the connection's queue bound. */
  abstract room(): u32;
  /** Queues [p, p+n) (a head may go past room(); bodies never do). */
  abstract write(p: usize, n: u32): void;
  /** Queues [p, p+n) of a baked-in file (immutable): by reference where the output can (this default copies). */
  writeStatic(p: usize, n: u32): void { this.write(p, n); }
  /** Ends the connection once what was written has gone out. */
  abstract close(): void;
  /** Whether a head (at most HEAD_MAX bytes and a short body) can be written now. */
  headRoom(): bool { return true; }
  /** room() was 0 with body left: ask for `writable` once there is room. */
  wake(): void {}
}

export class HttpConfig {
  limits: Limits = new Limits();
  /** A started head must be complete within this (µs), else 408 (slowloris). */
  headerTimeoutUs: u64 = 10_000_000;
  /** A connection with nothing to do is closed after this (µs). */
  idleTimeoutUs: u64 = 5_000_000;
  /** An access log line per request. */
  log: bool = false;
}

/** Counters over all connections, printed at exit. */
export class HttpStats {
  connections: u64 = 0;
  refused: u64 = 0; // over the connection limit
  requests: u64 = 0;
  s2xx: u64 = 0;
  s3xx: u64 = 0;
  s4xx: u64 = 0;
  s5xx: u64 = 0;
  headerTimeouts: u64 = 0;
  idleCloses: u64 = 0;
  bodyBytes: u64 = 0;
  headBytes: u64 = 0;

  print(): void {
    println("http: connections " + this.connections.toString() + " (refused " + this.refused.toString() + "), requests " + this.requests.toString() +
      " (2xx " + this.s2xx.toString() + ", 3xx " + this.s3xx.toString() + ", 4xx " + this.s4xx.toString() + ", 5xx " + this.s5xx.toString() + ")");
    println("http: header time-outs " + this.headerTimeouts.toString() + ", idle closes " + this.idleCloses.toString() +
      ", bytes sent " + (this.headBytes + this.bodyBytes).toString() + " (bodies " + this.bodyBytes.toString() + ")");
  }
}

// One exchange is parsed, resolved and answered within one call, so these
// are shared by every connection.
const req = new Request();
const path = new SitePath();
const head = new Head();
const INDEX = "/index.html";

export class HttpSession {
  private bodyPtr: usize = 0;
  private bodyLeft: u32 = 0;
  private discard: u64 = 0;
  private closing: bool = false;
  private ended: bool = false;
  private headPending: bool = false;
  private headSince: u64 = 0;
  private idleSince: u64;
  // what the access log line needs once the body is queued
  private logMethod: string = "";
  private logPath: string = "";
  private logStatus: u32 = 0;
  private logBytes: u64 = 0;
  private logStart: u64 = 0;

  constructor(private out: HttpOutput, private cfg: HttpConfig, private stats: HttpStats, now: u64) {
    this.idleSince = now;
    stats.connections++;
  }

  /** The session has answered its last request (the connection is closing). */
  get done(): bool { return this.ended; }

  /** Ready for more input: no body waiting for room (call `input` again with what is left). */
  get ready(): bool { return this.bodyLeft == 0 && !this.closing; }

  /**
   * The peer's bytes [p, p+n) (everything not consumed before, then what
   * arrived): returns how many are consumed. `now` in µs.
   */
  input(p: usize, n: u32, now: u64): u32 {
    if (this.ended || this.closing) return n; // a closing connection reads nothing more
    if (n > 0) this.idleSince = now;
    let used: u32 = 0;
    while (true) {
      if (this.discard > 0) { // a request body nobody asked for
        const k = <u32>min<u64>(this.discard, <u64>(n - used));
        used += k;
        this.discard -= k;
        if (this.discard > 0) return used;
      }
      if (this.bodyLeft > 0 || this.closing) return this.closing ? n : used;
      if (used == n || !this.out.headRoom()) return used;
      const r = req.parse(p + used, n - used, this.cfg.limits);
      if (r == Parse.NeedMore) {
        if (!this.headPending) { this.headPending = true; this.headSince = now; }
        return used;
      }
      this.headPending = false;
      if (r == Parse.Error) {
        this.error(req.status, true, now);
        return n;
      }
      used += req.headLen;
      this.discard = req.contentLength;
      this.respond(now);
    }
    return used;
  }

  /** The output has room again: continue the body. */
  writable(now: u64): void {
    this.pump(now);
  }

  /** The peer sent its FIN: finish the answer under way, then close. */
  peerEnded(now: u64): void {
    this.closing = true;
    this.headPending = false;
    if (this.bodyLeft == 0) this.finish();
  }

  /** Time-outs; true once the session has closed its connection. */
  tick(now: u64): bool {
    if (this.ended) return true;
    if (this.headPending && now - this.headSince >= this.cfg.headerTimeoutUs) {
      this.stats.headerTimeouts++;
      this.headPending = false;
      this.error(408, true, now);
    } else if (!this.headPending && this.bodyLeft == 0 && !this.closing && now - this.idleSince >= this.cfg.idleTimeoutUs) {
      this.stats.idleCloses++;
      this.finish();
    }
    return this.ended;
  }

  private respond(now: u64): void {
    this.stats.requests++;
    const m = req.method;
    if (m == Method.Other) { this.error(501, true, now); return; }
    if (m == Method.Known) { this.error(405, false, now); return; }
    const st = path.resolve(req.targetPtr, req.targetLen);
    if (st != 0) { this.error(st, false, now); return; }
    let f = -1;
    if (path.directory) f = this.findWith(INDEX);
    else {
      f = Files.find(path.buf, path.len);
      if (f < 0 && this.findWith(INDEX) >= 0) { this.redirect(now); return; }
    }
    if (f < 0) { this.error(404, false, now); return; }
    const size = Files.size(f);
    const etag = Files.etagPtr(f);
    const etagLen = Files.etagLen(f);
    if (req.inmPtr != 0 && matchesAny(req.inmPtr, req.inmLen, etag, etagLen)) {
      head.begin(304).field("ETag", etag, etagLen);
      this.send(304, 0, 0, now);
      return;
    }
    let first: u32 = 0;
    let count = size;
    let status: u32 = 200;
    if (m == Method.Get && req.rangePtr != 0 && (req.ifRangePtr == 0 || strongEqual(req.ifRangePtr, req.ifRangeLen, etag, etagLen))) {
      const r = parseRange(req.rangePtr, req.rangeLen, size);
      if (r == RANGE_UNSATISFIABLE) {
        const body = statusBody(416);
        head.begin(416).contentRange(0, 0, size, true).fieldText("Content-Type", "text/plain; charset=utf-8").fieldNum("Content-Length", body.length);
        this.send(416, 0, 0, now, m == Method.Head ? "" : body);
        return;
      }
      if (r == RANGE_OK) {
        status = 206;
        first = rangeFirst;
        count = rangeLast - rangeFirst + 1;
      }
    }
    head.begin(status).field("Content-Type", Files.typePtr(f), Files.typeLen(f)).fieldNum("Content-Length", count)
      .field("ETag", etag, etagLen).fieldText("Accept-Ranges", "bytes");
    if (status == 206) head.contentRange(first, first + count - 1, size, false);
    this.send(status, Files.dataPtr(f) + first, m == Method.Head ? 0 : count, now);
  }

  /** Looks up the path with `suffix` appended ("/" + "index.html" for "/"). */
  private findWith(suffix: string): i32 {
    let n = path.len == 1 ? 0 : path.len;
    for (let i = 0; i < suffix.length; i++) store<u8>(path.buf + n + i, <u8>suffix.charCodeAt(i));
    return Files.find(path.buf, n + suffix.length);
  }

  // "/docs" names a directory: send the client to "/docs/" so relative links work
  private redirect(now: u64): void {
    store<u8>(path.buf + path.len, 47);
    const q = req.targetLen - path.queryAt;
    const body = statusBody(301);
    head.begin(301).text("Location: ").bytes(path.buf, path.len + 1);
    if (q > 0 && q < 512) head.bytes(req.targetPtr + path.queryAt, q);
    head.text("\r\n").fieldText("Content-Type", "text/plain; charset=utf-8").fieldNum("Content-Length", body.length);
    this.send(301, 0, 0, now, req.method == Method.Head ? "" : body);
  }

  /** An error answer with a small body; `fatal` ones close the connection (the framing is lost). */
  private error(status: u32, fatal: bool, now: u64): void {
    if (fatal) this.closing = true;
    const body = statusBody(status);
    head.begin(status);
    if (status == 405) head.fieldText("Allow", "GET, HEAD");
    head.fieldText("Content-Type", "text/plain; charset=utf-8").fieldNum("Content-Length", body.length);
    this.send(status, 0, 0, now, req.method == Method.Head ? "" : body);
  }

  /**
   * Finishes the head (Connection field, blank line) and queues it, with
   * `text` (a status's short body) right behind it, then `count` bytes of
   * file from `body`.
   */
  private send(status: u32, body: usize, count: u32, now: u64, text: string = ""): void {
    if (!req.keepAlive) this.closing = true;
    if (this.closing) head.fieldText("Connection", "close");
    else if (req.version == 10) head.fieldText("Connection", "keep-alive");
    head.end();
    const headLen = head.len;
    head.text(text);
    // The body follows by reference: the connection is corked while handlers run, so a small
    // file's answer still leaves as one segment, the head from TCP's ring and the body in place.
    this.out.write(head.buf, head.len);
    this.stats.headBytes += headLen;
    this.stats.bodyBytes += head.len - headLen;
    if (status < 300) this.stats.s2xx++;
    else if (status < 400) this.stats.s3xx++;
    else if (status < 500) this.stats.s4xx++;
    else this.stats.s5xx++;
    if (this.cfg.log) {
      this.logMethod = req.method == Method.Get ? "GET" : req.method == Method.Head ? "HEAD" : String.UTF8.decodeUnsafe(req.methodPtr, min<u32>(req.methodLen, 16));
      this.logPath = req.targetLen > 0 ? String.UTF8.decodeUnsafe(req.targetPtr, min<u32>(req.targetLen, 256)) : "-";
      this.logStatus = status;
      this.logBytes = head.len - headLen;
      this.logStart = now;
    }
    this.bodyPtr = body;
    this.bodyLeft = count;
    this.pump(now);
  }

  private pump(now: u64): void {
    while (this.bodyLeft > 0) {
      const room = this.out.room();
      if (room == 0) {
        this.out.wake();
        return;
      }
      const k = min<u32>(room, this.bodyLeft);
      this.out.writeStatic(this.bodyPtr, k);
      this.bodyPtr += k;
      this.bodyLeft -= k;
      this.stats.bodyBytes += k;
      if (this.cfg.log) this.logBytes += k;
    }
    if (this.cfg.log && this.logStatus != 0) {
      println("http: " + this.logMethod + " " + this.logPath + " " + this.logStatus.toString() + " " + this.logBytes.toString() + " " + (now - this.logStart).toString() + "us");
      this.logStatus = 0;
    }
    this.idleSince = now;
    if (this.closing) this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.closing = true;
    this.out.close();
  }
}

/** If-None-Match: "*" or a list of entity-tags, compared weakly (RFC 9110 13.1.2). */
function matchesAny(p: usize, n: u32, etag: usize, etagLen: u32): bool {
  let i: u32 = 0;
  while (i < n) {
    while (i < n && (load<u8>(p + i) == 32 || load<u8>(p + i) == 9 || load<u8>(p + i) == 44)) i++;
    if (i >= n) break;
    if (load<u8>(p + i) == 42) return true; // "*": any current representation
    if (i + 1 < n && load<u8>(p + i) == 87 && load<u8>(p + i + 1) == 47) i += 2; // W/
    const s = i;
    if (i < n && load<u8>(p + i) == 34) {
      i++;
      while (i < n && load<u8>(p + i) != 34) i++;
      i++;
    } else while (i < n && load<u8>(p + i) != 44) i++;
    if (i > n) i = n;
    if (i - s == etagLen && memory.compare(p + s, etag, etagLen) == 0) return true;
  }
  return false;
}

/** If-Range with an entity-tag: a strong comparison (a weak tag or a date never matches ours). */
function strongEqual(p: usize, n: u32, etag: usize, etagLen: u32): bool {
  return n == etagLen && memory.compare(p, etag, n) == 0;
}

const RANGE_IGNORE = 0;
const RANGE_OK = 1;
const RANGE_UNSATISFIABLE = 2;
let rangeFirst: u32 = 0;
let rangeLast: u32 = 0;

/**
 * Range: bytes=first-last | first- | -suffix, one range only (RFC 9110
 * 14.1.2). A malformed field, another unit or several ranges is ignored
 * (the whole file is the answer); a range starting past the end is 416.
 */
function parseRange(p: usize, n: u32, size: u32): i32 {
  if (n < 7 || !eqIgnoreCase(p, 6, "bytes=")) return RANGE_IGNORE;
  let i: u32 = 6;
  for (let k = i; k < n; k++) if (load<u8>(p + k) == 44) return RANGE_IGNORE;
  while (i < n && load<u8>(p + i) == 32) i++;
  let first: u64 = 0;
  let haveFirst = false;
  while (i < n && <u32>load<u8>(p + i) - 48 < 10) {
    first = first * 10 + (<u64>load<u8>(p + i) - 48);
    if (first > 0xffffffffff) return RANGE_IGNORE;
    haveFirst = true;
    i++;
  }
  if (i >= n || load<u8>(p + i) != 45) return RANGE_IGNORE;
  i++;
  let last: u64 = 0;
  let haveLast = false;
  while (i < n && <u32>load<u8>(p + i) - 48 < 10) {
    last = last * 10 + (<u64>load<u8>(p + i) - 48);
    if (last > 0xffffffffff) last = 0xffffffffff;
    haveLast = true;
    i++;
  }
  while (i < n && load<u8>(p + i) == 32) i++;
  if (i != n || (!haveFirst && !haveLast)) return RANGE_IGNORE;
  if (!haveFirst) { // the last `last` bytes
    if (last == 0 || size == 0) return RANGE_UNSATISFIABLE;
    rangeFirst = last >= <u64>size ? 0 : size - <u32>last;
    rangeLast = size - 1;
    return RANGE_OK;
  }
  if (haveLast && last < first) return RANGE_IGNORE;
  if (first >= <u64>size) return RANGE_UNSATISFIABLE;
  rangeFirst = <u32>first;
  rangeLast = !haveLast || last >= <u64>size ? size - 1 : <u32>last;
  return RANGE_OK;
}
