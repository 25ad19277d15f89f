// Which batch leaves next, and when one is waiting to: a retry whose time has come (oldest first),
// else a full batch (batch_size events, or half of MAX_BATCH_BYTES), else a partial one once
// batch_max_wait has passed since the last partial one — a quiet worker sends at once, then at most
// one batch per batch_max_wait. New batches wait while the collector is being backed off from.
import { EventQueue } from "./queue";
import { Batch } from "./inflight";
import { RetryScheduler } from "./retry";
import { SenderOptions, TICK_MS, MAX_BATCH_BYTES } from "./options";

export class Pacer {
  /** When the last partial batch left: full batches do not move it, so no queued event waits longer than batch_max_wait. */
  private lastPartialMs: i64 = 0;
  private partialSent: bool = false;

  constructor(private opts: SenderOptions, private queue: EventQueue, private retries: RetryScheduler) {}

  /** A batch would leave now if a place were free. */
  waiting(nowMs: i64): bool {
    if (this.retries.anyDue(nowMs)) return true;
    if (this.retries.paused(nowMs) || this.queue.length == 0) return false;
    return this.full() || this.partialDue(nowMs);
  }

  /** The batch to send now, taken from the retries or the queue; null when none is due. */
  next(nowMs: i64): Batch | null {
    const due = this.retries.takeDue(nowMs);
    if (due !== null) return due;
    if (this.retries.paused(nowMs) || this.queue.length == 0) return null;
    if (!this.full()) {
      if (!this.partialDue(nowMs)) return null;
      this.lastPartialMs = nowMs;
      this.partialSent = true;
    }
    const events = this.queue.take(this.opts.batchSize, MAX_BATCH_BYTES);
    if (events.length == 0) return null;
    return new Batch(events, nowMs);
  }

  private full(): bool {
    // Half of a batch's bytes is enough to send: large events then leave in batches of about 1 MB
    // instead of piling up to 2 MB behind the one call in flight (Kong 3.7+), which fragments the
    // allocator's blocks until linear memory doubles (70 KB bodies: 8 MiB instead of 16).
    return this.queue.length >= this.opts.batchSize || this.queue.bytes >= <i64>(MAX_BATCH_BYTES / 2);
  }

  /** batch_max_wait has passed since the last partial batch, "passed" counted from this tick (the next would be late). */
  private partialDue(nowMs: i64): bool {
    return !this.partialSent || nowMs + <i64>TICK_MS >= this.lastPartialMs + <i64>this.opts.batchMaxWait;
  }
}
