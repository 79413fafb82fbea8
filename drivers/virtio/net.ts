// The virtio-net driver (virtio 1.2, 5.1), implementing NetDevice.
//
// Zero copy both ways: a packet buffer's headroom holds the 12-byte
// virtio_net_hdr right before the frame, so each frame is one descriptor,
// receive buffers are posted straight from the packet pool, and a transmitted
// buffer goes back to the pool when the device returns it.
//
// Queues: 0 receive, 1 transmit (no multiqueue, no control queue). With
// MRG_RXBUF a frame could span buffers; ours hold any frame the MTU allows,
// so a multi-buffer frame is over-size: it is dropped and every buffer of it
// reclaimed. Checksums: CSUM lets the device finish transmit checksums;
// without it the driver does it in software, so the stack's contract is the
// same either way. GUEST_CSUM lets the device hand us frames with a partial
// checksum (host-local traffic); the driver completes those, so the stack
// only ever sees complete checksums, some marked already verified.
//
// Segmentation offload: with HOST_TSO4 (offered by QEMU when its backend,
// a TAP device with a vnet header, takes it; never by user networking) the
// stack may hand one TCP/IPv4 frame of up to 64 KiB per descriptor chain,
// which the device cuts into MSS-sized segments (NetCaps.TSO4). Those frames
// live in a small pool of large buffers (kernel/mem/largebuf.ts) owned here;
// when all are in flight `largeBuffer` says 0 and the stack sends ordinary
// frames, so the pool bounds memory, not what can be sent.

import { entropy, mem_limit } from "../../kernel/hal";
import { PacketPool, PoolReclaimer, PKT_BUF_SIZE, PKT_HEADROOM, PKT_MAX_FRAME } from "../../kernel/mem/pktbuf";
import { LargeBufferPool, LARGE_BUF_SIZE, LARGE_MAX_FRAME } from "../../kernel/mem/largebuf";
import { NetDevice, NetCaps, RxFlags, TxResult, NET_POLL_BUDGET } from "../../kernel/net/device";
import { sum16, fold } from "../../kernel/net/wire/checksum";
import { put16 } from "../../kernel/net/wire/bytes";
import { print, println, printU64, reportable } from "../../kernel/console";
import { VirtioTransport, InitResult, negotiate, finishInit, failInit, F_EVENT_IDX, ISR_CONFIG } from "./transport";
import { Virtqueue } from "./virtqueue";

export const NET_F_CSUM: u64 = 1 << 0;
export const NET_F_GUEST_CSUM: u64 = 1 << 1;
export const NET_F_MTU: u64 = 1 << 3;
export const NET_F_MAC: u64 = 1 << 5;
export const NET_F_HOST_TSO4: u64 = 1 << 11;
export const NET_F_MRG_RXBUF: u64 = 1 << 15;
export const NET_F_STATUS: u64 = 1 << 16;

/** What this driver can use, offered to every device (it takes the intersection). */
export const NET_WANTED: u64 = NET_F_CSUM | NET_F_GUEST_CSUM | NET_F_MTU | NET_F_MAC | NET_F_HOST_TSO4 | NET_F_MRG_RXBUF | NET_F_STATUS | F_EVENT_IDX;

/** Most large transmit buffers a device with HOST_TSO4 gets by default (64 KiB each; see largeBuffersFor). */
export const NET_LARGE_BUFFERS: u32 = 8;

/**
 * Large buffers for a machine of `mem` bytes: at most a thirty-second of it
 * (8 MiB: 3, 16 MiB: 7, 32 MiB and up: 8), so offload never takes the memory
 * a small server needs; 0 below 2 MiB, where HOST_TSO4 is not negotiated.
 */
export function largeBuffersFor(mem: u64): u32 {
  return <u32>min<u64>(mem / 32 / <u64>LARGE_BUF_SIZE, <u64>NET_LARGE_BUFFERS);
}
/** Most receive buffers posted by default. */
export const NET_RX_QUEUE: u32 = 128;

/**
 * The receive queue's size for a packet pool of `capacity` buffers: every
 * slot holds a posted buffer, so at most a quarter of the pool (and
 * NET_RX_QUEUE), leaving the rest for frames being sent (the device holds
 * them until done, a hundred and more on a loaded host) and received frames
 * the stack still holds. A frame that finds no receive buffer waits in the
 * host's queue; one that finds no buffer to be sent from is lost, and costs
 * a retransmission time-out.
 */
