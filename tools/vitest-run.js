// `uniwasm test` in a checkout: vitest's own command line, run in this
// process, with one difference: an option vitest does not know gets one
// line naming it as it was typed and saying where the options are listed,
// not the stack of the exception vitest's option parser throws.
import { fileURLToPath, pathToFileURL } from "node:url";
import { join } from "node:path";

const root = join(fileURLToPath(import.meta.url), "../..");

try {
  await import(pathToFileURL(join(root, "node_modules/vitest/dist/cli.js")).href);
} catch (e) {
  if (!(e instanceof Error) || e.name !== "CACError") throw e;
  // the parser names options camel-cased (--badOption): name the one typed (--bad-option)
  const camel = (o) => o.split("=")[0].replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  const named = /`([^`]+)`/.exec(e.message)?.[1];
  const typed = named && process.argv.slice(2).find((a) => camel(a) === camel(named));
  const what = named ? e.message.replace(`\`${named}\``, (typed ?? named).split("=")[0]) : e.message;
  process.stderr.write(`uniwasm: test: ${what.charAt(0).toLowerCase()}${what.slice(1)} (test's arguments go to vitest); see npx vitest --help\n`);
  process.exit(2);
}
