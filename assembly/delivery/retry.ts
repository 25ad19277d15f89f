// The one place that decides when a failed batch is tried again: exponential backoff with jitter
// (half fixed, half random) from 1 s up to 60 s, or longer when the collector asks for it
// (Retry-After, capped at max_retry_age: a 503 with "Retry-After: 86400" does not stop delivery
// for a day), up to max_retries attempts and max_retry_age since the batch was first sent. While a
// batch waits for its retry, new batches wait too (the collector is being backed off from); that
// pause is lifted only by time — another call's success says nothing of the collector's load.
import { Batch } from "./inflight";
import { trimmed, digits, decimal } from "../codec/bytes";

const BACKOFF_BASE_MS: f64 = 1000;
const BACKOFF_MAX_MS: f64 = 60000;

export class RetryScheduler {
  batches: Array<Batch> = [];
  /** Bytes of the batches waiting to be retried. */
  bytes: i64 = 0;
  /** No new batch leaves before this time. */
  pausedUntilMs: i64 = 0;

  constructor(public maxRetries: i32, public maxRetryAge: i64) {}

  /**
   * Another attempt for `b` after a failure at `nowMs`: returns the delay, or -1 when its attempts
   * or its age are used up (the caller drops it). `retryAfterMs` is what the collector asked (0: nothing).
   */
  schedule(b: Batch, nowMs: i64, retryAfterMs: i64, jitter01: f64): i64 {
    b.attempts++;
    if (b.attempts > this.maxRetries || nowMs - b.firstMs >= this.maxRetryAge) return -1;
    const exp = min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * <f64>(1 << min(b.attempts - 1, 20)));
    let delay = <i64>(exp / 2 + jitter01 * exp / 2);
    if (retryAfterMs > delay) delay = retryAfterMs;
    // No wait, and so no pause, outlives max_retry_age.
    if (delay > this.maxRetryAge) delay = this.maxRetryAge;
    b.nextMs = nowMs + delay;
    if (b.nextMs > this.pausedUntilMs) this.pausedUntilMs = b.nextMs;
    this.batches.push(b);
    this.bytes += b.bytes;
    return delay;
  }

  paused(nowMs: i64): bool {
    return nowMs < this.pausedUntilMs;
  }

  /** The oldest batch whose time has come, taken out; null when none. */
  takeDue(nowMs: i64): Batch | null {
    let pick = -1;
    for (let i = 0; i < this.batches.length; i++) {
      const b = this.batches[i];
      if (b.nextMs <= nowMs && (pick < 0 || b.firstMs < this.batches[pick].firstMs)) pick = i;
    }
    if (pick < 0) return null;
    const b = this.batches[pick];
    this.batches.splice(pick, 1);
    this.bytes -= b.bytes;
    return b;
  }

  anyDue(nowMs: i64): bool {
    for (let i = 0; i < this.batches.length; i++) if (this.batches[i].nextMs <= nowMs) return true;
    return false;
  }

  /** Takes `b` out (it was answered after all); whether it was waiting here. */
  remove(b: Batch): bool {
    const i = this.batches.indexOf(b);
    if (i < 0) return false;
    this.batches.splice(i, 1);
    this.bytes -= b.bytes;
    return true;
  }
}

/** Retry-After as a delay in ms: delta-seconds or an HTTP date (against wall time); 0 when absent or unreadable. */
export function parseRetryAfter(b: Uint8Array, wallMs: i64): i64 {
  const t = trimmed(b);
  if (t === null) return 0;
  const seconds = digits(t, 7);
  if (seconds >= 0) return min(seconds * 1000, 86400000);
  // Absurdly long waits are capped at a day here, at max_retry_age by the scheduler.
  let allDigits = true;
  for (let i = 0; i < t.length; i++) if (t[i] < 0x30 || t[i] > 0x39) allDigits = false;
  if (allDigits) return 86400000;
  const at = parseHttpDate(String.UTF8.decodeUnsafe(t.dataStart, t.length));
  return at > 0 && at > wallMs ? min(at - wallMs, 86400000) : 0;
}

const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";

/** IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") to epoch ms; 0 when it is not one. */
export function parseHttpDate(s: string): i64 {
  if (s.length != 29 || s.charAt(3) != "," || !s.endsWith(" GMT")) return 0;
  const day = decimal(s, 5, 7);
  const month = MONTHS.indexOf(s.substring(8, 11));
  const year = decimal(s, 12, 16);
  const hh = decimal(s, 17, 19);
  const mm = decimal(s, 20, 22);
  const ss = decimal(s, 23, 25);
  if (month < 0 || month % 3 != 0 || day < 1 || hh < 0 || mm < 0 || ss < 0 || day > 31 || year < 1970 || hh > 23 || mm > 59 || ss > 60) return 0;
  // days_from_civil (Howard Hinnant)
  const m = month / 3 + 1;
  const y = m <= 2 ? year - 1 : year;
  const era = y / 400;
  const yoe = y - era * 400;
  const doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const days = <i64>era * 146097 + <i64>doe - 719468;
  return ((days * 24 + hh) * 60 + mm) * 60000 + <i64>ss * 1000;
}
