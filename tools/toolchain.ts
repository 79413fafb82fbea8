// Finding the native tools the image pipeline and the QEMU runner need, and
// installing them from Debian's packages when the caller allows it.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { UserError } from "./errors.ts";

export interface Tool {
  /** Name in messages, and the command looked up on PATH. */
  name: string;
  /** Environment variable that overrides the command. */
  env: string;
  /** Debian package that provides it. */
  pkg: string;
  /** Other command names to try (Debian's versioned names). */
  alt?: string[];
}

export const TOOLS = {
  clang: { name: "clang", env: "UNIWASM_CLANG", pkg: "clang", alt: ["clang-14", "clang-15", "clang-16"] },
  lld: { name: "ld.lld", env: "UNIWASM_LD", pkg: "lld", alt: ["ld.lld-14", "ld.lld-15", "ld.lld-16"] },
  objcopy: { name: "llvm-objcopy", env: "UNIWASM_OBJCOPY", pkg: "llvm", alt: ["llvm-objcopy-14", "llvm-objcopy-15", "llvm-objcopy-16"] },
  qemuX86: { name: "qemu-system-x86_64", env: "UNIWASM_QEMU_X86_64", pkg: "qemu-system-x86" },
  qemuArm: { name: "qemu-system-aarch64", env: "UNIWASM_QEMU_AARCH64", pkg: "qemu-system-arm" },
  // the host-side peers of the network tests
  ping: { name: "ping", env: "UNIWASM_PING", pkg: "iputils-ping" },
  ip: { name: "ip", env: "UNIWASM_IP", pkg: "iproute2" },
  curl: { name: "curl", env: "UNIWASM_CURL", pkg: "curl" },
  wrk: { name: "wrk", env: "UNIWASM_WRK", pkg: "wrk" },
  // apps/kv's tests: the reference server and the clients
  redisServer: { name: "redis-server", env: "UNIWASM_REDIS_SERVER", pkg: "redis-server" },
  redisCli: { name: "redis-cli", env: "UNIWASM_REDIS_CLI", pkg: "redis-tools" },
} satisfies Record<string, Tool>;

export type ToolName = keyof typeof TOOLS;

function onPath(cmd: string): string | undefined {
  if (cmd.includes("/")) return existsSync(cmd) ? cmd : undefined;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/** Path of a tool, or undefined if it is not installed. */
export function findTool(tool: Tool): string | undefined {
  const override = process.env[tool.env];
  if (override) return onPath(override);
  for (const c of [tool.name, ...(tool.alt ?? [])]) {
    const p = onPath(c);
    if (p) return p;
  }
  return undefined;
}

/** Path of a tool, or a UserError telling how to install it. */
export function requireTool(name: ToolName): string {
  const tool = TOOLS[name];
  const p = findTool(tool);
  if (p) return p;
  const how = process.env[tool.env]
    ? `${tool.env}=${process.env[tool.env]} does not name an existing program`
    : `install it with: apt-get install ${tool.pkg}   (or run ./uniwasm setup)`;
  throw new UserError(`missing toolchain: ${tool.name} not found; ${how}`);
}

/**
 * Installs whatever of `names` is missing with apt-get. Needs root and apt;
 * otherwise the error says exactly what to install.
 */
export function ensureTools(names: ToolName[], log: (s: string) => void): void {
  const missing = names.map((n) => TOOLS[n]).filter((t) => !findTool(t));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((t) => t.pkg))];
  const what = missing.map((t) => t.name).join(", ");
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !onPath("apt-get")) {
    throw new UserError(
      `missing toolchain: ${what}. Install with: sudo apt-get install ${pkgs.join(" ")}` +
        (isRoot ? " (apt-get is not available here)" : " (not running as root, so not installing it myself)"),
    );
  }
  log(`installing ${pkgs.join(" ")} from Debian's packages (missing: ${what})`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const update = spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  const install = spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...pkgs], { stdio: "inherit", env });
  if (update.status !== 0 || install.status !== 0) {
    throw new UserError(`missing toolchain: apt-get install ${pkgs.join(" ")} failed (exit ${install.status ?? update.status}); install them and retry`);
  }
  const still = missing.filter((t) => !findTool(t));
  if (still.length) throw new UserError(`missing toolchain: ${still.map((t) => t.name).join(", ")} still not found after installing ${pkgs.join(" ")}`);
}

/** First line of `tool --version`, for cache keys and reports. */
export function toolVersion(path: string): string {
  try {
    return execFileSync(path, ["--version"], { encoding: "utf8" }).split("\n")[0];
  } catch {
    return "unknown";
  }
}
