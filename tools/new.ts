// `uniwasm new <dir>`: a project that depends on the uniwasm package, made
// from one of the shipped apps (apps/<template>/). A template is offered when
// its app is in this copy of uniwasm; TEMPLATES says how to talk to it (the
// port forward of the boot script, the README's client command, what the
// project's test sends and expects).

import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { UserError } from "./errors.ts";
import { packageVersion, ROOT } from "./paths.ts";

export interface Template {
  name: string;
  /** One line for the help. */
  summary: string;
  /** The guest's TCP port the boot script forwards (from 127.0.0.1:hostPort), if it serves one. */
  guestPort?: number;
  hostPort?: number;
  /** The README's command that talks to the booted app. */
  client?: string;
  /** What the project's test checks: bytes it sends, and text the answer must contain. */
  probe: { console: string } | { send: string; expect: string };
}

export const TEMPLATES: Template[] = [
  { name: "hello", summary: "prints the machine it was given, then exits", probe: { console: "goodbye" } },
  { name: "echo", summary: "TCP and UDP echo on port 7", guestPort: 7, hostPort: 7007, client: "nc 127.0.0.1 7007", probe: { send: "hello, echo\n", expect: "hello, echo\n" } },
  { name: "http", summary: "a static web site (the files in site/)", guestPort: 80, hostPort: 8080, client: "curl -i http://127.0.0.1:8080/", probe: { send: "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", expect: "HTTP/1.1 200" } },
  { name: "kv", summary: "a Redis-compatible key-value store", guestPort: 6379, hostPort: 6380, client: "redis-cli -p 6380 PING", probe: { send: "PING\r\n", expect: "+PONG" } },
];

/** The templates whose app ships in this copy of uniwasm. */
export function availableTemplates(): Template[] {
  return TEMPLATES.filter((t) => existsSync(join(ROOT, "apps", t.name, "main.ts")));
}

export function findTemplate(name: string): Template {
  const t = availableTemplates().find((x) => x.name === name);
  if (t) return t;
  const known = availableTemplates().map((x) => x.name);
  const planned = TEMPLATES.some((x) => x.name === name) ? ` (its app is not in uniwasm ${packageVersion()})` : "";
  throw new UserError(`--template ${name}: no such template${planned}; templates: ${known.join(", ")}`, 2);
}

export interface NewProject {
  dir: string;
  name: string;
  files: string[];
}

/**
 * How the nearest project above `dir` depends on uniwasm (a relative `file:`
 * made absolute), so that a project made from an installed package gets the
 * uniwasm its neighbour was installed from; undefined if none does.
 */
export function dependencyNear(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const file = join(d, "package.json");
    if (existsSync(file)) {
      let spec: unknown;
      try {
        spec = JSON.parse(readFileSync(file, "utf8")).dependencies?.uniwasm;
      } catch {
        spec = undefined; // not ours to judge: keep looking
      }
      if (typeof spec === "string") return spec.startsWith("file:") ? `file:${resolve(d, spec.slice(5))}` : spec;
    }
    if (dirname(d) === d) return undefined;
  }
}

/** Writes the project; refuses a folder that exists and is not empty. */
export function createProject(dirArg: string, template: Template, dependency = `^${packageVersion()}`): NewProject {
  const dir = resolve(dirArg);
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) {
    throw new UserError(`${dirArg} already exists and is not an empty folder; uniwasm new makes a new project`);
  }
  const name = basename(dir).toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[._-]+/, "") || "app";
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const write = (rel: string, text: string) => {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), text);
    files.push(rel);
  };

  // the app itself: the shipped app's files, with imports of the kernel by package name
  const src = join(ROOT, "apps", template.name);
  for (const rel of listFiles(src)) {
    if (rel.endsWith(".ts")) write(rel, packageImports(readFileSync(join(src, rel), "utf8"), join(src, rel)));
    else if (rel !== "uniwasm.json") {
      mkdirSync(join(dir, rel, ".."), { recursive: true });
      cpSync(join(src, rel), join(dir, rel));
      files.push(rel);
    }
  }
  const config = existsSync(join(src, "uniwasm.json")) ? JSON.parse(readFileSync(join(src, "uniwasm.json"), "utf8")) : {};
  if (template.guestPort && !config.cmdline) config.cmdline = "ip=dhcp";
  write("uniwasm.json", JSON.stringify(config, null, 2) + "\n");

  const rule = template.guestPort ? `tcp:127.0.0.1:${template.hostPort}-:${template.guestPort}` : undefined;
  const fwd = rule ? ` --hostfwd ${rule}` : " --net user";
  const pkg = {
    name,
    version: "0.1.0",
    private: true,
    type: "module",
    description: `A uniwasm unikernel (from the ${template.name} template)`,
    scripts: {
      image: "uniwasm image .",
      boot: `uniwasm boot .${fwd}`,
      // a server in simulation is reached the same way as under QEMU (the simulated
      // network's gateway forwards the port, on the real clock); alone it would
      // run through virtual time with nobody to answer
      sim: rule ? `uniwasm node . --hostfwd ${rule}` : "uniwasm node . --net sim",
      test: "uniwasm test",
    },
    dependencies: { uniwasm: dependency },
  };
  write("package.json", JSON.stringify(pkg, null, 2) + "\n");

  // the editor's view: AssemblyScript's types (i32, usize, changetype...) and the package's modules
  write(
    "tsconfig.json",
    JSON.stringify({ extends: "./node_modules/assemblyscript/std/assembly.json", include: ["./**/*.ts"], exclude: ["node_modules", "build"] }, null, 2) + "\n",
  );
  write(".gitignore", "node_modules/\nbuild/\n*.pcap\n");
  write("test/boot.test.mjs", testSource(template));
  write("README.md", readme(name, template));
  return { dir, name, files };
}

