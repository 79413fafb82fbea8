// The uniwasm kernel as an AssemblyScript library: `import { ... } from "uniwasm"`.
// Level 1 (the app API, kernel/app/) and level 2 (scheduler, packet buffers,
// the network layers, TCP) both come from here. By path: the HAL
// (`import * as hal from "uniwasm/kernel/hal"`) and the drivers
// (`"uniwasm/drivers/virtio/index"`, `"uniwasm/drivers/pci/index"`).
export * from "./console";
export * from "./sched";
export * from "./mem/index";
export * from "./net/device";
export * from "./net/index";
export { commandLine, cmdlineArg, cmdlineValue } from "./cmdline";
export { Files } from "./files";
export * from "./net/tcp/index";
// Level 1, the app API: Kernel, args, Net, App, Connection, Handler, Service, LineHandler, UdpPort...
export * from "./app/index";