export function rxQueueFor(capacity: u32): u32 {
  return max<u32>(1, min<u32>(NET_RX_QUEUE, capacity / 4));
}
/** The largest frame handed to the device for segmentation: an Ethernet header and the largest IPv4 packet. */
const GSO_MAX_FRAME: u32 = 14 + 65535;

const HDR: u32 = 12; // virtio_net_hdr with num_buffers (always, under VERSION_1)
const HDR_F_NEEDS_CSUM: u8 = 1;
const HDR_F_DATA_VALID: u8 = 2;
const HDR_GSO_TCPV4: u8 = 1;
const STATUS_LINK_UP: u32 = 1;
const ETH_HLEN: u32 = 14;

/** Most ISR reads per interrupt (handleInterrupt). */
const ISR_ROUNDS: i32 = 4;

const RX_QUEUE: u32 = 0;
const TX_QUEUE: u32 = 1;

let nextUnit: i32 = 0;

/** The pool's way back to a driver's completed transmissions. */
class TxReclaimer extends PoolReclaimer {
  constructor(readonly dev: VirtioNet) {
    super();
  }
  reclaim(): void {
    this.dev.reclaimForPool();
  }
}

export class VirtioNet extends NetDevice {
  /** Negotiated feature bits. */
  features: u64 = 0;
  /** Offered feature bits. */
  offered: u64 = 0;
  /** Why `init` failed. */
  result: InitResult = InitResult.Ok;
  running: bool = false;
  rx: Virtqueue | null = null;
  tx: Virtqueue | null = null;
  /** Flush automatically once this many frames are queued. */
  txBatch: u32 = 32;
  /** Large transmit buffers to set up when HOST_TSO4 is negotiated (0..32, set before `init`; 0: HOST_TSO4 is not negotiated). */
  largeBuffers: u32 = largeBuffersFor(mem_limit());
  /** The large buffers, with TSO. */
  large: LargeBufferPool | null = null;
  /** Buffers of a multi-buffer frame still to discard. */
  private rxSkip: u32 = 0;
  private link: bool = true;
  private polling: bool = false;
  private scratch: StaticArray<u64> = new StaticArray<u64>(1);

  constructor(readonly transport: VirtioTransport, pool: PacketPool) {
    super(pool);
    this.name = "virtio-net" + nextUnit.toString();
    nextUnit++;
    this.line = transport.line;
  }

  /**
   * The initialisation handshake, queue setup and the first receive
   * buffers. `wanted` lets a caller (a test) offer fewer features than the
   * driver supports. `rxWant`/`txWant` cap the queue sizes; the receive
   * queue's default is `rxQueueFor(pool)`.
   */
  init(wanted: u64 = NET_WANTED, rxWant: u32 = 0, txWant: u32 = 256): InitResult {
    if (rxWant == 0) rxWant = rxQueueFor(this.pool.capacity);
    const t = this.transport;
    this.offered = t.deviceFeatures();
    let want = wanted & NET_WANTED;
    // 5.1.3.1: HOST_TSO4 needs CSUM; a device offering one without the other gets neither used.
    if ((want & this.offered & NET_F_CSUM) == 0 || this.largeBuffers == 0) want &= ~NET_F_HOST_TSO4;
    const r = negotiate(t, want, this.scratch);
    if (r != InitResult.Ok) {
      this.result = r;
      return r;
    }
    const f = this.scratch[0];
    this.features = f;
    const ev = (f & F_EVENT_IDX) != 0;
    const rx = Virtqueue.create(t, RX_QUEUE, rxWant, ev);
    const tx = rx ? Virtqueue.create(t, TX_QUEUE, txWant, ev) : null;
    if (!rx || !tx) {
      failInit(t);
      this.result = InitResult.QueueFailed;
      return this.result;
    }
    this.rx = rx;
    this.tx = tx;
    if (this.pool.reclaimer == null) this.pool.reclaimer = new TxReclaimer(this);
    this.readConfig();
    if (f & NET_F_CSUM) this.caps |= NetCaps.TX_CSUM;
    if (f & NET_F_GUEST_CSUM) this.caps |= NetCaps.RX_CSUM;
    if (f & NET_F_HOST_TSO4) {
      this.large = new LargeBufferPool(min<u32>(this.largeBuffers, 32));
      this.caps |= NetCaps.TSO4;
      this.largeMax = min<u32>(GSO_MAX_FRAME, LARGE_MAX_FRAME);
    }
    // Receive buffers may be made available before DRIVER_OK (3.1.1 step 7).
    this.refill();
    tx.disableInterrupts(); // completions are reclaimed on the way in; see transmit
    finishInit(t);
    this.running = true;
    rx.kick();
    rx.enableInterrupts();
    return InitResult.Ok;
  }

