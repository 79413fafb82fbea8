// Every app example in docs/ compiles as written (tests/helpers/docs.ts says
// which blocks are apps), and the ones docs present as the apps in apps/ are
// those files, line for line.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../tools/paths.ts";
import { docApps } from "./helpers/docs.ts";
import { buildSourceWasm } from "./helpers/kernel.ts";

const apps = docApps();

describe("the app examples in docs/", () => {
  it("finds the examples of writing-an-app.md, network.md and tcp.md", () => {
    const files = new Set(apps.map((a) => a.id.split("#")[0]));
    for (const f of ["writing-an-app.md", "network.md", "tcp.md"]) expect(files.has(f), f).toBe(true);
  });

  it("shows apps/hello and apps/echo as they are", () => {
    for (const name of ["hello", "echo"]) {
      const file = readFileSync(join(ROOT, "apps", name, "main.ts"), "utf8");
      expect(apps.some((a) => a.source === file), `apps/${name}/main.ts in docs/writing-an-app.md`).toBe(true);
    }
  });

  it("keeps the echo app within 25 lines and the key-value + HTTP + UDP demo within 70", () => {
    expect(readFileSync(join(ROOT, "apps/echo/main.ts"), "utf8").trimEnd().split("\n").length).toBeLessThanOrEqual(25);
    const demo = apps.find((a) => a.title.startsWith("// kv-http-udp:"));
    expect(demo).toBeDefined();
    expect(demo!.source.trimEnd().split("\n").length).toBeLessThanOrEqual(70);
  });

  it("has apps that import only from \"uniwasm\" and their own folder, so each copies into another project unchanged", () => {
    const bad: string[] = [];
    for (const app of readdirSync(join(ROOT, "apps"))) {
      for (const f of readdirSync(join(ROOT, "apps", app)).filter((n) => n.endsWith(".ts"))) {
        for (const m of readFileSync(join(ROOT, "apps", app, f), "utf8").matchAll(/^(?:import|export)[^;]*?from "([^"]+)"/gms)) {
          if (m[1] !== "uniwasm" && !/^\.\/[\w-]+$/.test(m[1])) bad.push(`apps/${app}/${f}: ${m[1]}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  for (const a of apps) {
    it(`compiles ${a.id}: ${a.title}`, async () => {
      const wasm = await buildSourceWasm("doc-" + a.id.replace(/[^\w]+/g, "-"), a.source);
      expect(wasm.length).toBeGreaterThan(0);
    }, 180_000);
  }
});
