// Names and pings for apps: `net.resolve(name, handler)` asks the DNS
// server (from DHCP or dns=) and calls back once with the address or why
// there is none; `net.ping(ip, handler)` sends an ICMP echo request and
// passes replies on. Both answer from tasks, never from the NIC's interrupt
// task.

import { DnsResolver, DnsStatus } from "../net/dns";
import { EchoHandler } from "../net/icmp";
import { NetStack } from "../net/stack";
import { Task } from "../sched/task";
import { SEC } from "../sched/time";
import { Kernel } from "./kernel";

/** Hears how a `resolve` ended. */
export abstract class NameHandler {
  /** `ip` is the first address of the answer, or 0 with `why` ("not found (rcode 3)", "timed out", ...). */
  abstract onResolved(name: string, ip: u32, why: string): void;
}

/** One lookup: waits for the resolver, then calls the handler. */
export class Lookup extends Task {
  private readonly r: DnsResolver;

  constructor(stack: NetStack, readonly query: string, readonly handler: NameHandler) {
    super("dns-lookup");
    this.r = new DnsResolver(stack);
    this.r.resolve(query);
    Kernel.spawn(this);
  }

  run(): void {
    const r = this.r;
    if (r.status == DnsStatus.Pending) {
      this.waitOn(r.done, 1 * SEC);
      return;
    }
    if (r.status == DnsStatus.Ok) this.handler.onResolved(this.query, r.addr, "");
    else if (r.status == DnsStatus.NotFound) this.handler.onResolved(this.query, 0, "not found (rcode " + r.rcode.toString() + ")");
    else if (r.status == DnsStatus.BadRequest) this.handler.onResolved(this.query, 0, "bad name or no DNS server");
    else this.handler.onResolved(this.query, 0, "failed (status " + (<i32>r.status).toString() + ")");
  }
}

/** Hears echo replies to `ping`. */
export abstract class PingHandler {
  abstract onReply(from: u32, seq: u32, bytes: u32): void;
}

/** The ICMP layer's echo callback, handed on to the app from a task. */
export class PingReplies extends EchoHandler {
  private readonly task: PingTask;
  constructor(readonly handler: PingHandler) {
    super();
    this.task = new PingTask(handler);
  }
  reply(from: u32, ident: u32, seq: u32, dataLen: u32): void {
    this.task.push(from, seq, dataLen);
  }
}

const PING_QUEUE: i32 = 16;

class PingTask extends Task {
  private readonly q: StaticArray<u64> = new StaticArray<u64>(PING_QUEUE * 2);
  private n: i32 = 0;
  constructor(readonly handler: PingHandler) {
    super("ping");
  }
  push(from: u32, seq: u32, bytes: u32): void {
    if (this.n == PING_QUEUE) return; // replies faster than the app takes them: drop
    unchecked((this.q[this.n * 2] = (<u64>from << 32) | seq));
    unchecked((this.q[this.n * 2 + 1] = bytes));
    this.n++;
    Kernel.sched.wake(this);
  }
  run(): void {
    for (let i = 0; i < this.n; i++) {
      const a = unchecked(this.q[i * 2]);
      this.handler.onReply(<u32>(a >> 32), <u32>a, <u32>unchecked(this.q[i * 2 + 1]));
    }
    this.n = 0;
  }
}
