// Every call the sender has out, in one table that owns the counts and bytes derived from it: how
// many calls are out (fetches and calls past their time included: the drop line and the gauge
// count these), how many batch calls hold a place under the concurrency policy, and the bytes of
// the batches in flight. Calls presumed lost are kept a while as ghosts, so that a late answer is
// recognised: its batch is then counted delivered (or, if already sent again, a duplicate).
export const KIND_BATCH: i32 = 1;
export const KIND_CONFIG: i32 = 2;
export const KIND_RULES: i32 = 3;
export const DROP_RETRIES: i32 = 1;
export const DROP_REJECTED: i32 = 2;
/** Ghosts kept at most: the oldest is forgotten first (its batch then counts as it stood). */
const MAX_GHOSTS = 16;

/**
 * A batch keeps its events, not its body: the body is written at each attempt. `bytes` (the
 * events' sum) is what it holds for delivery, until it is delivered or dropped.
 */
export class Batch {
  attempts: i32 = 0;
  nextMs: i64 = 0;
  /** The body's size at the last attempt (gzip'd or not): what the collector was sent. */
  sentBytes: i32 = 0;
  bytes: i64 = 0;
  count: i32;
  /** Answered 2xx once: any later 2xx for it is a duplicate. */
  delivered: bool = false;
  /** Calls of this batch presumed lost that may still be answered. */
  ghosts: i32 = 0;
  /**
   * Dropped while a call of it presumed lost could still answer (DROP_RETRIES, DROP_REJECTED):
   * counted so when the last such call is given up, or delivered if one is answered 2xx.
   */
  dropPending: i32 = 0;
  constructor(public events: Array<Uint8Array>, public firstMs: i64) {
    this.count = events.length;
    for (let i = 0; i < events.length; i++) this.bytes += events[i].length;
  }
}

export class Call {
  /** Past its timeout argument with no word from a host that does not report failures: it holds no place. */
  overdue: bool = false;
  constructor(public token: u32, public kind: i32, public batch: Batch | null, public sentMs: i64, public lostMs: i64) {}
}

export class InFlightTable {
  calls: Array<Call> = [];
  ghosts: Array<Call> = [];
  /** Batch calls holding a place (not overdue): the concurrency policy bounds them. */
  holding: i32 = 0;
  /** Bytes of the batches in flight. */
  bytes: i64 = 0;

  get size(): i32 {
    return this.calls.length;
  }

  add(call: Call): void {
    this.calls.push(call);
    const b = call.batch;
    if (b !== null) {
      this.holding++;
      this.bytes += b.bytes;
    }
  }

  /** The call with this token, taken out of the table; null when none. */
  take(token: u32): Call | null {
    for (let i = 0; i < this.calls.length; i++) if (this.calls[i].token == token) return this.removeAt(i);
    return null;
  }

  /** The first call presumed lost at `nowMs`, taken out of the table; null when none. */
  takeLost(nowMs: i64): Call | null {
    for (let i = 0; i < this.calls.length; i++) if (nowMs >= this.calls[i].lostMs) return this.removeAt(i);
    return null;
  }

  /** The batch calls that just went past `timeoutMs` give up their place; returns their sentMs, or -1. */
  markOverdue(nowMs: i64, timeoutMs: i64): i64 {
    let sent: i64 = -1;
    for (let i = 0; i < this.calls.length; i++) {
      const c = this.calls[i];
      if (c.batch === null || c.overdue || nowMs - c.sentMs < timeoutMs) continue;
      c.overdue = true;
      this.holding--;
      sent = c.sentMs;
    }
    return sent;
  }

  private removeAt(i: i32): Call {
    const c = this.calls[i];
    this.calls.splice(i, 1);
    const b = c.batch;
    if (b !== null) {
      if (!c.overdue) this.holding--;
      this.bytes -= b.bytes;
    }
    return c;
  }

  /** Keeps a call presumed lost until `untilMs`, in case it is answered after all; returns one forgotten to make room. */
  haunt(call: Call, untilMs: i64): Call | null {
    call.lostMs = untilMs;
    const b = call.batch;
    if (b !== null) b.ghosts++;
    this.ghosts.push(call);
    if (this.ghosts.length <= MAX_GHOSTS) return null;
    return this.exorcise(0);
  }

  takeGhost(token: u32): Call | null {
    for (let i = 0; i < this.ghosts.length; i++) if (this.ghosts[i].token == token) return this.exorcise(i);
    return null;
  }

  /** A ghost whose time is over, taken out; null when none. */
  expiredGhost(nowMs: i64): Call | null {
    for (let i = 0; i < this.ghosts.length; i++) if (nowMs >= this.ghosts[i].lostMs) return this.exorcise(i);
    return null;
  }

  private exorcise(i: i32): Call {
    const c = this.ghosts[i];
    this.ghosts.splice(i, 1);
    const b = c.batch;
    if (b !== null) b.ghosts--;
    return c;
  }

  /** The kind of call a token names, in flight or a ghost; 0 when none. */
  kindOf(token: u32): i32 {
    for (let i = 0; i < this.calls.length; i++) if (this.calls[i].token == token) return this.calls[i].kind;
    for (let i = 0; i < this.ghosts.length; i++) if (this.ghosts[i].token == token) return this.ghosts[i].kind;
    return 0;
  }
}
