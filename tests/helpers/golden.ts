// Reference captures for refactoring: with UNIWASM_GOLDEN=<dir> in the
// environment, a simulation test writes what its kernels put on the wire
// (every port's transmitted frames, one pcap per simulated network) or
// printed (tests without a simulated network) into <dir>, named after the
// scenario's inputs. Comparing the hashes of two such directories says
// whether a change kept the stack's behaviour byte for byte. Without the
// variable these calls do nothing.

import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Network } from "../../host/netsim/index.ts";
import { PcapWriter } from "../../host/pcap.ts";

const dir = process.env.UNIWASM_GOLDEN;

function fileName(test: string, inputs: unknown, ext: string): string {
  const text = JSON.stringify(inputs, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
  const h = createHash("sha256").update(text).digest("hex").slice(0, 12);
  return join(dir!, `${test}-${h}.${ext}`);
}

/** Starts recording every frame sent on `net`'s ports (call once all ports exist); `save` writes the pcap. */
export function goldenCapture(test: string, inputs: unknown, net: Network): { save(): void } {
  if (!dir) return { save() {} };
  const w = new PcapWriter();
  for (const p of net.ports) p.tee(w, "tx");
  return {
    save() {
      mkdirSync(dir, { recursive: true });
      w.save(fileName(test, inputs, "pcap"));
    },
  };
}

/** Records a kernel's console output for a scenario with no simulated network. */
export function goldenOutput(test: string, inputs: unknown, output: string): void {
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(fileName(test, inputs, "txt"), output);
}
