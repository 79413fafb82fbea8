// The scheduler (kernel/sched) in Node under the virtual clock: every run is
// deterministic, so tests assert exact orders, exact times and the exact
// deadlines the idle path hands to hal.wait().

import { describe, expect, it } from "vitest";
import { Machine, type MachineOptions } from "../host/machine.ts";
import { VirtualClock } from "../host/clock.ts";
import { buildSourceWasm } from "./helpers/kernel.ts";

const NO_DEADLINE = 0xffff_ffff_ffff_ffffn;

const PRELUDE = `
import { Task, Scheduler, Event, FifoPolicy, PriorityPolicy, EdfPolicy, SchedPolicy, WakeReason, TaskState,
  TimerId, NO_TIMER, NS, US, MS, SEC, printStats } from "../../../kernel/sched/index";
import { print, println, printU64 } from "../../../kernel/console";
import { clock_ns, NO_DEADLINE } from "../../../kernel/hal";
function out(s: string): void { print(s); print(" "); }
function num(v: u64): void { printU64(v); print(" "); }
/** A task that logs its name (and the time) each run and yields \`n - 1\` more times. */
class Logger extends Task {
  constructor(name: string, public n: i32 = 1, public withTime: bool = false) { super(name); }
  run(): void {
    out(this.name);
    if (this.withTime) num(clock_ns());
    if (--this.n > 0) this.yield();
  }
}
/** A task that keeps the CPU for \`ns\` of the clock each run. */
class Spin extends Task {
  constructor(name: string, public ns: u64) { super(name); }
  run(): void { const until = clock_ns() + this.ns; while (clock_ns() < until) {} }
}
`;

async function run(name: string, body: string, opts: MachineOptions = {}) {
  const wasm = await buildSourceWasm(`sched-${name}`, PRELUDE + body);
  const waits: bigint[] = [];
  const machine = new Machine({ console: () => {}, onWait: (d) => waits.push(d), ...opts });
  const setup = (opts as { setup?: (m: Machine) => void }).setup;
  setup?.(machine);
  const r = await machine.run(wasm);
  return { ...r, waits, machine };
}

describe("scheduler: ordering and fairness", () => {
  it("runs ready tasks FIFO and round-robins tasks that yield", async () => {
    const r = await run("fifo", `
      class Spawner extends Task {
        run(): void { out("s"); this.sched.spawn(new Logger("late")); }
      }
      export function main(): i32 {
        const s = new Scheduler();
        const a = new Logger("a", 3);
        s.spawn(a);
        s.spawn(new Logger("b", 1));
        s.spawn(new Spawner("spawner"));
        s.spawn(a); // already ready: no second entry
        s.spawn(new Logger("c", 2));
        s.run();
        println(""); num(s.stats.tasksRun); num(s.stats.waits);
        return 0;
      }
    `);
    expect(r.exitCode).toBe(0);
    // "late" was spawned during a batch: it runs after the tasks ahead of it (a, c re-queued first).
    expect(r.output).toBe("a b s c a late c a \n8 0 ");
    expect(r.waits).toEqual([]); // never slept: there was always work or nothing
  });

  it("gives every yielding task exactly one run per round", async () => {
    const r = await run("rounds", `
      export function main(): i32 {
        const s = new Scheduler();
        for (let i = 0; i < 5; i++) s.spawn(new Logger("t" + i.toString(), 100));
        s.run();
        return 0;
      }
    `);
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe("t0 t1 t2 t3 t4 ".repeat(100));
  });

  it("is starvation-free: hogs that always yield delay others by at most one round", async () => {
    const r = await run("starve", `
      class Hog extends Task {
        run(): void {
          this.runs == 50 && this.name == "h0" ? this.sched.spawn(late) : 0;
          this.yield();
        }
      }
      class Late extends Task {
        hogRunsBefore: u64 = 0;
        run(): void { out("late-after"); num(hogs[0].runs - 50); }
      }
      class Sleeper extends Task {
        n: i32 = 0; worst: u64 = 0;
        run(): void {
          const late = clock_ns() - this.firedAt;
          if (late > this.worst) this.worst = late;
          if (++this.n < 10) { this.sleep(1 * MS); return; }
          out("sleeper"); num(this.n); num(this.worst); this.sched.stop();
        }
      }
      const hogs = new Array<Hog>();
      const late = new Late("late");
      export function main(): i32 {
        const s = new Scheduler();
        for (let i = 0; i < 10; i++) { const h = new Hog("h" + i.toString()); hogs.push(h); s.spawn(h); }
        const z = new Sleeper("sleeper");
        s.spawn(z);
        s.run();
        out("h0"); num(hogs[0].runs); out("h9"); num(hogs[9].runs);
        return 0;
      }
    `, { clock: new VirtualClock(100n) }); // every clock read costs 100 ns: time moves while hogs run
    expect(r.exitCode).toBe(0);
    // The late task ran within one round of ten hogs.
    const m = /late-after (\d+) /.exec(r.output)!;
    expect(Number(m[1])).toBeLessThanOrEqual(1);
    // The sleeper woke 10 times, each time within one batch (11 runs x 100 ns + the loop's reads).
    const z = /sleeper (\d+) (\d+) /.exec(r.output)!;
    expect(Number(z[1])).toBe(10);
    expect(Number(z[2])).toBeLessThanOrEqual(11 * 100 + 200);
    // Hogs shared the CPU evenly: their run counts differ by at most one.
    const h = /h0 (\d+) h9 (\d+) /.exec(r.output)!;
    expect(Math.abs(Number(h[1]) - Number(h[2]))).toBeLessThanOrEqual(1);
    expect(Number(h[1])).toBeGreaterThan(500);
  });
});

