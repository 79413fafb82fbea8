// A scripted endpoint: "a host" written in TypeScript that tests use to send
// and receive raw Ethernet frames on the simulated network.

import type { Network, Port } from "./network.ts";

export interface ReceivedFrame {
  /** Virtual time of arrival, ns. */
  at: bigint;
  frame: Uint8Array;
}

export class ScriptedHost {
  readonly port: Port;
  /** Every frame that arrived, in order. */
  readonly received: ReceivedFrame[] = [];
  /** Called for each arriving frame (after it is recorded); may send replies. */
  onFrame?: (frame: Uint8Array, at: bigint) => void;

  constructor(
    readonly network: Network,
    readonly name = "host",
    /** This host's MAC address (for tests that build frames from it). */
    readonly mac: Uint8Array = new Uint8Array([0x02, 0, 0, 0, 0, 0xfe]),
  ) {
    this.port = network.port(name);
    this.port.onReceive = (frame) => {
      const at = network.now();
      this.received.push({ at, frame });
      this.onFrame?.(frame, at);
    };
  }

  /** Sends a frame now. */
  send(frame: Uint8Array): void {
    this.port.send(frame);
  }

  /** Sends a frame at virtual time `at` (now, if that has passed). */
  sendAt(at: bigint, frame: Uint8Array): void {
    const copy = frame.slice();
    const now = this.network.now();
    this.network.events.schedule(at > now ? at : now, () => this.port.send(copy));
  }

  /** Returns and forgets the frames received so far. */
  take(): ReceivedFrame[] {
    return this.received.splice(0);
  }
}
