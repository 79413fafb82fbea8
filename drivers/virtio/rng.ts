// The virtio entropy device (virtio 1.2, 5.4): one queue; the driver posts
// device-writable buffers and the device fills them with random bytes.
//
// Two ways to use it: `read` is synchronous (it waits, with a deadline, for
// the device) and is meant for seeding at boot, before the scheduler routes
// interrupts — it waits through hal.wait, and interrupt lines that fire
// meanwhile are unmasked again without being serviced, so call it before
// other drivers rely on their interrupts. With `routeIrq`, the device then
// keeps a small reserve filled in the background, and `read` serves from it
// without waiting. When there is no device (or it is slow), `randomBytes`
// falls back to hal.entropy.

import { clock_ns, wait, irq_unmask, entropy } from "../../kernel/hal";
import { dmaAlloc, dmaAddr } from "../../kernel/mem/dma";
import { VirtioTransport, InitResult, negotiate, finishInit, failInit, F_EVENT_IDX } from "./transport";
import { Virtqueue } from "./virtqueue";
import { IrqHandler } from "./irq";

const RESERVE: u32 = 256;

export class VirtioRng extends IrqHandler {
  features: u64 = 0;
  result: InitResult = InitResult.Ok;
  running: bool = false;
  q: Virtqueue | null = null;
  /** Bytes the device has delivered in total. */
  delivered: u64 = 0;
  /** Reads that timed out waiting for the device. */
  timeouts: u64 = 0;
  private buf: usize = 0;
  private have: u32 = 0; // valid bytes at buf + (RESERVE - have)
  private posted: bool = false;
  private scratch: StaticArray<u64> = new StaticArray<u64>(1);

  constructor(readonly transport: VirtioTransport) {
    super();
  }

  init(): InitResult {
    const t = this.transport;
    const r = negotiate(t, F_EVENT_IDX, this.scratch);
    if (r != InitResult.Ok) {
      this.result = r;
      return r;
    }
    this.features = this.scratch[0];
    const q = Virtqueue.create(t, 0, 4, (this.features & F_EVENT_IDX) != 0);
    this.buf = dmaAlloc(RESERVE);
    if (!q || this.buf == 0) {
      failInit(t);
      this.result = InitResult.QueueFailed;
      return this.result;
    }
    this.q = q;
    finishInit(t);
    this.running = true;
    this.post();
    return InitResult.Ok;
  }

  /** Asks the device to fill the part of the reserve that is used up. */
  private post(): void {
    if (this.posted || this.have == RESERVE) return;
    const q = this.q!;
    if (!q.begin(1)) return;
    q.push(dmaAddr(this.buf), RESERVE - this.have, true);
    q.submit(0);
    q.enableInterrupts();
    q.kick();
    this.posted = true;
  }

  /** Takes a completed request, if any (the device may fill less than asked). */
  private collect(): void {
    const q = this.q!;
    while (q.pop()) {
      this.posted = false;
      const got = q.lenValid ? q.len : 0;
      if (got == 0) continue;
      // The device wrote `got` bytes at the start of the free part; move them
      // next to the bytes still held, which sit at the end of the reserve.
      const room = RESERVE - this.have;
      memory.copy(this.buf + room - got, this.buf, got);
      this.have += got;
      this.delivered += got;
    }
  }

  /** Copies up to `len` bytes the device already delivered; returns how many. */
  take(ptr: usize, len: u32): u32 {
    if (!this.running) return 0;
    this.collect();
    const n = min(len, this.have);
    if (n > 0) {
      memory.copy(ptr, this.buf + (RESERVE - this.have), n);
      memory.fill(this.buf + (RESERVE - this.have), 0, n); // read once, never again
      this.have -= n;
    }
    this.post();
    return n;
  }

  /**
   * Fills `len` bytes at `ptr` from the device, waiting up to `timeoutNs`
   * for it. Returns how many bytes came from the device.
   */
  read(ptr: usize, len: u32, timeoutNs: u64 = 100_000_000): u32 {
    let done = this.take(ptr, len);
    if (!this.running) return done;
    const deadline = clock_ns() + timeoutNs;
    while (done < len) {
      const now = clock_ns();
      if (now >= deadline) {
        this.timeouts++;
        break;
      }
      const step = now + 1_000_000;
      let lines = wait(step < deadline ? step : deadline);
      while (lines) {
        irq_unmask(<u32>ctz(lines));
        lines &= lines - 1;
      }
      if (this.transport.line >= 0) this.transport.ackInterrupt();
      done += this.take(ptr + done, len - done);
    }
    return done;
  }

  /** Interrupt: collects and re-posts, keeping the reserve full. */
  handle(): bool {
    this.transport.ackInterrupt();
    if (!this.running) return false;
    this.collect();
    this.post();
    return false;
  }
}

let defaultRng: VirtioRng | null = null;

/** Makes `rng` the source of `randomBytes`. */
export function setDefaultRng(rng: VirtioRng | null): void {
  defaultRng = rng;
}

/**
 * Fills `len` bytes with entropy: the virtio-rng device's reserve first,
 * then hal.entropy for the rest (never waits). Returns how many bytes came
 * from the device.
 */
export function randomBytes(ptr: usize, len: u32): u32 {
  const r = defaultRng;
  let n: u32 = 0;
  if (r) n = r.take(ptr, len);
  if (n < len) entropy(ptr + n, len - n);
  return n;
}
