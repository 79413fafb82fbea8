// The kernel command line as `key=value` words: read once through the HAL,
// whatever its length, and looked up by key. Device discovery
// (virtio_mmio.device=), network configuration (ip=, gw=, dns=) and apps'
// own settings all read it through here.

import { cmdline } from "./hal";

let cached: string | null = null;

/** The whole command line (allocates once, on the first call). */
export function commandLine(): string {
  if (cached == null) {
    let cap: u32 = 1024;
    let buf = heap.alloc(cap);
    let n = cmdline(buf, cap);
    if (n > cap) {
      // hal.cmdline reports the full length: read again with room for it
      heap.free(buf);
      cap = n;
      buf = heap.alloc(cap);
      n = min(cmdline(buf, cap), cap);
    }
    cached = String.UTF8.decodeUnsafe(buf, n, false);
    heap.free(buf);
  }
  return cached!;
}

/** The value of `key=` in `line` (the kernel's own by default), or null if absent. */
export function cmdlineValue(key: string, line: string | null = null): string | null {
  const words = (line != null ? line : commandLine()).split(" ");
  const prefix = key + "=";
  for (let i = 0; i < words.length; i++) if (words[i].startsWith(prefix)) return words[i].substring(prefix.length);
  return null;
}

/** The value of `key=` on the kernel command line, or `def`. */
export function cmdlineArg(key: string, def: string): string {
  const v = cmdlineValue(key);
  return v != null ? v : def;
}
