// Durations in the HAL's unit (nanoseconds), so app code reads `5 * MS`.

export const NS: u64 = 1;
export const US: u64 = 1_000;
export const MS: u64 = 1_000_000;
export const SEC: u64 = 1_000_000_000;

/** A timer's handle (TimerQueue, Scheduler.after/at/every); NO_TIMER is none. */
export type TimerId = u64;
export const NO_TIMER: TimerId = 0;
