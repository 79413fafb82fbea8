// The uniwasm kernel as an AssemblyScript library: `import { ... } from "uniwasm"`.
// The HAL itself is imported by path: `import * as hal from "uniwasm/kernel/hal"`.
export * from "./console";
export * from "./sched";
