// One client connection: `input` takes the bytes the peer sent (what was
// not consumed before, then what arrived) and runs every complete command
// in them, in place; replies go out in one write per batch. A command that
// is not complete stays with the caller while it is small, and is moved into
// the session's own buffer once it is large (a big value arriving over many
// segments), which grows up to the value limit and is released after. A
// protocol error is answered with Redis's text and the connection closed.
// While the output has no room, no more commands are run: a client that
// does not read its replies stops being read.

import { KvClient, KvServer } from "./commands";
import { Resp, RespParser } from "./resp";
import { KvOutput, Reply } from "./reply";

/** A partial command at least this long moves into the session's buffer. */
const KEEP_IN_PLACE: u32 = 16384;

// Commands run to completion one connection at a time, so one parser and
// one reply buffer serve every connection.
const parser = new RespParser();
const reply = new Reply();

let nextId: u64 = 1;

export class KvSession {
  readonly client: KvClient = new KvClient();
  private buf: usize = 0;
  private cap: u32 = 0;
  private len: u32 = 0;
  /** Bytes the buffered command needs before it is worth parsing again. */
  private need: u32 = 0;
  private closed: bool = false;
  /** The last run stopped at an incomplete command (not for want of output room). */
  private partial: bool = false;

  constructor(private server: KvServer, private out: KvOutput) {
    this.client.id = nextId++;
    server.stats.connections++;
    server.connected++;
  }

  get done(): bool { return this.closed; }

  /** The peer's bytes [p, p+n); returns how many are consumed. `now` in ms. */
  input(p: usize, n: u32, now: u64): u32 {
    if (this.closed) return n;
    reply.out = this.out;
    let used: u32 = 0;
    if (this.len > 0) {
      // a large command is being collected
      if (!this.append(p, n)) return n;
      used = n;
      if (this.len >= this.need) {
        const k = this.run(this.buf, this.len, now);
        memory.copy(this.buf, this.buf + k, this.len - k);
        this.len -= k;
        if (this.len == 0) this.release();
      }
    } else {
      used = this.run(p, n, now);
      if (!this.closed && used < n && this.partial && (n - used >= KEEP_IN_PLACE || this.need >= KEEP_IN_PLACE)) {
        // a partial command too big to leave in the receive buffer
        if (!this.append(p + used, n - used)) return n;
        used = n;
      }
    }
    reply.flush();
    this.server.outputBytes = reply.written;
    if (this.client.quit && !this.closed) this.close();
    return this.closed ? n : used;
  }

  /** The output has room again: run what is waiting (the caller then calls input with what is left). */
  get ready(): bool { return !this.closed && this.out.room() > 0; }

  /** Runs the complete commands in [p, p+n); returns the bytes they took. */
  private run(p: usize, n: u32, now: u64): u32 {
    let at: u32 = 0;
    this.need = 0;
    this.partial = false;
    while (at < n && !this.closed && !this.client.quit) {
      if (this.out.room() == 0) break;
      const r = parser.parse(p + at, n - at, this.server.cfg.limits);
      if (r == Resp.NeedMore) {
        this.need = parser.need;
        this.partial = true;
        break;
      }
      if (r == Resp.Error) {
        this.server.stats.protocolErrors++;
        reply.error(parser.error);
        this.close();
        return n;
      }
      at += parser.consumed;
      if (r == Resp.Done) this.server.execute(parser, reply, this.client, now);
    }
    this.server.stats.inputBytes += at;
    return at;
  }

  private append(p: usize, n: u32): bool {
    const lim = this.server.cfg.limits;
    const limit = lim.maxBulk + lim.maxInline * 2;
    if (<u64>this.len + n > <u64>limit) {
      // Redis closes a client whose query buffer passes its limit
      this.server.stats.protocolErrors++;
      this.close();
      return false;
    }
    if (this.len + n > this.cap) {
      let c = max<u32>(this.cap << 1, 65536);
      while (c < this.len + n) c <<= 1;
      c = min<u32>(c, limit);
      this.buf = this.buf == 0 ? heap.alloc(c) : heap.realloc(this.buf, c);
      this.cap = c;
    }
    memory.copy(this.buf + this.len, p, n);
    this.len += n;
    return true;
  }

  private release(): void {
    if (this.buf != 0) heap.free(this.buf);
    this.buf = 0;
    this.cap = 0;
    this.len = 0;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    reply.flush();
    this.release();
    this.server.connected--;
    this.out.close();
  }

  /** The connection ended from the other side or by error: free what it held. */
  ended(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    this.server.connected--;
  }
}
