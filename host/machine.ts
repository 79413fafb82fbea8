// The Node platform: implements the HAL (kernel/hal.ts) for a kernel's wasm,
// so the same binary that boots on QEMU runs here under a virtual clock,
// with device models on MMIO and interrupt lines, deterministic by seed.

import { RealClock, VirtualClock, type Clock } from "./clock.ts";
import { readKernelCounters, type KernelCounters } from "./counters.ts";
import { EventQueue } from "./events.ts";
import { ALLOC_REQUEST_EXPORT, EXIT_ABORT, EXIT_CPU, EXIT_OOM, EXIT_RUNTIME, EXIT_TRAP } from "./exit-codes.ts";
import { ASYNCIFY_DATA, ASYNCIFY_END } from "./asyncify.ts";
import { SplitMix64 } from "./prng.ts";
import { readWasmInfo, type WasmInfo } from "./wasm-info.ts";

const PAGE = 65536;
const NO_DEADLINE = 0xffff_ffff_ffff_ffffn;

/** A device's registers, seen by the kernel through mmio_read/mmio_write. */
export interface MmioDevice {
  read(offset: number, width: 1 | 2 | 4 | 8): bigint;
  write(offset: number, width: 1 | 2 | 4 | 8, value: bigint): void;
}

export interface MachineOptions {
  /** Bytes of RAM for linear memory (what `mem_limit` reports). */
  memory?: number;
  cmdline?: string;
  /** Seed for entropy and everything random in the simulated world. */
  seed?: bigint;
  clock?: "virtual" | "real" | Clock;
  /** Receives console bytes; defaults to process.stdout. */
  console?: (text: string) => void;
  /** Sees the deadline of every hal.wait() call (tests check the idle path with it). */
  onWait?: (deadline: bigint) => void;
  /**
   * The simulated world's event queue. Machines that share a network share one
   * queue (and one `clock`), so a frame sent by one is delivered to the other at
   * the right virtual time. Defaults to a queue of this machine's own.
   */
  events?: EventQueue;
  /**
   * Receives the kernel's hal.trace_event calls (kernel/trace.ts); without it
   * they are ignored. host/sim/trace.ts turns them into JSON lines.
   */
  trace?: TraceSink;
}

/** What the kernel's trace events go to: the kind and its four arguments (unsigned). */
export type TraceSink = (kind: number, a: number, b: number, c: number, d: number) => void;

export interface RunResult {
  exitCode: number;
  /** Everything the kernel wrote to its console. */
  output: string;
}

class MachineExit {
  constructor(readonly code: number) {}
}

/** The exports Binaryen's Asyncify pass adds to a simulation build. */
interface AsyncifyExports {
  main: () => number;
  _initialize?: () => void;
  asyncify_start_unwind: (data: number) => void;
  asyncify_stop_unwind: () => void;
  asyncify_start_rewind: (data: number) => void;
  asyncify_stop_rewind: () => void;
  asyncify_get_state: () => number;
}

const ASYNCIFY_UNWINDING = 1;

/** The line hal.stop_line names: a stop request (requestStop), as the x86 shim's power button. */
export const STOP_LINE = 63;

export class Machine {
  readonly clock: Clock;
  readonly events: EventQueue;
  readonly rng: SplitMix64;
  readonly memoryBytes: number;
  private cmdlineText: string;
  private readonly sink: (text: string) => void;
  private readonly onWait?: (deadline: bigint) => void;
  /** Where hal.trace_event goes (set it before the kernel starts, or at any time). */
  trace?: TraceSink;
  private output = "";
  private pending = 0n;
  private masked = 0n;
  private latched = 0n; // raised while masked: delivered on unmask
  private stopArmed = false;
  private regions: { base: bigint; size: bigint; device: MmioDevice }[] = [];
  private ports = new Map<number, (width: number, value?: number) => number>();
  private mapped: { base: bigint; end: bigint }[] = [];
  private memory?: WebAssembly.Memory;
  private memoryMaxPages = 0;
  private instance?: WebAssembly.Instance;
  private info?: WasmInfo;
  /** Set when this machine runs as a coroutine of a World. */
  private co?: { exports: AsyncifyExports; deadline: bigint; rewinding: boolean; result?: RunResult };
  private decoder = new TextDecoder();

