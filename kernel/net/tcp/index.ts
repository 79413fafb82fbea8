// TCP: see docs/tcp.md.
export { TcpStack } from "./stack";
export { TcpListener, TcpHandler } from "./listener";
export { TcpSocket, TcpSocketHandler } from "./socket";
export { SEND_REFS } from "./sendq";
export { Tcb, TcpContext, TcpTracer, TcpState, TcpError, tcpStateName, tcpErrorName } from "./tcb";
export { RttEstimator } from "./rtt";
export { TcpConfig } from "./config";
export { TcpCounters, printTcpCounters } from "./counters";
export { TcpOutput } from "./ip";
export { IsnGenerator } from "./isn";
export { CongestionControl, initialWindow } from "./cc";
export { NewReno } from "./newreno";
export { Cubic, CUBIC_C, CUBIC_BETA } from "./cubic";
export { Link, LinkEnd, LinkConfig, LinkStats } from "./pipe";
export { seqLt, seqLe, seqGt, seqGe } from "./seq";