/** Relative imports that leave the app folder (the shipped apps reach the kernel as ../../kernel/...) become package imports. */
export function packageImports(source: string, file: string): string {
  return source.replace(/(from\s+|import\s+)"(\.\.\/\.\.\/[^"]+)"/g, (all, kw: string, spec: string) => {
    const target = relative(ROOT, resolve(file, "..", spec)).replace(/\\/g, "/");
    if (target.startsWith("..")) throw new UserError(`internal: ${file} imports ${spec}, outside the package`);
    return `${kw}"${target === "index" ? "uniwasm" : `uniwasm/${target}`}"`;
  });
}

function listFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

/** The project's test: builds the image, boots it under QEMU and talks to it (node:test, no other dependency). */
function testSource(t: Template): string {
  const probe = "console" in t.probe
    ? `  const r = await running;
  assert.equal(r.exitCode, 0, r.output);
  assert.ok(r.output.includes(${JSON.stringify(t.probe.console)}), r.output);`
    : `  try {
    // the answer, or the guest's end if it stops first (then with its console)
    const answer = await Promise.race([
      talk(port, ${JSON.stringify(t.probe.send)}, ${JSON.stringify(t.probe.expect)}, stop.signal),
      running.then((r) => \`the guest exited with code \${r.exitCode} before it answered\`),
    ]);
    assert.ok(answer.includes(${JSON.stringify(t.probe.expect)}), \`\${answer}\\n--- the guest's console:\\n\${output}\`);
  } finally {
    stop.abort();
    await running;
  }`;
  const net = t.guestPort
    ? `  // a free port, not the boot script's ${t.hostPort}: a boot of this app may be running and hold it
  const port = await freePort();
`
    : "";
  return `// Builds this app into an image, boots it under QEMU${t.guestPort ? ` with a loopback port forwarded to the guest's ${t.guestPort}` : ""}, and checks its answer.
// Run it with \`npm test\` (uniwasm test runs the files in test/ with node --test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer } from "node:net";
import { buildImage, loadApp } from "uniwasm/build";
import { boot } from "uniwasm/qemu";

const quiet = { stage() {}, info() {} };

/** Sends \`data\` and collects the answer until it contains \`expect\`; retried while the guest is still booting, until \`signal\` says stop. */
async function talk(port, data, expect, signal, deadline = Date.now() + 120_000) {
  for (;;) {
    const answer = await new Promise((resolve) => {
      let got = "";
      const s = connect(port, "127.0.0.1", () => s.write(data));
      s.setEncoding("utf8");
      s.setTimeout(3000, () => s.destroy());
      s.on("data", (d) => { got += d; if (got.includes(expect)) s.end(); });
      s.on("close", () => resolve(got));
      s.on("error", () => {});
    });
    if (answer.includes(expect) || signal.aborted || Date.now() > deadline) return answer;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A TCP port on loopback that nothing holds now. */
async function freePort() {
  const s = createServer();
  await new Promise((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

test(${JSON.stringify(`the ${t.name} app boots and answers`)}, { timeout: 600_000 }, async () => {
  const app = loadApp(".");
  const { image } = await buildImage(app, { arch: "x86_64", outDir: "build/test" }, quiet);
${net}  const stop = new AbortController();
  let output = "";
  const running = boot({
    arch: "x86_64", image, memory: app.config.memory, cmdline: app.config.cmdline,
    net: "user", hostfwd: [${t.guestPort ? `\`tcp:127.0.0.1:\${port}-:${t.guestPort}\`` : ""}],
    timeout: 300, signal: stop.signal, onOutput: (text) => { output += text; },
  });
${probe}
});
`;
}

function readme(name: string, t: Template): string {
  const talk = t.client
    ? `While it runs, talk to it from another terminal:

    ${t.client}

The boot script forwards 127.0.0.1:${t.hostPort} on this machine to the guest's port ${t.guestPort} (QEMU's user networking). Stop it with Ctrl-C.`
    : "It prints what it was given and exits with code 0.";
  return `# ${name}

A unikernel made with [uniwasm](https://www.npmjs.com/package/uniwasm) from the \`${t.name}\` template: ${t.summary}.
\`main.ts\` is the app (AssemblyScript; it imports the kernel from \`"uniwasm"\`), \`uniwasm.json\` its build and boot settings.

    npm install          # uniwasm and its compilers; the native tools come from Debian: npx uniwasm setup
    npm run boot         # builds the image and boots it under QEMU

${talk}

Other scripts:

    npm run image        # only build: build/${name}/x86_64/${name}.img
    npm run sim          # ${t.client ? `the same kernel in Node, on a simulated network with the same port forward: ${t.client} reaches it too` : "the same kernel in Node, on a simulated network"}
    npm test             # build, boot under QEMU and check the answer (test/boot.test.mjs)

Every command has its own help: \`npx uniwasm boot --help\`.
`;
}
