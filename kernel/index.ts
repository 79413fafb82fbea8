// The uniwasm kernel as an AssemblyScript library: `import { ... } from "uniwasm"`.
// By path: the HAL (`import * as hal from "uniwasm/kernel/hal"`), the drivers
// (`"uniwasm/drivers/virtio/index"`, `"uniwasm/drivers/pci/index"`) and TCP
// (`"uniwasm/kernel/net/tcp/index"`).
export * from "./console";
export * from "./sched";
export * from "./mem/index";
export * from "./net/device";
export * from "./net/index";
export { commandLine, cmdlineArg, cmdlineValue } from "./cmdline";
export { Files } from "./files";
