// Files baked into a kernel at build time (`--files <dir>`, or `"files"` in
// uniwasm.json): the folder becomes one read-only blob placed in linear
// memory by an active data segment, so the kernel reads it in place (no file
// system, nothing to copy per use). kernel/files.ts reads it; this module
// writes it. Layout (all little-endian u32, offsets from the blob's start):
//
//   header   magic "UWFS", version 1, file count, blob size
//   entries  count x { path, type, etag, data } as (offset, length) pairs,
//            sorted by path bytes so the kernel can search them
//   strings  paths ("/a/b.html"), content types, ETags ("\"<16 hex>\"")
//   data     each file's bytes, 16-byte aligned
//
// The blob sits right above the simulation build's saved-stack area
// (ASYNCIFY_END); asc's --memoryBase moves the kernel's own static data above
// the blob, and `--use UNIWASM_FILES=<address>` tells the kernel where it is
// (0: no files).

import { createHash } from "node:crypto";
import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { UserError } from "./errors.ts";

export const FILES_MAGIC = 0x53465755; // "UWFS"
export const FILES_VERSION = 1;
const HEADER = 16;
const ENTRY = 32;
/** The kernel has 32-bit addresses; keep the blob far below that. */
export const FILES_MAX_BYTES = 512 << 20;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".json": "application/json",
  ".txt": "text/plain; charset=utf-8", ".md": "text/markdown; charset=utf-8", ".csv": "text/csv; charset=utf-8",
  ".xml": "application/xml", ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
  ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif", ".ico": "image/x-icon", ".wasm": "application/wasm",
  ".pdf": "application/pdf", ".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf",
  ".map": "application/json", ".mp4": "video/mp4", ".webm": "video/webm", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
  ".zip": "application/zip", ".gz": "application/gzip", ".tar": "application/x-tar",
};
export const DEFAULT_TYPE = "application/octet-stream";

export function contentType(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? DEFAULT_TYPE;
}

export interface FileEntry {
  path: string;
  type: string;
  etag: string;
  data: Buffer;
}

export interface FilesBlob {
  bytes: Uint8Array;
  files: number;
  /** Bytes of file content (the blob adds the table). */
  contentBytes: number;
}

/** Every regular file under `dir`, as the paths a client asks for ("/a/b.html"). */
export function readFolder(dir: string): FileEntry[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`--files ${dir}: no such folder`);
  const out: FileEntry[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const st = lstatSync(full);
      if (st.isSymbolicLink()) {
        const target = statSync(full, { throwIfNoEntry: false });
        if (!target) throw new UserError(`--files: ${full} is a dangling symbolic link`);
        if (target.isDirectory()) throw new UserError(`--files: ${full} links to a folder; only links to files are followed`);
      } else if (st.isDirectory()) {
        walk(full);
        continue;
      }
      if (!statSync(full).isFile()) continue; // sockets, fifos: nothing to serve
      const path = "/" + relative(dir, full).split(sep).join("/");
      if (Buffer.byteLength(path) > 1024) throw new UserError(`--files: ${path} is longer than 1024 bytes`);
      const data = readFileSync(full);
      const etag = `"${createHash("sha256").update(data).digest("hex").slice(0, 16)}"`;
      out.push({ path, type: contentType(path), etag, data });
    }
  };
  walk(dir);
  return out;
}

export function encodeFiles(entries: FileEntry[]): FilesBlob {
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  let strings = 0;
  for (const e of sorted) strings += Buffer.byteLength(e.path) + Buffer.byteLength(e.type) + Buffer.byteLength(e.etag);
  const align = (n: number) => (n + 15) & ~15;
  let size = align(HEADER + sorted.length * ENTRY + strings);
  const dataAt: number[] = [];
  let content = 0;
  for (const e of sorted) {
    dataAt.push(size);
    size = align(size + e.data.length);
    content += e.data.length;
  }
  if (size > FILES_MAX_BYTES) throw new UserError(`--files: ${size} bytes is more than the ${FILES_MAX_BYTES >> 20} MiB a kernel can embed`);
  const blob = Buffer.alloc(size);
  blob.writeUInt32LE(FILES_MAGIC, 0);
  blob.writeUInt32LE(FILES_VERSION, 4);
  blob.writeUInt32LE(sorted.length, 8);
  blob.writeUInt32LE(size, 12);
  let s = HEADER + sorted.length * ENTRY;
  const str = (text: string, at: number) => {
    const n = blob.write(text, s, "utf8");
    blob.writeUInt32LE(s, at);
    blob.writeUInt32LE(n, at + 4);
    s += n;
  };
  sorted.forEach((e, i) => {
    const at = HEADER + i * ENTRY;
    str(e.path, at);
    str(e.type, at + 8);
    str(e.etag, at + 16);
    blob.writeUInt32LE(dataAt[i], at + 24);
    blob.writeUInt32LE(e.data.length, at + 28);
    e.data.copy(blob, dataAt[i]);
  });
  return { bytes: blob, files: sorted.length, contentBytes: content };
}
