import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The uniwasm package root (where kernel/, boot/, host/ live). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const BOOT = join(ROOT, "boot");
export const ARCHES = ["x86_64"] as const;
export type Arch = (typeof ARCHES)[number];
