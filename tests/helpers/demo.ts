// The key-value + HTTP + UDP demo of docs/writing-an-app.md as a test app, and
// the host clients that drive its TCP services: the same clients against QEMU
// (tests/app-qemu.test.ts) and the Node platform (tests/app-node.test.ts).
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../../tools/paths.ts";
import { docApps } from "./docs.ts";

const run = promisify(execFile);
const py = async (code: string, ...argv: string[]) => (await run("python3", ["-c", code, ...argv], { timeout: 60_000 })).stdout.trim();

/** The demo's source from docs/writing-an-app.md, as an app folder. */
export function demoApp(): string {
  const demo = docApps().find((a) => a.title.startsWith("// kv-http-udp:"))!;
  const dir = join(ROOT, "build", "test-src", "kv-http-udp");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "main.ts"), demo.source);
  return dir;
}

const KEEPALIVE = `
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
out = []
for path in ["/greeting", "/nothing", "/greeting"]:
    c.request("GET", path)
    r = c.getresponse()
    out.append("%d:%s" % (r.status, r.read().decode().strip()))
    sock = c.sock
    if path == "/greeting" and len(out) == 1: first = sock
print("py_http=" + ",".join(out) + " same_socket=%d" % (c.sock is first))`;

/** The demo's TCP services driven from the host: nc against the key-value port, curl and Python keep-alive against HTTP. */
export async function demoTcpClients(kv: number, http: number): Promise<Record<string, string>> {
  const nc = (await run("sh", ["-c", `printf 'SET greeting hello there\\nGET greeting\\nGET nope\\nDEL nope\\nFROB x\\n' | nc -q 2 127.0.0.1 ${kv}`], { timeout: 30_000 })).stdout;
  const c = await run("curl", ["-sv", `http://127.0.0.1:${http}/greeting`, `http://127.0.0.1:${http}/greeting`, `http://127.0.0.1:${http}/missing`], { timeout: 30_000 });
  const reused = /Re-using existing (http: )?connection/i.test(c.stderr) ? "1" : "0";
  const connects = String((c.stderr.match(/Connected to /g) ?? []).length);
  return { nc, curl: c.stdout, reused, connects, py: await py(KEEPALIVE, String(http)) };
}

/** What demoTcpClients gets from a working demo. */
export const DEMO_TCP_ANSWERS = {
  nc: "OK\nhello there\nNOT_FOUND\nNOT_FOUND\nERROR unknown command\n",
  curl: "hello there\nhello there\nnot found\n",
  reused: "1",
  connects: "1",
  py: "py_http=200:hello there,404:not found,200:hello there same_socket=1",
};
