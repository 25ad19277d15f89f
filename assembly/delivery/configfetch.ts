// When to fetch the application config (GET /v1/config, docs/protocol.md): at start; when a batch
// answer carries an X-Moesif-Config-ETag other than the config in force's; and every 5 minutes.
// A failed fetch, or an answer without a tag, is tried again after a backoff (1 s doubling up to
// 5 minutes, half of it random jitter) — never after every batch — and the last good config stays
// in force meanwhile. A tag a batch answer names is acted on once, so a collector whose tags never
// agree cannot make every batch a config fetch too.
const REFRESH_MS: u64 = 5 * 60 * 1000;
const BACKOFF_BASE_MS: u64 = 1000;

export class ConfigFetch {
  /** The call in flight, or -1. */
  token: i64 = -1;
  /** The tag of the config in force ("" when none came with it). */
  tag: string = "";
  private wanted: bool = true;
  /** The last tag a batch answer named (acted on once). */
  private namedTag: string = "";
  private fetchedMs: u64 = 0;
  private failures: i32 = 0;
  private notBeforeMs: u64 = 0;

  /** Whether a fetch should leave now. */
  due(nowMs: u64): bool {
    if (this.token >= 0 || nowMs < this.notBeforeMs) return false;
    return this.wanted || nowMs - this.fetchedMs >= REFRESH_MS;
  }

  sent(token: u32): void {
    this.token = token;
  }

  /** The fetch could not be sent, failed, or was answered with something unusable. */
  failed(nowMs: u64, jitter01: f64): void {
    this.token = -1;
    this.wanted = true;
    this.backOff(nowMs, jitter01);
  }

  /** A usable config arrived, with its tag ("" when the answer had none: then it is asked for again, later). */
  loaded(nowMs: u64, tag: string, jitter01: f64): void {
    this.token = -1;
    this.fetchedMs = nowMs;
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
  get retryAtMs(): u64 {
    return this.notBeforeMs;
  }

  private backOff(nowMs: u64, jitter01: f64): void {
    this.failures++;
    const exp = <f64>min(REFRESH_MS, BACKOFF_BASE_MS << <u64>min(this.failures - 1, 20));
    this.notBeforeMs = nowMs + <u64>(exp / 2 + jitter01 * exp / 2);
  }
}