  constructor(opts: MachineOptions = {}) {
    this.memoryBytes = opts.memory ?? 16 * 1024 * 1024;
    this.cmdlineText = opts.cmdline ?? "";
    this.events = opts.events ?? new EventQueue();
    this.rng = new SplitMix64(opts.seed ?? 1n);
    const c = opts.clock ?? "virtual";
    this.clock = c === "virtual" ? new VirtualClock() : c === "real" ? new RealClock() : c;
    this.sink = opts.console ?? ((t) => process.stdout.write(t));
    this.onWait = opts.onWait;
    this.trace = opts.trace;
  }

  /** The boot command line the kernel reads with hal.cmdline. */
  get cmdline(): string {
    return this.cmdlineText;
  }

  /** Appends `arg` to the command line, space-separated (device discovery: virtio_mmio.device=...). */
  appendCmdline(arg: string): void {
    this.cmdlineText = this.cmdlineText ? `${this.cmdlineText} ${arg}` : arg;
  }

  /** Attaches a device's registers at physical address `base`. */
  attachMmio(base: bigint, size: bigint, device: MmioDevice): void {
    this.regions.push({ base, size, device });
  }

  /** Attaches an x86-style I/O port handler (reads return all ones otherwise). */
  attachPort(port: number, handler: (width: number, value?: number) => number): void {
    this.ports.set(port, handler);
  }

  /**
   * Asks the kernel to stop, as a power button would: raises the HAL's stop
   * line (STOP_LINE). False if the kernel never armed it (hal.stop_line).
   */
  requestStop(): boolean {
    if (!this.stopArmed) return false;
    this.raise(STOP_LINE);
    return true;
  }

  /** Raises interrupt `line` (0..63): pending now, or when the kernel unmasks it. */
  raise(line: number): void {
    const bit = 1n << BigInt(line);
    if (this.masked & bit) this.latched |= bit;
    else {
      this.pending |= bit;
      this.masked |= bit; // masked until the kernel has serviced it
    }
  }

  /**
   * Gives the machine `bytes` of RAM without a kernel, so device models can be
   * driven from TypeScript (their tests do).
   */
  attachRam(bytes: number): void {
    if (this.memory) throw new Error("the machine already has its memory");
    const pages = Math.ceil(bytes / PAGE);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  }

  /**
   * For a driver written in TypeScript: what hal.wait() would hand the kernel
   * (the pending lines, cleared), with those lines unmasked again as a driver
   * does once it has serviced them.
   */
  takeInterrupts(): bigint {
    const p = this.pending;
    this.pending = 0n;
    this.masked &= ~p;
    return p;
  }

  /** Linear memory, for device models doing DMA (physical = offset here). */
  /**
   * The kernel's counters now, as { component: { name: value } }
   * (host/counters.ts): between two waits, or after the kernel ended.
   * Undefined before it started, or for a kernel built without the export.
   */
  kernelCounters(): KernelCounters | undefined {
    if (!this.instance || !this.memory) return undefined;
    return readKernelCounters(this.instance.exports, this.memory);
  }

  get ram(): Uint8Array {
    if (!this.memory) throw new Error("the kernel is not instantiated yet");
    return new Uint8Array(this.memory.buffer);
  }

  /** Instantiates `wasm` and runs its `main`; returns its exit code and output. */
  async run(wasm: Uint8Array): Promise<RunResult> {
    let instance: WebAssembly.Instance;
    try {
      instance = await this.instantiate(wasm);
    } catch (e) {
      if (e instanceof KernelEnded) return { exitCode: e.exitCode, output: this.output };
      throw e;
    }
    const exports = instance.exports as { main: () => number; _initialize?: () => void };
    const code = this.call(() => {
      exports._initialize?.();
      return exports.main();
    });
    return { exitCode: code, output: this.output };
  }

