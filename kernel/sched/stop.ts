// Stop requests: the platform asking the kernel to end cleanly (the ACPI
// power button that `virsh shutdown` and QEMU's `system_powerdown` press,
// `Machine.requestStop()` in Node; hal.stop_line names the line).
//
// The scheduler listens from its first `run` on and calls its StopHandler
// once per request, from a task (never from an interrupt). The default
// handler ends the kernel at once with exit code 0 (the platform then powers
// off; the console says `exit code 0`). An app that wants to finish first
// (close connections, flush a log) installs its own with
// `Scheduler.onStopRequest(handler)`: it may stop the loop (`sched.stop()`
// and return from main), exit later with a code of its choice, or ignore
// the request. A second press calls the handler again.

import { exit } from "../hal";
import { println } from "../console";

export abstract class StopHandler {
  /** A stop was requested (the `n`-th since boot, from 1). */
  abstract onStopRequest(n: u32): void;
}

/** The default: a clean power-off, exit 0. */
export class ExitOnStop extends StopHandler {
  onStopRequest(n: u32): void {
    println("stop requested: exiting");
    exit(0);
  }
}
