// A benchmark's `--name=value` options, as bench/run.ts has checked them
// against the benchmark's table (so a value read here is of the right kind).

/** The value of `--name=...` in `flags`, or undefined. */
export function value(flags: string[], name: string): string | undefined {
  return flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** The number given as `--name=<n>`, or `def`. */
export function flag(flags: string[], name: string, def: number): number {
  const v = value(flags, name);
  return v === undefined ? def : Number(v);
}
