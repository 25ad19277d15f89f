// When to fetch the application config (GET /v1/config, docs/protocol.md): at start; when a batch
// answer carries an X-Moesif-Config-ETag other than the config in force's; and every 5 minutes.
// A failed fetch, or an answer without a tag, is tried again after a backoff (1 s doubling up to
// 5 minutes, half of it random jitter) — never after every batch — and the last good config stays
// in force meanwhile. A tag a batch answer names is acted on once, so a collector whose tags never
// agree cannot make every batch a config fetch too. A fetch presumed lost (no answer in the time
// the host's timers allow, or a timeout the host reports) is tried again after 5 minutes, then 10,
// 20, up to an hour: where one call at a time is allowed, a fetch that hangs holds that place.
const REFRESH_MS: i64 = 5 * 60 * 1000;
const BACKOFF_BASE_MS: i64 = 1000;
const LOST_MAX_MS: i64 = 60 * 60 * 1000;

export class ConfigFetch {
  /** The call in flight, or -1. */
  token: i64 = -1;
  /** The tag of the config in force ("" when none came with it). */
  tag: string = "";
  private wanted: bool = true;
  /** The last tag a batch answer named (acted on once). */
  private namedTag: string = "";
  private fetchedMs: i64 = 0;
  private failures: i32 = 0;
  private losses: i32 = 0;
  private notBeforeMs: i64 = 0;

  /** Whether a fetch should leave now. */
  due(nowMs: i64): bool {
    if (this.token >= 0 || nowMs < this.notBeforeMs) return false;
    return this.wanted || nowMs - this.fetchedMs >= REFRESH_MS;
  }

  sent(token: u32): void {
    this.token = token;
  }

  /** The fetch could not be sent, failed, or was answered with something unusable. */
  failed(nowMs: i64, jitter01: f64): void {
    this.token = -1;
    this.wanted = true;
    this.backOff(nowMs, jitter01);
  }

  /** The fetch was presumed lost: 5 minutes before the next, doubling up to an hour. */
  lost(nowMs: i64): void {
    this.token = -1;
    this.wanted = true;
    this.notBeforeMs = nowMs + min(LOST_MAX_MS, REFRESH_MS << min(this.losses, 4));
    this.losses++;
  }

  /** A usable config arrived, with its tag ("" when the answer had none: then it is asked for again, later). */
  loaded(nowMs: i64, tag: string, jitter01: f64): void {
    this.token = -1;
    this.fetchedMs = nowMs;
    this.losses = 0;
    this.tag = tag;
    if (tag.length > 0) {
      this.wanted = false;
      this.failures = 0;
      this.notBeforeMs = 0;
    } else {
      this.wanted = true;
      this.backOff(nowMs, jitter01);
    }
  }

  /** A batch answer named the config tag `tag`. */
  batchTag(tag: string): void {
    if (tag.length == 0 || tag == this.tag || tag == this.namedTag) return;
    this.namedTag = tag;
    this.wanted = true;
  }

  /** The delay before the next attempt, for tests and logs. */
  get retryAtMs(): i64 {
    return this.notBeforeMs;
  }

  private backOff(nowMs: i64, jitter01: f64): void {
    this.failures++;
    const exp = <f64>min(REFRESH_MS, BACKOFF_BASE_MS << <i64>min(this.failures - 1, 20));
    this.notBeforeMs = nowMs + <i64>(exp / 2 + jitter01 * exp / 2);
  }
}