  /** MAC, MTU and link, read consistently against the config generation. */
  private readConfig(): void {
    const t = this.transport;
    const f = this.features;
    const mac = this.mac;
    for (let tries = 0; tries < 16; tries++) {
      const gen = t.configGeneration();
      if (f & NET_F_MAC) for (let i = 0; i < 6; i++) mac[i] = <u8>t.config8(<u32>i);
      if (f & NET_F_STATUS) this.link = (t.config16(6) & STATUS_LINK_UP) != 0;
      if (f & NET_F_MTU) {
        const m = t.config16(10);
        if (m >= 68 && m <= PKT_MAX_FRAME - ETH_HLEN) this.mtu = m;
      }
      if (t.configGeneration() == gen) break;
    }
    if ((f & NET_F_MAC) == 0) {
      // No MAC from the device: a random, locally administered unicast one.
      entropy(changetype<usize>(mac), 6);
      mac[0] = (mac[0] & 0xfe) | 0x02;
    }
    if ((f & NET_F_STATUS) == 0) this.link = true;
  }

  linkUp(): bool {
    return this.link;
  }

  // ---- receive ----

  /** Posts packet buffers until the receive ring or the pool runs out. */
  private refill(): u32 {
    const rx = this.rx!;
    const pool = this.pool;
    let n: u32 = 0;
    while (rx.numFree > 0) {
      const buf = pool.alloc();
      if (buf == 0) {
        this.stats.rxNoBuffer++;
        break;
      }
      rx.begin(1);
      rx.push(pool.dma(buf, PKT_HEADROOM - HDR), PKT_BUF_SIZE - PKT_HEADROOM + HDR, true);
      rx.submit(<u32>buf);
      n++;
    }
    return n;
  }

  poll(budget: i32): i32 {
    if (!this.running) return 0;
    this.reclaimTx();
    const rx = this.rx!;
    let delivered = 0;
    for (;;) {
      while (delivered < budget && rx.pop()) {
        if (this.receiveOne(<usize>rx.cookie, rx.len, rx.lenValid)) delivered++;
      }
      if (this.refill() > 0) rx.kick();
      if (delivered >= budget || this.polling) break; // more may wait: the caller polls again
      if (!rx.enableInterrupts()) break;
    }
    this.flush();
    return delivered;
  }

  /** Handles one used receive buffer; true if a frame went to the receiver. */
  private receiveOne(buf: usize, len: u32, lenValid: bool): bool {
    const st = this.stats;
    const pool = this.pool;
    if (this.rxSkip > 0) {
      this.rxSkip--;
      pool.free(buf);
      return false;
    }
    if (!lenValid || len < HDR + ETH_HLEN) {
      st.rxDropped++;
      pool.free(buf);
      return false;
    }
    const hdr = buf + PKT_HEADROOM - HDR;
    if (this.features & NET_F_MRG_RXBUF) {
      const nb = <u32>load<u16>(hdr, 10);
      if (nb > 1) {
        // Larger than one buffer, so larger than anything the MTU allows.
        this.rxSkip = min(nb - 1, this.rx!.size);
        st.rxDropped++;
        pool.free(buf);
        return false;
      }
    }
    const frameLen = len - HDR;
    const frame = buf + PKT_HEADROOM;
    let flags: u32 = 0;
    const hf = load<u8>(hdr);
    if (hf & HDR_F_NEEDS_CSUM) {
      const start = <u32>load<u16>(hdr, 6);
      const off = <u32>load<u16>(hdr, 8);
      if (start + off + 2 > frameLen) {
        st.rxDropped++;
        pool.free(buf);
        return false;
      }
      finishChecksum(frame, frameLen, start, off);
      flags |= RxFlags.CSUM_VALID;
    } else if (hf & HDR_F_DATA_VALID) flags |= RxFlags.CSUM_VALID;
    const r = this.receiver;
    if (!r) {
      st.rxDropped++;
      pool.free(buf);
      return false;
    }
    st.rxPackets++;
    st.rxBytes += frameLen;
    r.receive(this, buf, frameLen, flags);
    return true;
  }

  // ---- transmit ----

  /**
   * For the pool, when it is empty: publishes what is queued (the device may
   * finish some of it while we look) and collects what the device is done
   * with. If that frees nothing, the next completion interrupts: whoever
   * held output back for want of a buffer (PoolWaiter) must hear of the
   * first one to return even when nothing is being received.
   */
  reclaimForPool(): void {
    if (!this.running) return;
    this.flush();
    this.reclaimTx();
    const tx = this.tx!;
    if (this.pool.available == 0 && tx.inFlight > 0 && tx.enableInterrupts()) this.reclaimTx();
  }

