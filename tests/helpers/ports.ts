// A loopback TCP port nothing listens on at the moment of asking.
import { createServer } from "node:net";

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as any).port;
  await new Promise((r) => s.close(r));
  return port;
}
