// The app examples in docs/*.md: every ```ts block whose first import is
// from exactly "uniwasm" (the package root, as an app imports it) is a
// complete app and must compile as written. Blocks importing by path
// ("uniwasm/kernel/...") or not at all are fragments and are left alone.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../tools/paths.ts";

export interface DocApp {
  /** "writing-an-app.md#2": the file and the block's position among its app blocks. */
  id: string;
  /** The block's first line (a comment naming the app, by convention). */
  title: string;
  source: string;
}

export function docApps(dir = join(ROOT, "docs")): DocApp[] {
  const out: DocApp[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".md")).sort()) {
    const text = readFileSync(join(dir, f), "utf8");
    let n = 0;
    for (const m of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
      const src = m[1];
      const firstImport = src.split("\n").find((l) => l.startsWith("import "));
      if (!firstImport || !/from "uniwasm";\s*$/.test(firstImport)) continue;
      out.push({ id: `${f}#${++n}`, title: src.split("\n")[0], source: src });
    }
  }
  return out;
}
