// Events live with tasks (kernel/sched/task.ts), which wait on them: see there.
export { Event } from "./task";
