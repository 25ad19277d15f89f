// What an operator sees when events are lost: one warn line per period while drops go on, with how
// many, why, and the rate the worker could not deliver — next to the rate it did deliver, so the
// line says whether the collector, the network or the limits are what fell behind. It reads the
// counters the sender keeps anyway (differences since the last line), so dropping costs nothing more
// per event. Sampled-out events are a choice, not a loss: the periodic stats line reports those.
import { Stats } from "./stats";

export const DROP_REPORT_MS: i64 = 10000;

/** What the sender holds and how it sends, at the moment of the line. */
export class DeliveryState {
  queued: i32 = 0;
  maxEvents: i32 = 0;
  heldBytes: i64 = 0;
  maxBytes: i64 = 0;
  inFlight: i32 = 0;
  limit: i32 = 0;
}

export class DropReport {
  private sinceMs: i64 = 0;
  private reportedMs: i64 = 0;
  private started: bool = false;
  private reported: bool = false;
  private queueFull: u64 = 0;
  private rejected: u64 = 0;
  private retries: u64 = 0;
  private tooLarge: u64 = 0;
  private sent: u64 = 0;
  private batches: u64 = 0;

  constructor(public periodMs: i64 = DROP_REPORT_MS) {}

  /**
   * Whether a line is due now. The first drop after a quiet period is reported at once (at the
   * next tick); while drops go on, one line per period.
   */
  due(stats: Stats, nowMs: i64): bool {
    // The counters start at zero with the filter: what was dropped before the first tick counts too.
    if (!this.started) {
      this.sinceMs = nowMs;
      this.started = true;
    }
    if (this.dropped(stats) == 0) {
      // Nothing lost: the next line's rates start from a recent point, not from an hour ago.
      if (nowMs - this.sinceMs >= this.periodMs) this.restart(stats, nowMs);
      return false;
    }
    return !this.reported || nowMs - this.reportedMs >= this.periodMs;
  }

  /** The line (call it when due), from the counters' growth since the last line or quiet period. */
  line(stats: Stats, state: DeliveryState, nowMs: i64): string {
    const queueFull = stats.droppedQueueFull - this.queueFull;
    const rejected = stats.droppedRejected - this.rejected;
    const retries = stats.droppedRetries - this.retries;
    const tooLarge = stats.droppedTooLarge - this.tooLarge;
    // A second at least: the first line may cover drops from before the first tick.
    const seconds = max(<f64>(nowMs - this.sinceMs), 1000.0) / 1000;
    let out = "moesif: dropped " + this.dropped(stats).toString() + " events in the last " + tenths(seconds) + " s (" +
      perSecond(this.dropped(stats), seconds) + " events/s not delivered):";
    if (queueFull > 0) {
      out += " event queue full " + queueFull.toString() + " (" + state.queued.toString() + " of " + state.maxEvents.toString() +
        " events, " + state.heldBytes.toString() + " of " + state.maxBytes.toString() + " bytes held);";
    }
    if (rejected > 0) out += " refused by the collector " + rejected.toString() + ";";
    if (retries > 0) out += " collector failing, retries exhausted " + retries.toString() + ";";
    if (tooLarge > 0) out += " too large even without bodies " + tooLarge.toString() + ";";
    out += " delivered " + perSecond(stats.sent - this.sent, seconds) + " events/s in " + perSecond(stats.batches - this.batches, seconds) +
      " calls/s, " + state.inFlight.toString() + " calls in flight (limit " + state.limit.toString() + ")";
    this.reported = true;
    this.reportedMs = nowMs;
    this.restart(stats, nowMs);
    return out;
  }

  private dropped(stats: Stats): u64 {
    return stats.droppedQueueFull - this.queueFull + stats.droppedRejected - this.rejected +
      stats.droppedRetries - this.retries + stats.droppedTooLarge - this.tooLarge;
  }

  private restart(stats: Stats, nowMs: i64): void {
    this.sinceMs = nowMs;
    this.queueFull = stats.droppedQueueFull;
    this.rejected = stats.droppedRejected;
    this.retries = stats.droppedRetries;
    this.tooLarge = stats.droppedTooLarge;
    this.sent = stats.sent;
    this.batches = stats.batches;
  }
}

function tenths(x: f64): string {
  const t = <i64>Math.round(x * 10);
  return (t / 10).toString() + "." + (t % 10).toString();
}

function perSecond(n: u64, seconds: f64): string {
  return (<i64>Math.round(<f64>n / seconds)).toString();
}
