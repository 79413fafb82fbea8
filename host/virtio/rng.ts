// virtio-rng, the entropy device (device id 4; virtio 1.2, section 5.4): one
// queue (requestq) of device-writable buffers, which the device fills from
// the machine's seeded generator — the same bytes on every run of a seed.
// A device-readable descriptor on the queue is a driver error (5.4.6.1).

import type { Machine } from "../machine.ts";
import { VirtioDevice, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, bits, type VirtioDeviceOptions } from "./device.ts";
import type { VirtQueue } from "./queue.ts";

export const VIRTIO_ID_RNG = 4;

export const VIRTIO_RNG_DEFAULT_FEATURES = bits(VIRTIO_F_VERSION_1, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC);

export interface VirtioRngOptions extends VirtioDeviceOptions {
  /** Fill at most this many bytes per buffer (a real device may return fewer than asked). Default: all. */
  maxBytesPerRequest?: number;
}

export class VirtioRng extends VirtioDevice {
  readonly deviceId = VIRTIO_ID_RNG;
  readonly name = "virtio-rng";
  /** Bytes handed to the driver. */
  bytes = 0;
  private readonly chunk: number;

  constructor(machine: Machine, opts: VirtioRngOptions = {}) {
    super(machine, { features: VIRTIO_RNG_DEFAULT_FEATURES, queues: 1 }, opts);
    this.chunk = opts.maxBytesPerRequest ?? Infinity;
  }

  protected config(): Uint8Array {
    return new Uint8Array(0); // no device configuration
  }

  protected process(q: VirtQueue): void {
    for (;;) {
      const c = q.pop("writable");
      if (!c) break;
      const n = Math.min(c.writeLength, this.chunk);
      const data = new Uint8Array(n);
      this.machine.rng.fill(data);
      c.write(data);
      q.push(c, n);
      this.bytes += n;
    }
    if (this.needsReset) return;
    q.publishAvailEvent();
    this.usedBuffersPublished(q);
  }
}
