// The package's TypeScript API: public entry -> its source. The package.json
// "exports" map names the same entries; tools/package-build.ts builds them,
// tests/typecheck.test.ts checks their types.
export const PUBLIC_ENTRIES: Record<string, string> = {
  build: "tools/api/build.ts",
  qemu: "tools/api/qemu.ts",
  sim: "host/sim/index.ts",
};