describe("scheduler: policies", () => {
  it("PriorityPolicy runs the most urgent level first, FIFO within a level", async () => {
    const r = await run("prio", `
      function t(name: string, prio: i32, n: i32 = 1): Logger { const l = new Logger(name, n); l.priority = prio; return l; }
      export function main(): i32 {
        const s = new Scheduler(new PriorityPolicy());
        s.spawn(t("p3", 3)); s.spawn(t("p1a", 1, 2)); s.spawn(t("p2", 2)); s.spawn(t("p1b", 1)); s.spawn(t("p0", 0));
        s.spawn(t("p99", 99)); s.spawn(t("neg", -5));
        s.run();
        out(s.policy.name());
        return 0;
      }
    `);
    expect(r.exitCode).toBe(0);
    // A yielded p1a re-enters level 1 behind p1b, still ahead of levels 2 and 3;
    // out-of-range priorities are clamped (-5 -> 0, 99 -> 31).
    expect(r.output).toBe("p0 neg p1a p1b p1a p2 p3 p99 priority ");
  });

  it("EdfPolicy runs the earliest deadline first, ties in ready order", async () => {
    const r = await run("edf", `
      function t(name: string, d: u64): Logger { const l = new Logger(name); l.deadline = d; return l; }
      export function main(): i32 {
        const s = new Scheduler(new EdfPolicy(2)); // starts small: grows
        s.spawn(t("d50", 50)); s.spawn(t("d10", 10)); s.spawn(t("d30a", 30)); s.spawn(t("d5", 5));
        const c = t("cancelled", 1); s.spawn(c); s.cancel(c);
        s.spawn(t("d30b", 30)); s.spawn(t("d20", 20));
        s.run();
        out(s.policy.name());
        return 0;
      }
    `);
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe("d5 d10 d20 d30a d30b d50 edf ");
  });

  it("a custom policy plugs in through SchedPolicy (LIFO here)", async () => {
    const r = await run("lifo", `
      class Lifo extends SchedPolicy {
        stack: Array<Task> = new Array<Task>();
        name(): string { return "lifo"; }
        enqueue(t: Task): void { this.stack.push(t); this.count++; }
        dequeue(): Task | null { if (this.count == 0) return null; this.count--; return this.stack.pop(); }
        remove(t: Task): void { this.stack.splice(this.stack.indexOf(t), 1); this.count--; }
      }
      export function main(): i32 {
        const s = new Scheduler(new Lifo());
        s.spawn(new Logger("a")); s.spawn(new Logger("b")); s.spawn(new Logger("c"));
        s.run();
        return 0;
      }
    `);
    expect(r.output).toBe("c b a ");
  });
});

