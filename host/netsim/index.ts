// The network simulator: see network.ts, and docs/node-platform.md.
export { Network, Port, Link, LinkDirection, Switch } from "./network.ts";
export type { World, NetworkOptions, Impairments, LinkOptions, DirectionStats, Tap } from "./network.ts";
export { ScriptedHost } from "./host.ts";
export type { ReceivedFrame } from "./host.ts";
