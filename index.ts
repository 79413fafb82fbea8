// What `import { ... } from "uniwasm"` resolves to in an AssemblyScript
// project (the compiler looks for <package>/index.ts; ascMain names the same).
export * from "./kernel/index";