describe("scheduler: timers", () => {
  it("fires at exactly the deadline at the clock's resolution, never early", async () => {
    const body = `
      class Sleepy extends Task {
        i: i32 = 0;
        run(): void {
          if (this.i > 0) { num(this.firedAt - this.t0); num(clock_ns() - this.firedAt); }
          if (this.i < steps.length) { this.t0 = clock_ns(); this.sleep(steps[this.i++]); }
        }
        t0: u64 = 0;
      }
      const steps: u64[] = [1, 2, 999, 1000, 1_000_000, 1_000_000_000, 0];
      export function main(): i32 {
        const s = new Scheduler();
        s.spawn(new Sleepy("sleepy"));
        s.run();
        return 0;
      }
    `;
    const exact = await run("precision", body);
    expect(exact.exitCode).toBe(0);
    // (scheduled - asked, late) pairs: at cost 0 each wake-up is exactly on time.
    expect(exact.output).toBe("1 0 2 0 999 0 1000 0 1000000 0 1000000000 0 0 0 ");
    // With a clock that costs 1 ns a read, lateness is the few reads between wait() and the run.
    const costly = await run("precision", body, { clock: new VirtualClock(1n) });
    const nums = costly.output.trim().split(" ").map(Number);
    for (let i = 0; i < nums.length; i += 2) {
      expect(nums[i + 1]).toBeGreaterThanOrEqual(0);
      expect(nums[i + 1]).toBeLessThanOrEqual(3);
    }
  });

  it("cancels: before firing, stale handles, after firing, a task's own sleep", async () => {
    const r = await run("cancel", `
      export function main(): i32 {
        const s = new Scheduler();
        const a = new Logger("a", 1, true);
        const t1 = s.after(a, 5 * MS);
        out(s.cancelTimer(t1) ? "cancelled" : "missed");
        out(s.cancelTimer(t1) ? "again" : "not-twice");
        const t2 = s.after(a, 7 * MS); // reuses t1's slot with a new generation
        out(s.cancelTimer(t1) ? "stale-hit" : "stale-miss");
        out(s.timers.isArmed(t2) ? "t2-armed" : "t2-lost");
        const b = new Logger("b", 1, true);
        s.spawn(b); s.cancel(b); // ready, then cancelled: never runs
        const c = new Logger("c", 1, true);
        s.spawn(c); s.sleepFor(c, 3 * MS); s.cancel(c); // its sleep timer goes with it
        s.run();
        out(s.cancelTimer(t2) ? "late-cancel" : "already-fired");
        println(""); num(s.stats.timersArmed); num(s.stats.timersFired); num(s.stats.timersCancelled);
        return 0;
      }
    `);
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe("cancelled not-twice stale-miss t2-armed a 7000000 already-fired \n3 1 2 ");
    expect(r.waits).toEqual([7_000_000n]);
  });

  it("lets a task cancel the timer that would wake it", async () => {
    const r = await run("self-cancel", `
      // Stops its own periodic timer on the fifth tick.
      class Ticker extends Task {
        id: TimerId = NO_TIMER;
        run(): void {
          out(this.name); num(clock_ns());
          if (this.runs == 4) out(this.sched.cancelTimer(this.id) ? "stopped" : "missed");
        }
      }
      // Arms a 10 ms timeout for itself; an early wake-up at 2 ms cancels it.
      class Waiter extends Task {
        timeout: TimerId = NO_TIMER;
        run(): void {
          out(this.name); num(clock_ns());
          if (this.runs == 0) { this.timeout = this.sched.after(this, 10 * MS); return; }
          out(this.sched.cancelTimer(this.timeout) ? "timeout-cancelled" : "timeout-missed");
        }
      }
      class Poker extends Task {
        run(): void { out("poke"); this.sched.wake(w); }
      }
      const w = new Waiter("w");
      export function main(): i32 {
        const s = new Scheduler();
        const t = new Ticker("tick");
        t.id = s.every(t, 1 * MS);
        s.spawn(w);
        s.at(new Poker("poker"), 2500 * US);
        s.run();
        println(""); num(clock_ns()); num(t.runs); num(w.runs); num(s.timers.size);
        return 0;
      }
    `);
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe(
      "w 0 tick 1000000 tick 2000000 poke w 2500000 timeout-cancelled tick 3000000 tick 4000000 tick 5000000 stopped \n" +
        "5000000 5 2 0 ",
    );
    expect(r.waits).toEqual([1_000_000n, 2_000_000n, 2_500_000n, 3_000_000n, 4_000_000n, 5_000_000n]);
  });

  it("keeps periodic timers on their grid: lateness does not accumulate as drift", async () => {
    const r = await run("drift", `
      class Tick extends Task {
        first: u64 = 0; period: u64 = 0; offGrid: i32 = 0; worstLate: u64 = 0; slowAt: u64 = 0;
        run(): void {
          const k = this.runs;
          const late = clock_ns() - this.firedAt;
          if (late > this.worstLate) this.worstLate = late;
          if ((this.firedAt - this.first) % this.period != 0) this.offGrid++;
          if (k == this.slowAt) { const until = clock_ns() + 2 * this.period + this.period / 2; while (clock_ns() < until) {} }
          if (k == 1999) { out("last"); num(this.firedAt); this.sched.stop(); }
        }
      }
      export function main(): i32 {
        const s = new Scheduler();
        s.reportLongTasks = false;
        const t = new Tick("tick");
        t.period = 1 * MS; t.first = 1 * MS; t.slowAt = 1000;
        s.every(t, t.period, t.first);
        s.run();
        out("offgrid"); num(t.offGrid); out("overruns"); num(s.stats.timerOverruns); out("late"); num(t.worstLate);
        return 0;
      }
    `, { clock: new VirtualClock(37n) });
    expect(r.exitCode).toBe(0);
    // 2000 runs. Run 1000 (due at 1001 ms) took 2.5 periods: the tick due at 1002 ms ran
    // late at ~1003.5 ms, the one due at 1003 ms was skipped (an overrun), and the grid held:
    // the last run's deadline is 1 ms + 2000 periods, exactly.
    expect(r.output).toMatch(/^last 2001000000 offgrid 0 overruns 1 late (\d+) $/);
    const late = Number(/late (\d+)/.exec(r.output)![1]);
    expect(late).toBeGreaterThanOrEqual(1_500_000);
    expect(late).toBeLessThan(1_600_000);
  });

  it("inserts, cancels and fires 100,000 timers in (deadline, arming) order", async () => {
    const N = 100_000;
    // The same generator as the kernel's: deadlines with many ties.
    const deadlines: bigint[] = [];
    let x = 12345n;
    for (let i = 0; i < N; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffff_ffff_ffff_ffffn;
      deadlines.push(1_000_000n + ((x >> 33n) % 5000n) * 1000n);
    }
    const kept = [...Array(N).keys()].filter((i) => i % 3 !== 0);
    kept.sort((a, b) => (deadlines[a] < deadlines[b] ? -1 : deadlines[a] > deadlines[b] ? 1 : a - b));
    let h = 2166136261;
    for (const i of kept) h = Math.imul(h ^ i, 16777619) >>> 0;

    const t0 = performance.now();
    const r = await run("timers100k", `
      const N = ${N};
      let hash: u32 = 2166136261;
      let fired = 0; let early = 0; let late = 0;
      let lastD: u64 = 0; let lastI: i32 = -1; let disorder = 0;
      class Rec extends Task {
        constructor(public idx: i32, public due: u64) { super("rec"); }
        run(): void {
          const now = clock_ns();
          if (now < this.due) early++; else if (now > this.due) late++;
          if (this.due < lastD || (this.due == lastD && this.idx < lastI)) disorder++;
          lastD = this.due; lastI = this.idx;
          hash = (hash ^ <u32>this.idx) * 16777619;
          fired++;
        }
      }
      export function main(): i32 {
        const s = new Scheduler();
        const ids = new StaticArray<TimerId>(N);
        let x: u64 = 12345;
        for (let i = 0; i < N; i++) {
          x = x * 6364136223846793005 + 1442695040888963407;
          const d: u64 = 1_000_000 + ((x >> 33) % 5000) * 1000;
          ids[i] = s.at(new Rec(i, d), d);
        }
        out("pending"); num(s.timers.size);
        // cancel a third, from the back, so holes open all over the heap
        for (let i = N - 1; i >= 0; i--) if (i % 3 == 0 && !s.cancelTimer(ids[i])) return 2;
        out("pending"); num(s.timers.size);
        s.run();
        out("fired"); num(fired); out("disorder"); num(disorder); out("early"); num(early); out("late"); num(late);
        out("hash"); num(hash); out("left"); num(s.timers.size); out("waits"); num(s.stats.waits);
        return 0;
      }
    `, { memory: 64 << 20 }); // 100,000 task objects live at once
    const ms = performance.now() - t0;
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe(
      `pending 100000 pending 66666 fired 66666 disorder 0 early 0 late 0 hash ${h} left 0 waits ${new Set(kept.map((i) => deadlines[i])).size} `,
    );
    expect(ms).toBeLessThan(20_000); // a generous bound (build included): it must not be quadratic
  });
});

