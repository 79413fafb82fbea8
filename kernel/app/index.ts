// Level 1: what an app author touches (docs/writing-an-app.md).
export { Kernel } from "./kernel";
export { args, Endpoint } from "./args";
export { Bytes, textBytes, utf8Length } from "./bytes";
export { Net, App, NetOptions } from "./net";
export { Connection, Handler, Service, DEFAULT_QUEUE_LIMIT, LINEAR_MAX } from "./connection";
export { LineHandler } from "./lines";
export { UdpPort, DatagramHandler } from "./udp";
export { NameHandler, PingHandler } from "./lookup";
