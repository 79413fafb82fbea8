// Stage 1: AssemblyScript -> wasm, through the compiler's Node API. Every
// platform runs this same wasm, so the flags here are the kernel ABI: memory
// imported from the platform (so the platform decides how far it may grow),
// names kept for trap reports, no SIMD (wasm2c would need SIMDe for it), and
// the "minimal" runtime: a collector that runs only when the scheduler's loop
// asks (kernel/mem/gc.ts), so no shadow stack of GC roots.

import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "./errors.ts";
import { dependencyVersion, ROOT } from "./paths.ts";
import { ASYNCIFY_END } from "../host/asyncify.ts";

export interface AscOptions {
  /** The app's entry file. */
  entry: string;
  outWasm: string;
  outWat?: string;
  /** "minimal" (default: collected by the scheduler's loop, kernel/mem/gc.ts), "incremental" or "stub". */
  runtime?: string;
  optimizeLevel?: number;
  shrinkLevel?: number;
  /** Extra flags from the app's config. */
  extra?: string[];
  /** Size of the embedded files blob (tools/files.ts), placed at ASYNCIFY_END. */
  filesBytes?: number;
}

// The compiler pulls in binaryen (13 MB of JavaScript): load it only to compile.
const loadAsc = async () => (await import("assemblyscript/asc")).default;

/** The compiler's version, for cache keys: from its package.json, so a build that is cached never loads the compiler. */
export async function ascVersion(): Promise<string> {
  return dependencyVersion("assemblyscript");
}

/**
 * A folder holding `uniwasm` -> this package, given to asc as a package path,
 * so an app imports the kernel as `"uniwasm"` wherever the app lives (in this
 * repository, or in a project that depends on uniwasm).
 */
export function packagePath(): string {
  const dir = join(ROOT, "node_modules", ".cache", "uniwasm", "packages");
  const link = join(dir, "uniwasm");
  if (!existsSync(link)) {
    mkdirSync(dir, { recursive: true });
    try {
      symlinkSync(ROOT, link, "dir");
    } catch (e: any) {
      if (e.code !== "EEXIST") throw e;
    }
  }
  return dir;
}

export function ascArgs(o: AscOptions): string[] {
  const args = [
    o.entry,
    // every kernel exports its counters snapshot (kernel/counters-export.ts, read by host/counters.ts)
    join(ROOT, "kernel", "counters-export.ts"),
    "--path", packagePath(),
    "--outFile", o.outWasm,
    "--runtime", o.runtime ?? "minimal",
    "--optimizeLevel", String(o.optimizeLevel ?? 3),
    "--shrinkLevel", String(o.shrinkLevel ?? 0),
    "--importMemory",
    "--disable", "simd",
    "--debug",
    "--sourceMap", // <outFile>.map: function locations for trap reports and gdb (tools/source-map.ts)
    "--exportStart", "_initialize",
    // Low memory stays free for the simulation build's saved stacks
    // (host/machine.ts); the embedded files, if any, come next (tools/files.ts).
    "--memoryBase", String(ASYNCIFY_END + (((o.filesBytes ?? 0) + 15) & ~15)),
    "--use", `UNIWASM_FILES=${o.filesBytes ? ASYNCIFY_END : 0}`,
  ];
  if (o.outWat) args.push("--textFile", o.outWat);
  return args.concat(o.extra ?? []);
}

/** Compiles, or throws a UserError carrying the compiler's diagnostics. */
export async function compileAssemblyScript(o: AscOptions, label: string): Promise<void> {
  const asc = await loadAsc();
  let diagnostics = "";
  const stream = asc.createMemoryStream((chunk) => {
    diagnostics += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
  });
  const { error, stats } = await asc.main(ascArgs(o), { stdout: stream, stderr: stream });
  if (error) {
    const errors = (stats as { errorCount?: number } | undefined)?.errorCount ?? 0;
    throw new UserError(`${label} failed to compile${errors ? ` (${errors} error${errors > 1 ? "s" : ""})` : ""}:\n${diagnostics.trimEnd() || error.message}`);
  }
}
