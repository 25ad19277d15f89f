// What becomes of a batch once a call of it ends: delivered (counted once, its events freed),
// a duplicate (a 2xx for a batch already delivered: a call presumed lost that was answered after
// all, after the batch was sent again), retried, or dropped — and a drop waits while a call of it
// presumed lost may still be answered, so that no event is ever counted both delivered and dropped.
import { Stats } from "./stats";
import { Batch, Call, DROP_RETRIES, DROP_REJECTED } from "./inflight";
import { RetryScheduler } from "./retry";
import { Reports } from "./reports";
import { random01 } from "../codec/random";

export class Ledger {
  constructor(private stats: Stats, private retries: RetryScheduler, private reports: Reports) {}

  /** A ghost given up: a batch whose attempts ran out meanwhile is now counted dropped. */
  forget(g: Call): void {
    this.settle(g.batch!);
  }

  /** A pending drop is counted once no call of the batch may still answer. */
  private settle(b: Batch): void {
    if (b.ghosts > 0 || b.dropPending == 0) return;
    if (b.dropPending == DROP_REJECTED) this.stats.droppedRejected += <u64>b.count;
    else this.stats.droppedRetries += <u64>b.count;
    b.dropPending = 0;
  }

  /** A call presumed lost was answered after all. */
  late(b: Batch, ok: bool, nowMs: i64): void {
    if (!ok) {
      this.settle(b);
      return;
    }
    if (b.delivered) {
      this.duplicate(b, nowMs);
      return;
    }
    // Waiting for its retry, or its attempts used up: delivered, not sent again. Out again: delivered
    // now, and that call's 2xx will be the duplicate.
    this.retries.remove(b);
    b.dropPending = 0;
    this.deliver(b);
    this.reports.lateAnswer(b, nowMs);
  }

  deliver(b: Batch): void {
    b.delivered = true;
    b.events = [];
    this.stats.sent += <u64>b.count;
    this.stats.batches++;
    this.stats.bytes += <u64>b.sentBytes;
  }

  duplicate(b: Batch, nowMs: i64): void {
    this.stats.duplicated += <u64>b.count;
    this.reports.duplicate(b, this.stats, nowMs);
  }

  /** Schedules another attempt, or drops the batch when its attempts or age are used up. */
  retry(b: Batch, nowMs: i64, retryAfterMs: i64, reason: string): void {
    const delay = this.retries.schedule(b, nowMs, retryAfterMs, random01());
    if (delay >= 0) {
      this.stats.retried += <u64>b.count;
      this.reports.retrying(b, reason, delay, nowMs);
      return;
    }
    b.events = [];
    // A call of it presumed lost may still be answered: counted once that call is given up.
    b.dropPending = DROP_RETRIES;
    this.reports.exhausted(b, reason, this.stats, nowMs);
    this.settle(b);
  }

  /** The collector refused the batch itself: sending it again would not help. */
  reject(b: Batch, status: i32, nowMs: i64): void {
    b.events = [];
    b.dropPending = DROP_REJECTED;
    this.reports.rejected(b, status, this.stats, nowMs);
    this.settle(b);
  }
}