describe("scheduler: the idle path", () => {
  it("calls wait() with the earliest deadline, and returns when nothing can arrive", async () => {
    const r = await run("idle", `
      export function main(): i32 {
        const s = new Scheduler();
        s.sleepUntil(new Logger("a", 1, true), 3 * MS);
        s.sleepUntil(new Logger("b", 1, true), 1 * MS);
        const c = new Logger("c", 1, true);
        s.cancelTimer(s.at(c, 2 * MS)); // cancelled: never waited for
        s.sleepUntil(new Logger("d", 1, true), 3 * MS);
        s.run();
        num(s.stats.waits); num(s.stats.idleNs); num(s.stats.loopNs);
        return 0;
      }
    `);
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe("b 1000000 a 3000000 d 3000000 2 3000000 3000000 ");
    expect(r.waits).toEqual([1_000_000n, 3_000_000n]);
  });

  it("sleeps with NO_DEADLINE when only interrupt handlers can make work", async () => {
    const r = await run("irq-idle", `
      class Handler extends Task {
        run(): void {
          out("irq"); num(this.irqLines); num(clock_ns());
          if (this.runs == 2) this.sched.offIrq(5);
        }
      }
      export function main(): i32 {
        const s = new Scheduler();
        s.onIrq(5, new Handler("h5"));
        s.run();
        out("irqs"); num(s.stats.irqs); out("unhandled"); num(s.stats.irqsUnhandled);
        return 0;
      }
    `, {
      setup: (m: Machine) => {
        m.events.schedule(7_000_000n, () => m.raise(5));
        m.events.schedule(7_000_000n, () => m.raise(9)); // nobody handles line 9
        m.events.schedule(9_000_000n, () => m.raise(5));
        m.events.schedule(12_000_000n, () => m.raise(5));
      },
    } as MachineOptions);
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe("irq 32 7000000 irq 32 9000000 irq 32 12000000 irqs 3 unhandled 1 ");
    // four sleeps: the machine hands over line 5 alone at 7 ms, line 9 on the next wait;
    // no wait(now) polls, since every batch followed a wait that had just returned the lines
    expect(r.waits).toEqual([NO_DEADLINE, NO_DEADLINE, NO_DEADLINE, NO_DEADLINE]);
  });
});

