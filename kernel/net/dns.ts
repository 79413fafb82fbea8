// The DNS stub resolver: A records over UDP to the interface's DNS servers.
// One query in flight at a time (a unikernel resolves a handful of names),
// retried every DNS_TIMEOUT_NS, alternating servers, DNS_TRIES times in all.
// A reply must come from the server we asked, to our port, with our id and
// our question, or it is ignored (counted): the usual defence against
// spoofed answers, with the id and the source port both random. Answers are
// cached for their TTL (capped) in DNS_CACHE entries; NXDOMAIN is not cached.

import { clock_ns, entropy } from "../hal";
import { Task } from "../sched/task";
import { Event } from "../sched/event";
import { SEC } from "../sched/time";
import { NetStack } from "./stack";
import { CounterSet } from "../counters";
import { TimerTask } from "../sched/timer-task";
import { UdpSocket, UdpHandler } from "./udp";
import { WireError } from "./wire/error";
import { DnsName, DnsResponse, emitQuery, DNS_PORT, DNS_TYPE_A, DNS_RCODE_NXDOMAIN } from "./wire/dns";

export const DNS_TIMEOUT_NS: u64 = 2 * SEC;
export const DNS_TRIES: i32 = 4;
export const DNS_CACHE: i32 = 8;
export const DNS_MAX_TTL: u32 = 3600;

export enum DnsStatus {
  Idle,
  Pending,
  /** `addr` holds the answer. */
  Ok,
  /** The name does not exist (NXDOMAIN), or has no A record. */
  NotFound,
  /** No (valid) answer after every try. */
  Timeout,
  /** The server answered with another error code (SERVFAIL, REFUSED, ...). */
  ServerError,
  /** No DNS server configured, or the name is not valid. */
  BadRequest,
}

export class DnsCounters extends CounterSet {
  queries: u64 = 0;
  retries: u64 = 0;
  answers: u64 = 0;
  cacheHits: u64 = 0;
  timeouts: u64 = 0;
  /** Replies that did not parse. */
  dropMalformed: u64 = 0;
  /** Replies from elsewhere, to another id or question, or with none pending. */
  dropMismatch: u64 = 0;
  constructor() {
    super("dns", ["queries", "retries", "answers", "cache_hits", "timeouts", "drop_malformed", "drop_mismatch"], 3, offsetof<DnsCounters>());
  }
}

export class DnsResolver extends UdpHandler {
  readonly net: NetStack;
  readonly counters: DnsCounters = new DnsCounters();
  status: DnsStatus = DnsStatus.Idle;
  /** The first address of the answer, and all of them. */
  addr: u32 = 0;
  readonly response: DnsResponse = new DnsResponse();
  /** Signalled when a query ends (any status but Pending). */
  readonly done: Event;
  rcode: u32 = 0;
  private sock: UdpSocket | null = null;
  private readonly query: DnsName = new DnsName();
  private id: u32 = 0;
  private tries: i32 = 0;
  private server: u32 = 0;
  private timer!: TimerTask<DnsResolver>;
  private readonly buf: usize = heap.alloc(512);
  private readonly cacheName: StaticArray<DnsName> = new StaticArray<DnsName>(DNS_CACHE);
  private readonly cacheAddr: StaticArray<u32> = new StaticArray<u32>(DNS_CACHE);
  private readonly cacheExp: StaticArray<u64> = new StaticArray<u64>(DNS_CACHE);

  constructor(net: NetStack) {
    super();
    this.net = net;
    this.done = new Event(net.sched);
    this.timer = new TimerTask<DnsResolver>(net.sched, "dns", this);
    for (let i = 0; i < DNS_CACHE; i++) this.cacheName[i] = new DnsName();
  }

