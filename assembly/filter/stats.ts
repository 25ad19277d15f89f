// Counters for what happened to events, so that nothing is lost silently, and a limiter that keeps
// a repeated warning from flooding Kong's error log.

export class Stats {
  captured: u64 = 0;
  sent: u64 = 0;
  batches: u64 = 0;
  droppedQueueFull: u64 = 0;
  droppedRejected: u64 = 0;
  droppedFailed: u64 = 0;
}

/** Lets one line through per `periodMs`, and says how many were held back in between. */
export class LogLimiter {
  private lastMs: u64 = 0;
  private held: u64 = 0;
  private started: bool = false;

  constructor(public periodMs: u64 = 10000) {}

  /** Returns -1 to stay quiet, else the number of lines held back since the last one let through. */
  allow(nowMs: u64): i64 {
    if (this.started && nowMs - this.lastMs < this.periodMs) {
      this.held++;
      return -1;
    }
    this.started = true;
    this.lastMs = nowMs;
    const h = this.held;
    this.held = 0;
    return <i64>h;
  }
}
