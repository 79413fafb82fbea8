// Test kernel for tests/files.test.ts: lists the files the image builder
// embedded (kernel/files.ts) with a FNV-1a hash of each file's bytes, and
// looks up the paths given as `find=<path>`.
import { println, cmdlineArg, Files } from "../../../index";

function fnv(p: usize, n: u32): u32 {
  let h: u32 = 0x811c9dc5;
  for (let i: u32 = 0; i < n; i++) h = (h ^ load<u8>(p + i)) * 0x01000193;
  return h;
}

function str(p: usize, n: u32): string { return String.UTF8.decodeUnsafe(p, n); }

export function main(): i32 {
  println("files " + Files.count.toString() + " blob " + Files.blobBytes.toString());
  for (let i = 0; i < Files.count; i++) {
    println("file " + Files.path(i) + " " + Files.size(i).toString() + " " + str(Files.typePtr(i), Files.typeLen(i)) + " " +
      str(Files.etagPtr(i), Files.etagLen(i)) + " " + fnv(Files.dataPtr(i), Files.size(i)).toString(16));
  }
  const want = cmdlineArg("find", "");
  if (want.length > 0) {
    const b = String.UTF8.encode(want);
    println("find " + want + " " + Files.find(changetype<usize>(b), <u32>b.byteLength).toString());
  }
  return 0;
}
