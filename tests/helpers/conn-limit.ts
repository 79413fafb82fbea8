// A server's maximum-connections setting checked from the client's side
// (tests/helpers/conn_limit.py), for apps/http and apps/kv.
import { join } from "node:path";
import { expect } from "vitest";
import { ROOT } from "../../tools/paths.ts";
import { type Guest } from "./guest.ts";

/**
 * The server's connection limit (max_conns=`limit`): `limit` connections
 * served and kept open, one more refused (a reset or a close, no answer),
 * those within still served, and a new one served once one of them closes.
 */
export async function connectionLimit(g: Guest, limit: number, request: string, reply: string, end: string): Promise<void> {
  const out = await g.exec(["python3", join(ROOT, "tests/helpers/conn_limit.py"), g.host, String(g.port), String(limit), request, reply, end], 180_000);
  const r = JSON.parse(out);
  expect(r.within).toEqual(Array(limit).fill("served"));
  expect(["reset", "closed"]).toContain(r.beyond);
  expect(r.within_again).toEqual(Array(limit).fill("served"));
  expect(r.after_close).toBe("served");
}

