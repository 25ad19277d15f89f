// Counters for what happened to events, so that nothing is lost silently: kept in the filter,
// exported as proxy-wasm metrics (from the tick, not once per event) and in a periodic log line.
import { defineMetric, incrementMetric, recordMetric, MetricCounter, MetricGauge } from "../runtime/host";
import { hostHasMetrics } from "../runtime/hostinfo";

const NAMES: Array<string> = [
  "events_captured", "events_sent", "events_dropped_queue_full", "events_dropped_sampled_out",
  "events_dropped_rejected", "events_dropped_retries_exhausted", "events_dropped_too_large",
  "events_retried", "batches_sent", "bytes_sent",
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

  private ids: StaticArray<u32> = new StaticArray<u32>(NAMES.length);
  private exported: StaticArray<u64> = new StaticArray<u64>(NAMES.length);
  private queuedId: u32 = 0;
  private inFlightId: u32 = 0;
  private gauges: StaticArray<i64> = [-1, -1];
  private defined: bool = false;

  private values(): StaticArray<u64> {
    const v = new StaticArray<u64>(NAMES.length);
    v[0] = this.captured; v[1] = this.sent; v[2] = this.droppedQueueFull; v[3] = this.droppedSampled;
    v[4] = this.droppedRejected; v[5] = this.droppedRetries; v[6] = this.droppedTooLarge;
    v[7] = this.retried; v[8] = this.batches; v[9] = this.bytes;
    return v;
  }

  get dropped(): u64 {
    return this.droppedQueueFull + this.droppedSampled + this.droppedRejected + this.droppedRetries + this.droppedTooLarge;
  }

  /**
   * Hands the counters' increase since the last call to the host's metrics — only where the host
   * implements them: on Kong before 3.8 any metric call traps, and until the first request tells
   * which host this is, none is made (what accrues meanwhile is handed over later).
   */
  exportMetrics(queued: i32, inFlight: i32): void {
    if (!hostHasMetrics()) return;
    if (!this.defined) {
      for (let i = 0; i < NAMES.length; i++) this.ids[i] = defineMetric(MetricCounter, "moesif_" + NAMES[i]);
      this.queuedId = defineMetric(MetricGauge, "moesif_events_queued");
      this.inFlightId = defineMetric(MetricGauge, "moesif_calls_in_flight");
      this.defined = true;
    }
    const v = this.values();
    for (let i = 0; i < NAMES.length; i++) {
      const delta = v[i] - this.exported[i];
      if (delta != 0 && this.ids[i] != 0) incrementMetric(this.ids[i], <i64>delta);
      this.exported[i] = v[i];
    }
    // Ticks come often: a gauge is handed over only when it moved.
    if (this.queuedId != 0 && this.gauges[0] != queued) recordMetric(this.queuedId, <u64>queued);
    if (this.inFlightId != 0 && this.gauges[1] != inFlight) recordMetric(this.inFlightId, <u64>inFlight);
    this.gauges[0] = queued;
    this.gauges[1] = inFlight;
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
