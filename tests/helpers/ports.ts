// Host ports for the tests' forwards (QEMU's hostfwd, the CLI's --hostfwd).
//
// A port the kernel handed out for listen(0) comes from its ephemeral range
// (32768-60999 here), the same range every outgoing connection of every other
// test draws its local port from; between asking and QEMU binding it, a curl or
// wrk of the test beside could take it. So ports come from below that range, and
// each vitest worker (VITEST_POOL_ID) draws from a block of its own, so two test
// files running at once never pick the same one. Within a block a port is handed
// out once per process and checked free (TCP and UDP) before it is.
import { createSocket } from "node:dgram";
import { createServer } from "node:net";

const FIRST = 10_000;
const BLOCK = 2_500; // 8 workers fit below 32768
const pool = Math.max(0, Number(process.env.VITEST_POOL_ID ?? 0) - 1) % 8;
let next = Math.floor(Math.random() * BLOCK);

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    s.once("error", () => resolve(false));
    s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** A 127.0.0.1 port free for both TCP and UDP right now, and not handed out before in this process. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < BLOCK; tries++) {
    const port = FIRST + pool * BLOCK + (next++ % BLOCK);
    if ((await tcpFree(port)) && (await udpFree(port))) return port;
  }
  throw new Error(`no free port in ${FIRST + pool * BLOCK}..${FIRST + (pool + 1) * BLOCK - 1}`);
}

/** N ports as freePort() gives them. */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await freePort());
  return out;
}