  /** Returns completed transmit buffers to their pools (packet or large). */
  private reclaimTx(): void {
    const tx = this.tx!;
    const pool = this.pool;
    const large = this.large;
    while (tx.pop()) {
      const b = <usize>tx.cookie;
      if (large && large.contains(b)) large.free(b);
      else pool.free(b);
    }
    tx.disableInterrupts(); // a Full transmit turns them on for one batch
  }

  /** Whether the transmit ring has a free descriptor, reclaiming completions (and asking for one interrupt) if not. */
  private txRoom(): bool {
    const tx = this.tx!;
    if (tx.numFree == 0) this.reclaimTx();
    if (tx.numFree == 0) {
      this.stats.txFull++;
      this.flush();
      // One interrupt when most of the ring has drained, not one per frame.
      if (tx.enableInterruptsDelayed()) this.reclaimTx();
      if (tx.numFree == 0) return false;
    }
    return true;
  }

  /** Puts the header-and-frame of `buf` in the ring as one descriptor. */
  private queueTx(buf: usize, len: u32, hdrDma: u64): void {
    const tx = this.tx!;
    tx.begin(1);
    tx.push(hdrDma, len + HDR, false);
    tx.submit(<u32>buf);
    this.stats.txPackets++;
    this.stats.txBytes += len;
    if (tx.unpublished >= this.txBatch) this.flush();
  }

  largeBuffer(): usize {
    const large = this.large;
    if (!large || !this.running) return 0;
    let b = large.alloc();
    if (b == 0) {
      this.reclaimTx();
      b = large.alloc();
      if (b == 0) this.stats.txLargeBusy++;
    }
    return b;
  }

  releaseLarge(buf: usize): void {
    const large = this.large;
    if (large) large.free(buf);
  }

  transmitLarge(buf: usize, len: u32, hdrLen: u32, csumStart: u32, csumOffset: u32, mss: u32): TxResult {
    const large = this.large;
    if (!this.running || !this.link || !large) return TxResult.Down;
    if (!large.contains(buf) || len > this.largeMax || hdrLen < ETH_HLEN + 40 || hdrLen > len) return TxResult.BadLength;
    if (csumStart < ETH_HLEN + 20 || csumStart + csumOffset + 2 > hdrLen || mss == 0 || mss > 65535) return TxResult.BadLength;
    if (!this.txRoom()) return TxResult.Full;
    const hdr = buf + PKT_HEADROOM - HDR;
    // virtio_net_hdr (5.1.6): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers.
    const segmented = len - hdrLen > mss;
    store<u8>(hdr, HDR_F_NEEDS_CSUM);
    store<u8>(hdr, segmented ? HDR_GSO_TCPV4 : 0, 1);
    store<u16>(hdr, <u16>hdrLen, 2);
    store<u16>(hdr, <u16>(segmented ? mss : 0), 4);
    store<u16>(hdr, <u16>csumStart, 6);
    store<u16>(hdr, <u16>csumOffset, 8);
    store<u16>(hdr, 0, 10);
    if (segmented) this.stats.txLarge++;
    this.queueTx(buf, len, large.dma(hdr));
    return TxResult.Ok;
  }

  transmit(buf: usize, len: u32, csumStart: u32, csumOffset: u32): TxResult {
    if (!this.running || !this.link) return TxResult.Down;
    if (len < ETH_HLEN || len > this.mtu + ETH_HLEN || len > PKT_MAX_FRAME) return TxResult.BadLength;
    if (!this.txRoom()) return TxResult.Full;
    const hdr = buf + PKT_HEADROOM - HDR;
    store<u64>(hdr, 0);
    store<u32>(hdr, 0, 8);
    const frame = buf + PKT_HEADROOM;
    if (csumStart != 0) {
      if (csumStart + csumOffset + 2 > len) return TxResult.BadLength;
      if (this.caps & NetCaps.TX_CSUM) {
        store<u8>(hdr, HDR_F_NEEDS_CSUM);
        store<u16>(hdr, <u16>csumStart, 6);
        store<u16>(hdr, <u16>csumOffset, 8);
      } else {
        finishChecksum(frame, len, csumStart, csumOffset);
        this.stats.txSwCsum++;
      }
    }
    this.queueTx(buf, len, this.pool.dma(hdr));
    return TxResult.Ok;
  }

  flush(): void {
    const tx = this.tx;
    if (!tx || tx.unpublished == 0) return;
    if (tx.kick()) this.stats.txKicks++;
  }

