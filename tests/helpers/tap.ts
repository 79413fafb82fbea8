// A TAP device inside a network namespace the test creates and removes: the
// host side of a guest's link, isolated from the machine's own network. QEMU
// and the host-side clients (ping, Python) run inside the namespace.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Why TAP tests cannot run here, or undefined if they can. */
export function tapUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root";
  const ns = `uwprobe${process.pid}`;
  try {
    execFileSync("ip", ["netns", "add", ns], { stdio: "pipe" });
    execFileSync("ip", ["netns", "exec", ns, "ip", "tuntap", "add", "dev", "tap0", "mode", "tap"], { stdio: "pipe" });
    return undefined;
  } catch (e) {
    return `no network namespace with a TAP device: ${(e as Error).message.split("\n")[0]}`;
  } finally {
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "pipe" });
    } catch {}
  }
}

export class TapNet {
  readonly ns: string;
  readonly tap = "tap0";

  /** A namespace holding `tap0` with `hostCidr` (e.g. "10.77.0.1/24"), up. */
  constructor(name: string, readonly hostCidr: string) {
    this.ns = `uw${name}${process.pid}`;
    execFileSync("ip", ["netns", "add", this.ns]);
    this.exec(["ip", "link", "set", "lo", "up"]);
    this.exec(["ip", "tuntap", "add", "dev", this.tap, "mode", "tap"]);
    this.exec(["ip", "addr", "add", hostCidr, "dev", this.tap]);
    this.exec(["ip", "link", "set", this.tap, "up"]);
  }

  /** Runs a command in the namespace and returns its stdout. */
  exec(cmd: string[], timeoutMs = 30_000): string {
    return execFileSync("ip", ["netns", "exec", this.ns, ...cmd], { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
  }

  /** The same, without blocking the event loop (QEMU's output keeps flowing). */
  async execAsync(cmd: string[], timeoutMs = 60_000): Promise<string> {
    const r = await run("ip", ["netns", "exec", this.ns, ...cmd], { encoding: "utf8", timeout: timeoutMs });
    return r.stdout;
  }

  close(): void {
    execFileSync("ip", ["netns", "del", this.ns]);
  }
}