  /**
   * Starts resolving `name`. Returns the status: Ok at once on a cache hit,
   * Pending while a query is out (wait on `done`), BadRequest for an invalid
   * name, no server, or a query already pending.
   */
  resolve(name: string): DnsStatus {
    if (this.status == DnsStatus.Pending) return DnsStatus.BadRequest;
    const q = this.query;
    if (!q.set(name) || this.net.dns0 == 0) {
      this.status = DnsStatus.BadRequest;
      return this.status;
    }
    const now = clock_ns();
    for (let i = 0; i < DNS_CACHE; i++) {
      if (unchecked(this.cacheExp[i]) > now && unchecked(this.cacheName[i]).equals(q)) {
        this.counters.cacheHits++;
        this.addr = unchecked(this.cacheAddr[i]);
        this.status = DnsStatus.Ok;
        return this.status;
      }
    }
    if (!this.sock) {
      // A random source port per resolver (and a random id per query) make blind spoofing hard.
      const s = this.net.udp.bind(0, 1, 64);
      if (!s) {
        this.status = DnsStatus.BadRequest;
        return this.status;
      }
      s.handler = this;
      this.sock = s;
    }
    const t = memory.data(4);
    entropy(t, 4);
    this.id = load<u32>(t) & 0xffff;
    this.tries = 0;
    this.status = DnsStatus.Pending;
    this.counters.queries++;
    this.send();
    return this.status;
  }

  private send(): void {
    const net = this.net;
    // Alternate between the servers we have.
    this.server = (this.tries & 1) == 1 && net.dns1 != 0 ? net.dns1 : net.dns0;
    this.tries++;
    const n = emitQuery(this.buf, 512, this.id, this.query, DNS_TYPE_A);
    net.udp.send(this.sock!.port, this.server, DNS_PORT, this.buf, n, 0);
    net.sched.sleepUntil(this.timer, clock_ns() + DNS_TIMEOUT_NS);
  }

  onTimer(task: Task): void {
    if (this.status != DnsStatus.Pending) return;
    if (this.tries >= DNS_TRIES) {
      this.counters.timeouts++;
      this.finish(DnsStatus.Timeout);
      return;
    }
    this.counters.retries++;
    this.send();
  }

  private finish(s: DnsStatus): void {
    this.status = s;
    this.net.sched.cancel(this.timer);
    this.done.broadcast();
  }

  datagram(sock: UdpSocket, srcIp: u32, srcPort: u32, dstIp: u32, ptr: usize, len: u32): void {
    const c = this.counters;
    if (this.status != DnsStatus.Pending || srcPort != DNS_PORT || (srcIp != this.net.dns0 && srcIp != this.net.dns1)) {
      c.dropMismatch++;
      return;
    }
    const r = this.response;
    const e = r.parse(ptr, len, this.id, this.query, DNS_TYPE_A);
    if (e == WireError.Mismatch) {
      c.dropMismatch++;
      return;
    }
    if (e != WireError.Ok) {
      c.dropMalformed++;
      return;
    }
    c.answers++;
    this.rcode = r.rcode;
    if (r.rcode == DNS_RCODE_NXDOMAIN || (r.rcode == 0 && r.addrCount == 0)) {
      this.finish(DnsStatus.NotFound);
      return;
    }
    if (r.rcode != 0) {
      this.finish(DnsStatus.ServerError);
      return;
    }
    this.addr = unchecked(r.addrs[0]);
    this.remember(r.ttl);
    this.finish(DnsStatus.Ok);
  }

  private remember(ttl: u32): void {
    if (ttl == 0) return;
    const now = clock_ns();
    let victim = 0;
    let oldest = u64.MAX_VALUE;
    for (let i = 0; i < DNS_CACHE; i++) {
      const e = unchecked(this.cacheExp[i]);
      if (e < oldest) {
        oldest = e;
        victim = i;
      }
    }
    unchecked(this.cacheName[victim]).copyFrom(this.query);
    unchecked((this.cacheAddr[victim] = this.addr));
    unchecked((this.cacheExp[victim] = now + <u64>min<u32>(ttl, DNS_MAX_TTL) * SEC));
  }
}