  async instantiate(wasm: Uint8Array): Promise<WebAssembly.Instance> {
    this.info = readWasmInfo(wasm);
    const memImport = this.info.imports.find((i) => i.kind === "memory");
    const limitPages = Math.floor(this.memoryBytes / PAGE);
    const imports: WebAssembly.Imports = { hal: this.halImports(), env: this.envImports() };
    if (memImport) {
      const want = memImport.memory!;
      if (want.initial > limitPages) {
        this.write(`\nuniwasm: the kernel needs ${want.initial * 64} KiB of linear memory at start but the machine has ${limitPages * 64} KiB: give it more RAM (--mem)\n`);
        throw new KernelEnded(EXIT_RUNTIME, this.output);
      }
      const maximum = Math.min(want.maximum ?? 65536, limitPages);
      this.memoryMaxPages = maximum;
      this.memory = new WebAssembly.Memory({ initial: want.initial, maximum });
      (imports as any)[memImport.module] = { ...(imports as any)[memImport.module], [memImport.name]: this.memory };
    }
    let instance: WebAssembly.Instance | undefined;
    const code = this.call(() => {
      instance = new WebAssembly.Instance(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>), imports);
      return -1;
    });
    if (!instance) throw new KernelEnded(code, this.output);
    this.instance = instance;
    if (!this.memory) this.memory = instance.exports.memory as WebAssembly.Memory;
    return instance;
  }

  /** Runs wasm code, turning exits, traps and aborts into an exit code. */
  call(fn: () => number): number {
    try {
      return fn() >>> 0;
    } catch (e) {
      if (e instanceof MachineExit) return e.code;
      if (e instanceof WebAssembly.RuntimeError || isStackOverflow(e)) {
        if (this.co?.exports?.asyncify_get_state() === ASYNCIFY_UNWINDING) {
          this.write(this.savedStackTooSmall()); // a trap while saving the frames
          return EXIT_RUNTIME;
        }
        return this.trapReport(e);
      }
      throw e;
    }
  }

  private write(text: string): void {
    this.output += text;
    this.sink(text);
  }

  private fail(message: string, code: number): never {
    this.write(`\nuniwasm: ${message}\n`);
    throw new MachineExit(code);
  }

  /** Writes the report of a trap and returns its exit code. */
  private trapReport(e: Error): number {
    const kind = trapKind(e);
    const frames = this.wasmFrames(e);
    // AssemblyScript's allocator ends in `unreachable` when memory.grow is
    // refused: that is out of memory (as boot/runtime/runtime.c reports it).
    const oom = kind === "unreachable executed" && (frames[0] ?? "").startsWith("~lib/rt/");
    const text = oom ? this.oomReport() : `\nuniwasm: wasm trap: ${kind}\n`;
    this.write(text + `  in ${frames[0] ?? "?"}\n` + callChain(frames));
    return oom ? EXIT_OOM : EXIT_TRAP;
  }

  private oomReport(): string {
    const req = (this.instance?.exports[ALLOC_REQUEST_EXPORT] as WebAssembly.Global | undefined)?.value;
    const inUse = (this.memory?.buffer.byteLength ?? 0) / 1024;
    return `\nuniwasm: out of memory: the kernel's heap could not grow${req !== undefined ? ` for an allocation of ${req >>> 0} bytes` : ""}\n` +
      `  linear memory: ${inUse} KiB in use of ${this.memoryMaxPages * 64} KiB the machine gives it (--mem)\n`;
  }

  /** Wasm frames of a trap, innermost first, named from the name section. */
  private wasmFrames(e: Error): string[] {
    const out: string[] = [];
    for (const line of (e.stack ?? "").split("\n")) {
      const m = /^\s*at (.*?) ?\(?wasm:\/\/wasm\/[^)]*?(?:wasm-function\[(\d+)\])?[^)]*\)?$/.exec(line);
      if (!m) continue;
      const index = m[2] !== undefined ? Number(m[2]) : undefined;
      const name = m[1] || (index !== undefined ? this.info?.functionNames.get(index) ?? `function ${index}` : "?");
      const at = this.info?.sourceOf.get(name);
      out.push(at ? `${name} at ${at}` : name);
    }
    return out;
  }

  /** Bytes [ptr, ptr+len) of linear memory, or a trap like the native runtime's. */
  private span(ptr: number, len: number): Uint8Array {
    ptr >>>= 0; // i32 arguments arrive signed
    len >>>= 0;
    const buf = this.ram;
    if (ptr + len > buf.length) {
      const err = new WebAssembly.RuntimeError("memory access out of bounds (HAL argument)");
      throw err;
    }
    return buf.subarray(ptr, ptr + len);
  }

  private wait(deadline: bigint): bigint {
    if (this.co) return this.suspend(deadline);
    this.onWait?.(deadline); // not reading the clock: a VirtualClock read may cost time
    for (;;) {
      if (this.pending) {
        const p = this.pending;
        this.pending = 0n;
        return p;
      }
      const next = this.events.peek();
      if (next !== undefined && next <= deadline) {
        const e = this.events.pop()!;
        this.clock.sleepUntil(e.at);
        e.run();
        continue;
      }
      if (deadline === NO_DEADLINE) {
        this.fail("wait() without a deadline, and nothing in the simulated world can raise an interrupt: the kernel would sleep forever", EXIT_RUNTIME);
      }
      this.clock.sleepUntil(deadline);
      return 0n;
    }
  }

  // ---- as a coroutine: several kernels on one clock (host/world.ts) ----
  //
  // A kernel's main runs synchronously, so two kernels can only take turns if
  // each can stop in wait() and be resumed later. The simulation build
  // (`.sim.wasm`) is instrumented by Binaryen's Asyncify for exactly that:
  // wait() unwinds the wasm stack into linear memory and returns to the
  // World, which resumes the kernel (rewinding the stack) once a line is
  // pending or its deadline has come.

  /** Instantiates a simulation build and runs it up to its first wait(). */
  async startCoroutine(wasm: Uint8Array): Promise<void> {
    let instance: WebAssembly.Instance;
    try {
      instance = await this.instantiate(wasm);
    } catch (e) {
      if (e instanceof KernelEnded) {
        this.co = { exports: undefined as never, deadline: 0n, rewinding: false, result: { exitCode: e.exitCode, output: this.output } };
        return;
      }
      throw e;
    }
    const exports = instance.exports as unknown as AsyncifyExports;
    if (typeof exports.asyncify_start_unwind !== "function") {
      throw new Error("this kernel is not a simulation build (.sim.wasm, instrumented by Asyncify); build it with buildWasm(..., { simulation: true })");
    }
    this.co = { exports, deadline: 0n, rewinding: false };
    const init = this.call(() => {
      exports._initialize?.();
      return 0;
    });
    if (init !== 0) this.co.result = { exitCode: init, output: this.output };
    else this.step();
  }

  /** The kernel's result once it has ended. */
  get result(): RunResult | undefined {
    return this.co?.result;
  }

  /** When a suspended kernel wants to run again: its wait() deadline, or now if a line is pending. */
  get wakeAt(): bigint | undefined {
    const co = this.co;
    if (!co || co.result) return undefined;
    return this.pending ? this.clock.peek() : co.deadline;
  }

  /** Runs the kernel from where it waited until it waits again or ends. */
  resume(): void {
    const co = this.co!;
    co.exports.asyncify_start_rewind(ASYNCIFY_DATA);
    co.rewinding = true;
    this.step();
  }

  /** Ends a kernel that can never run again (nothing will wake it). */
  abandon(message: string): void {
    this.write(`\nuniwasm: ${message}\n`);
    this.co!.result = { exitCode: EXIT_RUNTIME, output: this.output };
  }

  private step(): void {
    const co = this.co!;
    const code = this.call(() => co.exports.main());
    if (co.result) return;
    if (co.exports.asyncify_get_state() !== ASYNCIFY_UNWINDING) {
      co.result = { exitCode: code, output: this.output };
      return;
    }
    try {
      co.exports.asyncify_stop_unwind();
    } catch (e) {
      // Asyncify checks here that the saved frames stayed inside their area
      if (!(e instanceof WebAssembly.RuntimeError)) throw e;
      this.write(this.savedStackTooSmall());
      co.result = { exitCode: EXIT_RUNTIME, output: this.output };
    }
  }

  private savedStackTooSmall(): string {
    return `\nuniwasm: the kernel's call chain into wait() does not fit the simulation build's saved-stack area (${ASYNCIFY_END - ASYNCIFY_DATA - 8} bytes, host/asyncify.ts)\n`;
  }

  private suspend(deadline: bigint): bigint {
    const co = this.co!;
    if (co.rewinding) {
      co.exports.asyncify_stop_rewind(); // back where the kernel waited: hand it what woke it
      co.rewinding = false;
    } else {
      this.onWait?.(deadline);
      if (!this.pending && deadline > this.clock.peek()) {
        const view = new DataView(this.memory!.buffer);
        view.setInt32(ASYNCIFY_DATA, ASYNCIFY_DATA + 8, true); // where saving starts
        view.setInt32(ASYNCIFY_DATA + 4, ASYNCIFY_END, true); // and must end
        co.deadline = deadline;
        co.exports.asyncify_start_unwind(ASYNCIFY_DATA);
        return 0n; // ignored: the stack is unwinding
      }
    }
    const p = this.pending;
    this.pending = 0n;
    return p;
  }

  private mmio(phys: bigint, width: 1 | 2 | 4 | 8): { device: MmioDevice; offset: number } | undefined {
    if (!this.mapped.some((m) => phys >= m.base && phys + BigInt(width) <= m.end)) {
      // the native platforms take a page fault here; report it the same way
      this.fail(`page fault: mmio access at 0x${phys.toString(16)} outside any range given to mmio_map`, EXIT_CPU);
    }
    for (const r of this.regions) {
      if (phys >= r.base && phys + BigInt(width) <= r.base + r.size) return { device: r.device, offset: Number(phys - r.base) };
    }
    return undefined;
  }

  private mmioRead(phys: bigint, width: 1 | 2 | 4 | 8): bigint {
    const hit = this.mmio(phys, width);
    return hit ? hit.device.read(hit.offset, width) : (1n << BigInt(8 * width)) - 1n;
  }

  private mmioWrite(phys: bigint, width: 1 | 2 | 4 | 8, value: bigint): void {
    const hit = this.mmio(phys, width);
    hit?.device.write(hit.offset, width, value);
  }

  private port(port: number, width: number, value?: number): number {
    const h = this.ports.get(port);
    if (!h) return value === undefined ? 2 ** (8 * width) - 1 : 0;
    return h(width, value);
  }

  /** The HAL, as the imports of module "hal" (exactly the calls kernel/hal.ts declares). */
  halImports(): Record<string, Function> {
    return {
      console_write: (ptr: number, len: number) => this.write(this.decoder.decode(this.span(ptr, len))),
      clock_ns: () => this.clock.now(),
      wait: (deadline: bigint) => this.wait(BigInt.asUintN(64, deadline)),
      irq_mask: (line: number) => {
        this.masked |= 1n << BigInt(line & 63);
      },
      irq_unmask: (line: number) => {
        const bit = 1n << BigInt(line & 63);
        this.masked &= ~bit;
        if (this.latched & bit) {
          this.latched &= ~bit;
          this.raise(line & 63);
        }
      },
      mmio_map: (phys: bigint, len: bigint) => {
        this.mapped.push({ base: BigInt.asUintN(64, phys), end: BigInt.asUintN(64, phys) + BigInt.asUintN(64, len) });
        return 0;
      },
      mmio_read8: (a: bigint) => Number(this.mmioRead(BigInt.asUintN(64, a), 1)),
      mmio_read16: (a: bigint) => Number(this.mmioRead(BigInt.asUintN(64, a), 2)),
      mmio_read32: (a: bigint) => Number(this.mmioRead(BigInt.asUintN(64, a), 4)) | 0,
      mmio_read64: (a: bigint) => this.mmioRead(BigInt.asUintN(64, a), 8),
      mmio_write8: (a: bigint, v: number) => this.mmioWrite(BigInt.asUintN(64, a), 1, BigInt(v & 0xff)),
      mmio_write16: (a: bigint, v: number) => this.mmioWrite(BigInt.asUintN(64, a), 2, BigInt(v & 0xffff)),
      mmio_write32: (a: bigint, v: number) => this.mmioWrite(BigInt.asUintN(64, a), 4, BigInt(v >>> 0)),
      mmio_write64: (a: bigint, v: bigint) => this.mmioWrite(BigInt.asUintN(64, a), 8, BigInt.asUintN(64, v)),
      port_read8: (p: number) => this.port(p, 1),
      port_read16: (p: number) => this.port(p, 2),
      port_read32: (p: number) => this.port(p, 4) | 0,
      port_write8: (p: number, v: number) => void this.port(p, 1, v & 0xff),
      port_write16: (p: number, v: number) => void this.port(p, 2, v & 0xffff),
      port_write32: (p: number, v: number) => void this.port(p, 4, v >>> 0),
      fence: () => {},
      dma_base: () => 0n,
      entropy: (ptr: number, len: number) => {
        this.rng.fill(this.span(ptr, len));
        return len;
      },
      cmdline: (ptr: number, cap: number) => {
        const bytes = new TextEncoder().encode(this.cmdline);
        this.span(ptr, cap).set(bytes.subarray(0, cap));
        return bytes.length;
      },
      mem_limit: () => BigInt(Math.floor(this.memoryBytes / PAGE) * PAGE),
      stop_line: () => {
        this.stopArmed = true;
        return STOP_LINE;
      },
      exit: (code: number) => {
        throw new MachineExit(code >>> 0);
      },
      trace_event: (kind: number, a: number, b: number, c: number, d: number) => {
        this.trace?.(kind >>> 0, a >>> 0, b >>> 0, c >>> 0, d >>> 0);
      },
    };
  }

  private envImports(): Record<string, Function> {
    return {
      abort: (msg: number, file: number, line: number, col: number) => {
        let text = `\nuniwasm: abort: ${msg ? this.asString(msg) : "(no message)"}`;
        if (file) text += ` at ${this.asString(file)}:${line >>> 0}:${col >>> 0}`;
        // the location is where the runtime threw (often ~lib/array.ts); the
        // chain names the app's functions and lines that led there
        this.write(text + "\n" + callChain(this.wasmFrames(stackHere())));
        throw new MachineExit(EXIT_ABORT);
      },
      trace: (msg: number, n: number, ...args: number[]) => {
        const shown = args.slice(0, n).map((v) => String(Math.trunc(v)));
        this.write(`trace: ${this.asString(msg)}${shown.length ? " " + shown.join(", ") : ""}\n`);
      },
      seed: () => Number(this.rng.next() >> 11n),
    };
  }

  /** An AssemblyScript string (UTF-16, byte length in the header), checked. */
  private asString(ptr: number): string {
    const buf = this.ram;
    if (ptr < 4 || ptr > buf.length) return "<bad string>";
    const bytes = new DataView(buf.buffer).getUint32(ptr - 4, true);
    if (bytes > buf.length - ptr || bytes > 4096) return "<bad string>";
    return new TextDecoder("utf-16le").decode(buf.subarray(ptr, ptr + (bytes & ~1)));
  }
}

