import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts", "kernel/**/*.test.ts", "host/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // QEMU tests are CPU-bound under TCG: two cores, two workers.
    maxWorkers: 2,
    reporters: ["default", "./tests/helpers/summary-reporter.ts"],
    minWorkers: 1,
  },
});
