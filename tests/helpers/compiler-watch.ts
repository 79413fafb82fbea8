// Module hooks for a child Node process that name the compiler's packages
// (AssemblyScript, Binaryen) on stderr whenever the process resolves them:
// how a test sees that a run which builds nothing never loads the compiler.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** The line a watched process writes to stderr for each resolution of the compiler's packages. */
export const COMPILER_LOADED = "compiler loaded: ";

const HOOKS = `
import { writeSync } from "node:fs";
export async function resolve(spec, ctx, next) {
  const r = await next(spec, ctx);
  if (/\\/node_modules\\/(assemblyscript|binaryen)\\//.test(r.url)) writeSync(2, ${JSON.stringify(COMPILER_LOADED)} + spec + "\\n");
  return r;
}
`;

/** Writes the hooks into `dir`; returns Node's arguments that install them ("--import", file). */
export function watchCompiler(dir: string): string[] {
  writeFileSync(join(dir, "compiler-hooks.mjs"), HOOKS);
  writeFileSync(join(dir, "watch-compiler.mjs"), `import { register } from "node:module";\nregister("./compiler-hooks.mjs", import.meta.url);\n`);
  return ["--import", join(dir, "watch-compiler.mjs")];
}