/** Thrown by `instantiate` when the kernel ended during its start function. */
export class KernelEnded extends Error {
  constructor(readonly exitCode: number, readonly output: string) {
    super(`the kernel ended with code ${exitCode} while starting`);
  }
}

function isStackOverflow(e: unknown): e is RangeError {
  return e instanceof RangeError && /call stack size/i.test(e.message);
}

/** V8's trap messages, in the native runtime's words. */
function trapKind(e: Error): string {
  const m = e.message;
  if (isStackOverflow(e)) return "call stack exhausted";
  if (/out of bounds/.test(m)) return "out of bounds memory access";
  if (/divide by zero|remainder by zero/.test(m)) return "integer divide by zero";
  if (/unreachable/.test(m)) return "unreachable executed";
  if (/integer overflow|divide result unrepresentable/.test(m)) return "integer overflow";
  if (/float unrepresentable|invalid conversion/.test(m)) return "invalid conversion to integer";
  if (/signature|null function|table index/.test(m)) return "indirect call signature mismatch";
  return m;
}

/** The "call chain:" lines of a report (as boot/runtime/runtime.c prints them), innermost first. */
function callChain(frames: string[]): string {
  return `  call chain:\n${frames.map((f) => `    ${f}\n`).join("")}`;
}

/** The stack of the current call, deep enough for a kernel's chain (V8 keeps 10 frames by default). */
function stackHere(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 64;
  const e = new Error();
  Error.stackTraceLimit = limit;
  return e;
}
