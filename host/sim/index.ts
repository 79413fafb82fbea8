// uniwasm/sim: the kernel in deterministic simulation, as a library
// (docs/simulation.md). Build a kernel's simulation build, put machines
// running it on a simulated network, impair the links, run on a virtual
// clock, and read captures, counters and the kernels' event trace.
//
// Level 1 is World (host/sim/world.ts). Level 2, for unusual set-ups, is the
// platform's own parts: Machine, the kernels' World (KernelWorld), Network,
// the virtio models and the pcap writer.

export { buildSimKernel, type SimKernel, type BuildSimKernelOptions } from "./build.ts";
export {
  World,
  SimNode,
  SimLink,
  SimSwitch,
  type WorldOptions,
  type NodeOptions,
  type Impairments,
  type LinkSpec,
  type Partition,
  type RunOptions,
  type RunReport,
  type NodeReport,
  type LinkReport,
} from "./world.ts";
export { diffCounters, ConsoleCounters, type Counters, type CounterSource } from "./counters.ts";
export { EVENTS as TRACE_EVENTS, type TraceEvent } from "./trace.ts";
export { runExperiment, summarize, type ExperimentOptions, type ExperimentResult, type PointSummary, type MetricSummary } from "./experiment.ts";
export { huntFailures, replayRun, replayCommand, type HuntOptions, type HuntResult, type ReplayOptions } from "./hunt.ts";
export { loadScenario, points, seedsOf, ScenarioError, type Scenario, type ScenarioNode, type ScenarioLink, type ChartSpec, type RunContext, type Point, type ParamValue } from "./scenario.ts";
export { runOne, type RunOutcome, type CaptureOptions } from "./run-one.ts";
export { renderChart, type ChartData, type ChartSeries } from "./chart.ts";
export { UserNetwork, parseHostForward, type HostForward } from "./user-net.ts";
export { WorldRunner, type StopReason } from "./runner.ts";

// level 2
export { Machine, type MachineOptions, type RunResult, type TraceSink } from "../machine.ts";
export { World as KernelWorld } from "../world.ts";
export { VirtualClock, RealClock, type Clock } from "../clock.ts";
export { EventQueue } from "../events.ts";
export { Network, Port, Link, LinkDirection, Switch, ScriptedHost } from "../netsim/index.ts";
export type { LinkOptions, DirectionStats, ReceivedFrame } from "../netsim/index.ts";
export { DhcpServer } from "../netsim/dhcp-server.ts";
export { TcpForwarder, type ByteStream } from "../netsim/tcp-forward.ts";
export { PcapWriter, parsePcap, type PcapFile, type PcapRecord } from "../pcap.ts";
export { VirtioNet } from "../virtio/net.ts";
export { VirtioRng } from "../virtio/rng.ts";
export { attachVirtioMmio } from "../virtio/attach.ts";