describe("scheduler: interrupts", () => {
  it("unmasks a line only after its handler ran, and polls lines while busy", async () => {
    const r = await run("irq-busy", `
      class Handler extends Task {
        run(): void { out("irq"); num(clock_ns()); if (this.runs == 1) this.sched.stop(); }
      }
      class Busy extends Task {
        run(): void { if (this.runs < 100000) this.yield(); }
      }
      export function main(): i32 {
        const s = new Scheduler();
        s.onIrq(3, new Handler("h3"));
        s.spawn(new Busy("busy"));
        s.run();
        return 0;
      }
    `, {
      clock: new VirtualClock(1000n),
      setup: (m: Machine) => {
        // Two raises close together: the second is latched while the line is masked
        // and arrives when the handler's run is over.
        m.events.schedule(5_000_000n, () => m.raise(3));
        m.events.schedule(5_000_500n, () => m.raise(3));
      },
    } as MachineOptions);
    expect(r.exitCode).toBe(0);
    const times = [...r.output.matchAll(/irq (\d+)/g)].map((m) => Number(m[1]));
    expect(times.length).toBe(2);
    // picked up while the busy task kept the queue non-empty, within a few 1 µs steps
    expect(times[0]).toBeGreaterThanOrEqual(5_000_000);
    expect(times[0]).toBeLessThan(5_010_000);
    expect(times[1]).toBeGreaterThan(times[0]);
    expect(times[1]).toBeLessThan(times[0] + 10_000);
    // busy polls are wait(now) calls, never a sleep past now
    expect(r.waits.every((d) => d < 6_000_000n)).toBe(true);
  });
});

