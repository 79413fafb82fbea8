// The CLI as a running child: its output so far (stdout and stderr
// together), a wait for a line, its exit code once its output is all read.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../../tools/paths.ts";

export interface RunningCli {
  child: ChildProcess;
  out: () => string;
  /** Resolves once the output matches `re`; rejects, with the output, if the CLI ends first. */
  ready: (re: RegExp) => Promise<void>;
  /** The exit code, after the last of the output has been read ('close', not 'exit'). */
  exit: Promise<number | null>;
}

/** Starts `node tools/cli.js <args>` in `cwd` (what ./uniwasm runs, after its install check). */
export function startCli(args: string[], cwd = ROOT): RunningCli {
  const child = spawn(process.execPath, [join(ROOT, "tools/cli.js"), ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  const waiters: { re: RegExp; done: () => void }[] = [];
  const feed = (d: Buffer) => {
    text += d.toString();
    for (const w of waiters.splice(0)) (w.re.test(text) ? w.done : () => waiters.push(w))();
  };
  child.stdout!.on("data", feed);
  child.stderr!.on("data", feed);
  const exit = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return {
    child,
    out: () => text,
    exit,
    ready: (re) => new Promise((resolve, reject) => {
      if (re.test(text)) return resolve();
      waiters.push({ re, done: resolve });
      void exit.then(() => reject(new Error(`ended before ${re}:\n${text}`)));
    }),
  };
}
