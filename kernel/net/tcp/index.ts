// TCP: see docs/tcp.md.
export { TcpStack, TcpListener } from "./stack";
export { TcpSocket, TcpState, TcpError, TcpHandler, TcpTracer, tcpStateName, tcpErrorName } from "./socket";
export { TcpConfig } from "./config";
export { TcpCounters, printTcpCounters } from "./counters";
export { TcpOutput } from "./ip";
export { CongestionControl, initialWindow } from "./cc";
export { NewReno } from "./newreno";
export { Cubic, CUBIC_C, CUBIC_BETA } from "./cubic";
export { Link, LinkEnd, LinkConfig, LinkStats } from "./pipe";
export { seqLt, seqLe, seqGt, seqGe } from "./seq";