describe("scheduler: events and wake reasons", () => {
  it("wakes waiters in order on signal, or on timeout", async () => {
    const r = await run("events", `
      class W extends Task {
        constructor(name: string, public timeout: u64) { super(name); }
        run(): void {
          if (this.runs == 0) { this.waitOn(ev, this.timeout); return; }
          out(this.name); num(<u64>this.reason); num(clock_ns());
        }
      }
      class Signaller extends Task {
        run(): void { out("signal"); out(ev.signal() ? "1" : "0"); if (this.runs == 0) this.sleep(1 * MS); else out(ev.broadcast().toString()); }
      }
      let ev!: Event;
      export function main(): i32 {
        const s = new Scheduler();
        ev = new Event(s);
        s.spawn(new W("w1", 5 * MS));
        s.spawn(new W("w2", 0));
        s.spawn(new W("w3", 2 * MS));
        s.spawn(new W("w4", 0));
        s.at(new Signaller("sig"), 1 * MS);
        s.run();
        out("armed"); num(s.stats.timersArmed); out("cancelled"); num(s.stats.timersCancelled);
        return 0;
      }
    `);
    expect(r.exitCode).toBe(0);
    // reasons: Event = 3, Timeout = 4. w1 gets the signal at 1 ms (its timeout is cancelled);
    // w3 times out at 2 ms; the second signal at 2 ms wakes w2; the broadcast wakes w4.
    expect(r.output).toBe("signal 1 w1 3 1000000 w3 4 2000000 signal 1 1 w2 3 2000000 w4 3 2000000 armed 4 cancelled 1 ");
  });
});