  /**
   * Polling mode: the device is asked not to interrupt for received frames
   * (a hint it may ignore) and the caller runs `poll` on its own schedule.
   */
  setPolling(on: bool): void {
    this.polling = on;
    const rx = this.rx;
    if (!rx) return;
    if (on) rx.disableInterrupts();
    else rx.enableInterrupts();
  }

  /**
   * Services the device until its ISR says nothing more is pending (at most
   * a few rounds): work the device completed while the rings were being
   * drained raises the ISR again, and catching it here, before the line is
   * unmasked, does not depend on how the platform triggers the line.
   */
  handleInterrupt(): bool {
    this.stats.interrupts++;
    // Read the ISR again until it says nothing is pending (a few rounds at
    // most), so the line is quiet when it is unmasked: an edge raised while
    // it was masked would be lost, however the platform triggers the line.
    // The rounds share one budget; when it is spent, the caller comes back.
    let left = NET_POLL_BUDGET;
    let isr = this.transport.ackInterrupt();
    for (let round = 1; ; round++) {
      if (isr & ISR_CONFIG) this.readConfig();
      const n = this.poll(left);
      if (n >= left) return true;
      left -= n;
      if (round == ISR_ROUNDS) break;
      isr = this.transport.ackInterrupt();
      if (isr == 0) break;
    }
    return false;
  }



  /**
   * Whether the driver has work an interrupt would have started, from memory
   * only: a received frame; or a receive ring short of buffers while some
   * could be posted (free in the pool, or sent frames waiting to be
   * collected). The interrupt watchdog (irq.ts) asks; a polling driver is
   * never waiting. The second case is the one nothing else ends: a refill
   * that found the pool empty (every spare buffer a frame being sent or held
   * by the stack) leaves the ring short, and a ring that runs dry brings no
   * frame, so no interrupt and no poll, even once the buffers come back.
   * Transmit completions alone are left out while the pool has buffers:
   * their interrupts are off, or asked for only once most of a full ring
   * has drained, so used entries there wait by design, and the next
   * transmit reclaims them. With the pool empty they are the buffers a
   * sender holding output back waits for (reclaimForPool asked for their
   * interrupt), so they count.
   */
  completionsWaiting(): bool {
    if (!this.running || this.polling) return false;
    const rx = this.rx!;
    if (rx.hasUsed()) return true;
    if (this.pool.available == 0) return this.tx!.hasUsed();
    return rx.numFree > 0;
  }

  /**
   * Notifies the device again for each queue it sleeps on although chains
   * are published (Virtqueue.stalled: a notification lost to a hypervisor's
   * reordering). The interrupt watchdog calls it once a period; returns how
   * many queues it notified.
   */
  renotifyStalled(): u32 {
    if (!this.running) return 0;
    let n: u32 = 0;
    // The receive queue is notified silently: from memory, a device that
    // ran out of buffers and never heard of the refill looks the same as one
    // that heard and has had no frame since, so most of these are not losses.
    const rx = this.rx!;
    if (rx.stalled()) {
      rx.renotify();
      n++;
    }
    // Sent frames the device sits on a whole period are a loss.
    const tx = this.tx!;
    if (tx.stalled()) {
      tx.renotify();
      this.stats.txKicks++;
      n++;
      const k = tx.stats.renotified;
      if (reportable(k)) {
        print(this.name + ": the device sat a watchdog period on ");
        printU64(<u64>tx.inFlight);
        print(" transmit buffers, waiting for a notification that never came; notified again (");
        printU64(k);
        println(k == 1 ? " time)" : " times)");
      }
    }
    return n;
  }

  /** Counters of device misbehaviour across both queues. */
  badCompletions(): u64 {
    let n: u64 = 0;
    const rx = this.rx;
    const tx = this.tx;
    if (rx) n += rx.stats.badId + rx.stats.notInFlight + rx.stats.badLen + rx.stats.badUsedIdx;
    if (tx) n += tx.stats.badId + tx.stats.notInFlight + tx.stats.badLen + tx.stats.badUsedIdx;
    this.stats.badCompletions = n;
    return n;
  }
}

/**
 * Completes a partial checksum: the 16-bit field at `start + off` holds the
 * pseudo-header sum; the one's-complement of the sum of [start, len) goes
 * there (RFC 1071). A UDP result of 0 is sent as 0xffff (RFC 768).
 */
export function finishChecksum(frame: usize, len: u32, start: u32, off: u32): void {
  let c = fold(sum16(frame + start, len - start));
  if (c == 0 && off == 6) c = 0xffff;
  put16(frame + start + off, c);
}
