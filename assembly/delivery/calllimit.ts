// How many batch calls may wait for an answer at once. Kong opens a new connection for every call
// and answers one call at a time per connection, so the rate at which a worker can deliver is
// (calls in flight × batch size) ÷ the collector's answer time: a fixed limit either caps a busy
// worker (4 calls of 50 events each second at 1 s per tick was 200 events/s) or hammers a
// collector that is struggling. So the limit follows the answers, as TCP's congestion window does:
// it grows while answers come back clean and fast and the limit is what holds delivery back — a
// full batch is waiting for a place — (by one per answer, so doubling every round trip, until the
// first sign of trouble; then by one per round trip), and it is halved on trouble (a slow answer, a timeout, 429, 5xx, a failed
// connection), at most once per round of calls, so one bad moment does not collapse it. And it
// follows the need: it shrinks toward twice what was really in flight over the last seconds
// (concurrency.ts), so a limit grown in a busy minute is not spent at once on a collector that
// has since slowed down.
export const INITIAL_CALLS: i32 = 4;
/**
 * Calls in flight stay under this however fast the collector answers: each is a socket and a copy
 * of its batch in nginx. Their bytes count against event_queue_bytes like the queue's.
 */
export const MAX_CALLS: i32 = 64;

export class CallLimit {
  private window: f64 = <f64>INITIAL_CALLS;
  /** Below it the window doubles per round trip; at and above, it grows by one per round trip. */
  private threshold: f64 = <f64>MAX_CALLS;
  /** Calls sent before the last cut cannot cut again: they were already in flight when it came. */
  private cutMs: i64 = 0;
  private cut: bool = false;

  /** Batch calls that may be in flight now. */
  get value(): i32 {
    return <i32>this.window;
  }

  /**
   * A batch call was answered 2xx within the slow-answer threshold. `waiting`: a full batch waits
   * for a place, so the limit is what holds delivery back (else there is no reason to raise it).
   */
  clean(waiting: bool): void {
    if (!waiting) return;
    this.window += this.window < this.threshold ? 1.0 : 1.0 / this.window;
    if (this.window > <f64>MAX_CALLS) this.window = <f64>MAX_CALLS;
  }

  /** A call sent at `sentMs` met trouble at `nowMs`. */
  trouble(sentMs: i64, nowMs: i64): void {
    if (this.cut && sentMs <= this.cutMs) return;
    this.threshold = max(1.0, Math.floor(this.window / 2));
    this.window = this.threshold;
    this.cutMs = nowMs;
    this.cut = true;
  }

  /** Shrinks the limit to at most `cap` calls (the recent need ×2); the threshold stays. */
  capAt(cap: i32): void {
    if (this.window > <f64>cap) this.window = <f64>cap;
  }
}