describe("scheduler: long tasks and counters", () => {
  it("reports a task that runs too long, by name and duration", async () => {
    const r = await run("long", `
      export function main(): i32 {
        const s = new Scheduler();
        s.longTaskReport.intervalNs = 0; // a line for every long run
        s.spawn(new Spin("quick", 2 * MS));
        s.spawn(new Spin("slow", 15 * MS));
        s.run();
        s.longTaskNs = 1 * MS; // a stricter threshold catches the quick one too
        s.spawn(new Spin("quick", 2 * MS));
        s.run();
        out("long"); num(s.stats.longTasks); out("longest"); out(s.stats.longestName);
        out("runs"); num(s.stats.tasksRun);
        return 0;
      }
    `, { clock: new VirtualClock(1000n) });
    expect(r.exitCode).toBe(0);
    expect(r.output).toMatch(/^sched: long task 'slow' ran 1500\d\.000 us\nsched: long task 'quick' ran 200\d\.000 us\nlong 2 longest slow runs 3 $/);
  });

  it("prints the first long run at once, then at most a line a second saying how many it did not print", async () => {
    // 120 runs of 20 ms, a 31 ms one among them: 2.4 s of long runs
    const r = await run("long-sparse", `
      export function main(): i32 {
        const s = new Scheduler();
        for (let i = 0; i < 120; i++) s.spawn(new Spin(i == 70 ? "slower" : "busy", i == 70 ? 31 * MS : 20 * MS));
        s.run();
        out("long"); num(s.stats.longTasks);
        return 0;
      }
    `, { clock: new VirtualClock(1000n) });
    expect(r.exitCode).toBe(0);
    const lines = r.output.trim().split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^sched: long task 'busy' ran 2000\d\.000 us$/);
    // 1 s after the first line: the 50th run, with the 49 between
    expect(lines[1]).toMatch(/^sched: long task 'busy' ran 2000\d\.000 us \(49 more since the last report, the longest 'busy' ran 2000\d\.000 us\)$/);
    expect(lines[2]).toMatch(/^sched: long task 'busy' ran 2000\d\.000 us \(49 more since the last report, the longest 'slower' ran 3100\d\.000 us\)$/);
    // the loop's end: the 19 held since the third line are said
    expect(lines[3]).toMatch(/^sched: 19 more long task runs since the last report, the longest 'busy' ran 2000\d\.000 us$/);
    expect(lines[4]).toBe("long 120"); // every run counted
    // one threshold-crossing run a second is printed as it comes
    const slow = await run("long-apart", `
      export function main(): i32 {
        const s = new Scheduler();
        s.spawn(new Spin("a", 12 * MS));
        s.run();
        const t = new Spin("b", 12 * MS);
        s.sleepFor(t, 2 * SEC);
        s.run();
        return 0;
      }
    `, { clock: new VirtualClock(1000n) });
    expect(slow.output).toMatch(/^sched: long task 'a' ran 1200\d\.000 us\nsched: long task 'b' ran 1200\d\.000 us\n$/);
  });

  it("times each run from its own start: a slow long-task report is not charged to the next task", async () => {
    // Writing the report is slow on a serial console (an exit per byte under
    // QEMU): here the clock jumps 3 ms whenever it is written.
    const clock = new VirtualClock(1000n);
    const r = await run("long-report", `
      export function main(): i32 {
        const s = new Scheduler();
        s.longTaskNs = 1 * MS;
        s.spawn(new Spin("slow", 2 * MS));
        s.spawn(new Spin("quick", 100 * US));
        s.spawn(new Spin("quick2", 100 * US));
        s.run();
        out("long"); num(s.stats.longTasks); out("longest"); out(s.stats.longestName);
        return 0;
      }
    `, { clock, console: (t) => { if (t.includes("long task")) clock.advance(3_000_000n); } });
    expect(r.exitCode).toBe(0);
    expect(r.output).toMatch(/^sched: long task 'slow' ran 200\d\.000 us\nlong 1 longest slow $/);
  });

  it("counts runs, timers, idle and busy time, and prints them", async () => {
    const r = await run("stats", `
      class Work extends Task {
        run(): void { const until = clock_ns() + 100 * US; while (clock_ns() < until) {} if (this.runs < 9) this.sleep(1 * MS); }
      }
      export function main(): i32 {
        const s = new Scheduler();
        s.spawn(new Work("work"));
        s.run();
        const st = s.stats;
        out(st.idleNs + st.busyNs == st.loopNs ? "sum-ok" : "sum-bad");
        out(st.busyNs >= st.taskNs ? "busy-ok" : "busy-bad");
        println("");
        printStats(st);
        return 0;
      }
    `, { clock: new VirtualClock(1000n) });
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain("sum-ok busy-ok \n");
    expect(r.output).toContain("sched: tasks run: 10\n");
    expect(r.output).toContain("sched: timers armed: 9\n");
    expect(r.output).toContain("sched: timers fired: 9\n");
    expect(r.output).toContain("sched: waits: 9\n");
    expect(r.output).toMatch(/sched: time idle: 9\d{3}\.000 us\n/); // ~9 x 1 ms
    expect(r.output).toMatch(/sched: longest task: work 10\d\.000 us\n/);
    expect(r.output).toContain("sched: long tasks: 0\n");
  });

  it("is deterministic: the same kernel and inputs give the same output", async () => {
    const body = `
      class R extends Task { run(): void { out(this.name); if (this.runs < 3) this.sleep(<u64>(this.name.length) * MS); } }
      export function main(): i32 {
        const s = new Scheduler();
        s.spawn(new R("aa")); s.spawn(new R("b")); s.spawn(new R("ccc")); s.spawn(new R("d"));
        s.run(); return 0;
      }
    `;
    const x = await run("determinism", body);
    const y = await run("determinism", body);
    expect(x.output).toBe(y.output);
    // sleeps of 2, 1, 3, 1 ms, three each; equal deadlines fire in arming order
    expect(x.output).toBe("aa b ccc d b d aa b d ccc b d aa ccc aa ccc ");
  });
});

