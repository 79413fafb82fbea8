// The package's TypeScript API: public entry -> its source. The package.json
// "exports" map names the same entries; tools/package-build.ts builds them,
// tests/typecheck.test.ts checks their types.
export const PUBLIC_ENTRIES: Record<string, string> = {
  build: "tools/api/build.ts",
  qemu: "tools/api/qemu.ts",
  sim: "host/sim/index.ts",
};

/**
 * Modules the package runs but nobody imports: built into dist/ beside the
 * public entries, with no export and no declarations. The experiment
 * runner's worker thread (host/sim/pool.ts looks for it next to itself), so
 * an installed package starts its workers without bundling at run time,
 * which would write into the package's folder.
 */
export const INTERNAL_ENTRIES: Record<string, string> = {
  "sim-worker": "host/sim/worker.ts",
};
