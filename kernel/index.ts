// The uniwasm kernel as an AssemblyScript library: `import { ... } from "uniwasm"`.
export * from "./console";
export * as hal from "./hal";
export * from "./sched";