describe("scheduler: the library entry", () => {
  it("is exported from kernel/index.ts with the console", async () => {
    const wasm = await buildSourceWasm("sched-index", `
      import { Task, Scheduler, MS, println } from "../../../kernel/index";
      class Hi extends Task { run(): void { println("hi"); if (this.runs == 0) this.sleep(1 * MS); } }
      export function main(): i32 { const s = new Scheduler(); s.spawn(new Hi("hi")); s.run(); return 0; }
    `);
    const m = new Machine({ console: () => {} });
    const r = await m.run(wasm);
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe("hi\nhi\n");
  });
});

describe("scheduler: garbage collection between task runs", () => {
  it("reclaims what tasks dropped and keeps what the scheduler and globals reach, when asked; off by default", async () => {
    // A task makes 1 MiB of garbage a run, 200 runs 10 ms apart (virtual
    // time), while a list it keeps in a field and one kept by a global must
    // survive every collection intact.
    const body = `
      import { HeapUsage, heapUsage } from "../../../kernel/mem/heap";
      import { cmdlineArg } from "../../../kernel/cmdline";
      class Node { constructor(public v: i32, public next: Node | null) {} }
      const globalKeep = new Array<string>();
      let churn: Churn | null = null; // a local of main is no root once the loop runs (kernel/mem/gc.ts)
      class Churn extends Task {
        i: i32 = 0;
        kept: Node | null = null;
        run(): void {
          for (let k = 0; k < 16; k++) new ArrayBuffer(65536); // garbage
          this.kept = new Node(this.i, this.kept);
          if (this.i % 50 == 0) globalKeep.push("r" + this.i.toString());
          if (++this.i < 200) this.sleep(10 * MS);
        }
      }
      export function main(): i32 {
        const s = new Scheduler();
        if (cmdlineArg("gc", "on") == "on") s.gc.intervalNs = 100 * MS;
        churn = new Churn("churn");
        s.spawn(churn!);
        s.run();
        const c = churn!;
        let n = 0;
        let sum: i64 = 0;
        for (let p = c.kept; p; p = p!.next) { n++; sum += p!.v; }
        const u = heapUsage(new HeapUsage());
        print("gc_runs="); printU64(s.gc.runs);
        print(" kept="); printU64(n); print(" sum="); printU64(<u64>sum);
        print(" global="); print(globalKeep.join(","));
        print(" linear="); printU64(u.linearBytes); println("");
        return 0;
      }
    `;
    const parse = (out: string) => Object.fromEntries([...out.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    const on = parse((await run("gc-on", body, { memory: 64 << 20 })).output);
    expect(Number(on.gc_runs)).toBeGreaterThanOrEqual(15); // 2 s of virtual time, 100 ms apart
    expect(on.kept).toBe("200");
    expect(on.sum).toBe(String((199 * 200) / 2));
    expect(on.global).toBe("r0,r50,r100,r150");
    // 200 MiB of garbage went through a heap that stayed within a few MiB
    expect(Number(on.linear)).toBeLessThan(16 << 20);
    // off (a new Scheduler's default): nothing is collected, the garbage stays and the heap grows with it
    const off = parse((await run("gc-off", body, { memory: 512 << 20, cmdline: "gc=off" })).output);
    expect(off.gc_runs).toBe("0");
    expect(off.kept).toBe("200");
    expect(Number(off.linear)).toBeGreaterThan(200 << 20);
  });
});
