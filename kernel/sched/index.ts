// The scheduler's public API: tasks, timers, interrupts, the event loop.
export { Task, TaskState, WakeReason } from "./task";
export { SchedPolicy, FifoPolicy, PriorityPolicy, EdfPolicy, PRIORITY_LEVELS } from "./policy";
export { TimerQueue, TimerId, NO_TIMER } from "./timers";
export { Event } from "./event";
export { IrqTable, IRQ_LINES } from "./irq";
export { SchedStats, printStats } from "./stats";
export { Scheduler } from "./loop";
export { StopHandler, ExitOnStop } from "./stop";
export { NS, US, MS, SEC } from "./time";
