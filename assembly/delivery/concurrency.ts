// How many calls may be out at once: one policy per kind of host, behind one interface, so the
// core asks the same questions of both. Where a root's overlapping calls leak (Kong 3.7+, and any
// host that cannot be told), one call at a time, of any kind, held until it is answered or
// presumed lost; elsewhere the adaptive CallLimit, bounding the batch calls that hold a place.
import { InFlightTable } from "./inflight";
import { CallLimit, MAX_CALLS } from "./calllimit";

/** Calls tracked in all, calls past their time included (their batches count as held bytes). */
const MAX_TRACKED = 2 * MAX_CALLS;
/** The need is the most calls that held a place over the last one or two of these periods. */
const NEED_PERIOD_MS: i64 = 3000;

export abstract class Concurrency {
  /** Whether another call may leave now. */
  abstract room(table: InFlightTable): bool;
  /** The limit, for logs. */
  abstract get limit(): i32;
  /** A batch call answered 2xx quickly; `waiting`: the limit held a full batch back meanwhile. */
  clean(waiting: bool): void {}
  /** A call sent at `sentMs` met trouble (slow, failed, presumed lost) at `nowMs`. */
  trouble(sentMs: i64, nowMs: i64): void {}
  /** Sees the calls holding a place at `nowMs` (every tick and send). */
  observe(table: InFlightTable, nowMs: i64): void {}
}

export class OneAtATime extends Concurrency {
  room(table: InFlightTable): bool {
    return table.size == 0;
  }

  get limit(): i32 {
    return 1;
  }
}

export class Adaptive extends Concurrency {
  private calls: CallLimit = new CallLimit();
  private periodStart: i64 = 0;
  private peak: i32 = 0;
  private lastPeak: i32 = 0;

  room(table: InFlightTable): bool {
    return table.holding < this.calls.value && table.size < MAX_TRACKED;
  }

  get limit(): i32 {
    return this.calls.value;
  }

  clean(waiting: bool): void {
    this.calls.clean(waiting);
  }

  trouble(sentMs: i64, nowMs: i64): void {
    this.calls.trouble(sentMs, nowMs);
  }

  /**
   * Keeps the limit within twice the recent need (at least 2): a collector that slows down after a
   * busy spell meets no burst of calls its recent traffic did not need.
   */
  observe(table: InFlightTable, nowMs: i64): void {
    if (table.holding > this.peak) this.peak = table.holding;
    if (nowMs - this.periodStart < NEED_PERIOD_MS) return;
    this.calls.capAt(max(2, 2 * max(this.peak, this.lastPeak)));
    this.lastPeak = this.peak;
    this.peak = table.holding;
    this.periodStart = nowMs;
  }
}
