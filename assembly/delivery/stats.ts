// Counters for what happened to events, so that nothing is lost silently: kept in the filter,
// exported as proxy-wasm metrics (metrics.ts, from the tick, not once per event) and in a periodic
// log line. Pure: delivery's core keeps them without a host.
export const NAMES: Array<string> = [
  "events_captured", "events_sent", "events_dropped_queue_full", "events_dropped_sampled_out",
  "events_dropped_rejected", "events_dropped_retries_exhausted", "events_dropped_too_large",
  "events_retried", "batches_sent", "bytes_sent", "events_duplicated",
];

export class Stats {
  captured: u64 = 0;
  sent: u64 = 0;
  droppedQueueFull: u64 = 0;
  droppedSampled: u64 = 0;
  droppedRejected: u64 = 0;
  droppedRetries: u64 = 0;
  droppedTooLarge: u64 = 0;
  retried: u64 = 0;
  batches: u64 = 0;
  bytes: u64 = 0;
  /** Events of batches the collector accepted twice (a call presumed lost, sent again, then answered): Moesif drops the repeat by transaction_id. */
  duplicated: u64 = 0;

  values(): StaticArray<u64> {
    const v = new StaticArray<u64>(NAMES.length);
    v[0] = this.captured; v[1] = this.sent; v[2] = this.droppedQueueFull; v[3] = this.droppedSampled;
    v[4] = this.droppedRejected; v[5] = this.droppedRetries; v[6] = this.droppedTooLarge;
    v[7] = this.retried; v[8] = this.batches; v[9] = this.bytes; v[10] = this.duplicated;
    return v;
  }

  get dropped(): u64 {
    return this.droppedQueueFull + this.droppedSampled + this.droppedRejected + this.droppedRetries + this.droppedTooLarge;
  }

  line(queued: i32, heldBytes: i64): string {
    return "moesif: stats: captured " + this.captured.toString() + ", sent " + this.sent.toString() +
      " in " + this.batches.toString() + " batches (" + this.bytes.toString() + " bytes), retried " + this.retried.toString() +
      ", dropped " + this.dropped.toString() + " (queue full " + this.droppedQueueFull.toString() +
      ", sampled out " + this.droppedSampled.toString() + ", rejected " + this.droppedRejected.toString() +
      ", retries exhausted " + this.droppedRetries.toString() + ", too large " + this.droppedTooLarge.toString() +
      "); queued " + queued.toString() + " events, " + heldBytes.toString() + " bytes held";
  }
}

/** Lets one line through per `periodMs`, and says how many were held back in between. */
export class LogLimiter {
  private lastMs: i64 = 0;
  private held: u64 = 0;
  private started: bool = false;

  constructor(public periodMs: i64 = 10000) {}

  /** Returns -1 to stay quiet, else the number of lines held back since the last one let through. */
  allow(nowMs: i64): i64 {
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
