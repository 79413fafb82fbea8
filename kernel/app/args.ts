// Typed command-line arguments: `key=value` words of the kernel command line
// (`--append` on boot and node, `cmdline` in uniwasm.json). A value that does
// not parse ends the app before it runs, with an error naming the argument
// and the value ("error: argument buf=12k: expected a whole number
// 0..4294967295"); the call returns the default so set-up code carries on
// without checks.

import { cmdlineValue, parseWhole, NOT_WHOLE } from "../cmdline";
import { parseIp, parsedIp } from "../net/wire/bytes";
import { Kernel } from "./kernel";

/** An address and port, from `args.endpoint` ("10.0.2.2:7"). */
export class Endpoint {
  constructor(public ip: u32, public port: u32) {}
}

// The namespace's functions are named after the types they return, which
// hides those types inside it: these names reach them.
type U32 = u32;
type U64 = u64;
type Bool = bool;

export namespace args {
  /** The first bad argument's message ("" when all were fine). */
  export let error: string = "";

  /** Whether `name=` is on the command line. */
  export function has(name: string): Bool {
    return cmdlineValue(name) != null;
  }

  /** The text of `name=`, or `def`. */
  export function str(name: string, def: string = ""): string {
    const v = cmdlineValue(name);
    return v != null ? v : def;
  }

  /** One of `choices` (`def` when absent). */
  export function oneOf(name: string, choices: string[], def: string): string {
    const v = cmdlineValue(name);
    if (v == null) return def;
    if (choices.includes(v)) return v;
    bad(name, v, "expected one of " + choices.join(", "));
    return def;
  }

  /** A whole number 0..2^32-1 (decimal, or 0x hex). */
  export function u32(name: string, def: U32): U32 {
    const v = cmdlineValue(name);
    if (v == null) return def;
    const n = parseWhole(v);
    if (n == NOT_WHOLE || n > 0xffff_ffff) {
      bad(name, v, "expected a whole number 0..4294967295");
      return def;
    }
    return <U32>(n & 0xffff_ffff);
  }

  /** A whole number 0..2^64-2 (decimal, or 0x hex). */
  export function u64(name: string, def: U64): U64 {
    const v = cmdlineValue(name);
    if (v == null) return def;
    const n = parseWhole(v);
    if (n == NOT_WHOLE) {
      bad(name, v, "expected a whole number");
      return def;
    }
    return n;
  }

  /** `1/0`, `true/false`, `yes/no`, `on/off`. */
  export function bool(name: string, def: Bool): Bool {
    const v = cmdlineValue(name);
    if (v == null) return def;
    if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
    if (v == "0" || v == "false" || v == "no" || v == "off") return false;
    bad(name, v, "expected 1/0, true/false, yes/no or on/off");
    return def;
  }

  /** An IPv4 address ("10.0.2.2"), host order; `def` (0: none) when absent. */
  export function ip(name: string, def: U32 = 0): U32 {
    const v = cmdlineValue(name);
    if (v == null) return def;
    if (!parseIp(v)) {
      bad(name, v, "expected an IPv4 address like 10.0.2.2");
      return def;
    }
    return parsedIp;
  }

  /** An address and port ("10.0.2.2:7"); null when absent or bad. */
  export function endpoint(name: string): Endpoint | null {
    const v = cmdlineValue(name);
    if (v == null) return null;
    const colon = v.lastIndexOf(":");
    const port = colon > 0 ? parseWhole(v.substring(colon + 1)) : NOT_WHOLE;
    if (colon <= 0 || !parseIp(v.substring(0, colon)) || port == 0 || port > 65535) {
      bad(name, v, "expected <ipv4>:<port> like 10.0.2.2:7");
      return null;
    }
    return new Endpoint(parsedIp, <U32>port);
  }

  /** Records and reports a bad argument; the app ends before it runs (exit code 2). */
  function bad(name: string, value: string, why: string): void {
    const msg = "argument " + name + "=" + value + ": " + why;
    if (error.length == 0) error = msg;
    Kernel.fail(msg, 2);
  }
}
