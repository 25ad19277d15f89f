// Every line delivery logs, worded in one place and queued for the adapter to hand to the host
// (core.ts poll: CMD_LOG). Repeated failures are rate-limited (one line per 10 s, with a count of
// those held back); drops are summed up by DropReport; the counters every 5 minutes when anything
// was dropped (every minute with debug). Every time here is the core's monotonic clock.
import { Stats, LogLimiter } from "./stats";
import { DropReport, DeliveryState } from "./dropreport";
import { Batch } from "./inflight";
import { SenderOptions } from "./options";
import { LOG_INFO, LOG_WARN, LOG_ERROR } from "./commands";

export class Reports {
  private levels: Array<i32> = [];
  private texts: Array<string> = [];
  private failLog: LogLimiter = new LogLimiter();
  private dropLog: LogLimiter = new LogLimiter();
  private lateLog: LogLimiter = new LogLimiter();
  private dupLog: LogLimiter = new LogLimiter();
  private drops: DropReport = new DropReport();
  private statsStarted: bool = false;
  private lastStatsMs: i64 = 0;
  private droppedReported: u64 = 0;
  private fetchesOffSaid: bool = false;

  constructor(public debug: bool) {}

  pending(): bool {
    return this.texts.length > 0;
  }

  level(): i32 {
    return this.levels[0];
  }

  take(): string {
    this.levels.shift();
    return this.texts.shift();
  }

  add(level: i32, text: string): void {
    // Bounded: a host that never polls cannot make the queue grow.
    if (this.texts.length >= 64) return;
    this.levels.push(level);
    this.texts.push(text);
  }

  /** The drop line (every 10 s while drops go on) and the counters line. */
  periodic(stats: Stats, state: DeliveryState, nowMs: i64): void {
    if (this.drops.due(stats, nowMs)) this.add(LOG_WARN, this.drops.line(stats, state, nowMs));
    const period: i64 = this.debug ? 60000 : 300000;
    if (!this.statsStarted) {
      this.statsStarted = true;
      this.lastStatsMs = nowMs;
    }
    if (nowMs - this.lastStatsMs < period) return;
    const dropped = stats.dropped;
    // Drops are logged at warn: Kong's default log level (notice) hides info lines.
    if (dropped != this.droppedReported) this.add(LOG_WARN, stats.line(state.queued, state.heldBytes));
    else if (this.debug) this.add(LOG_INFO, stats.line(state.queued, state.heldBytes));
    this.lastStatsMs = nowMs;
    this.droppedReported = dropped;
  }

  sent(b: Batch, token: u32, inFlight: i32, limit: i32): void {
    if (!this.debug) return;
    this.add(LOG_INFO, "moesif: sent a batch of " + b.count.toString() + " events (" + b.sentBytes.toString() + " bytes), call " + token.toString() +
      (b.attempts > 0 ? ", attempt " + (b.attempts + 1).toString() : "") + ", " + inFlight.toString() + " in flight (limit " + limit.toString() + ")");
  }

  accepted(b: Batch, status: i32): void {
    if (this.debug) this.add(LOG_INFO, "moesif: collector accepted " + b.count.toString() + " events (" + status.toString() + ")");
  }

  retrying(b: Batch, reason: string, delay: i64, nowMs: i64): void {
    const held = this.failLog.allow(nowMs);
    if (held < 0) return;
    this.add(LOG_WARN, "moesif: collector " + reason + "; a batch of " + b.count.toString() + " events will be retried in " +
      delay.toString() + " ms (attempt " + (b.attempts + 1).toString() + ")" + heldNote(held));
  }

  exhausted(b: Batch, reason: string, stats: Stats, nowMs: i64): void {
    const held = this.dropLog.allow(nowMs);
    if (held < 0) return;
    this.add(LOG_ERROR, "moesif: collector " + reason + "; dropped a batch of " + b.count.toString() + " events after " +
      b.attempts.toString() + " attempts (" + (stats.droppedRetries + <u64>b.count).toString() + " dropped so far)" + heldNote(held));
  }

  rejected(b: Batch, status: i32, stats: Stats, nowMs: i64): void {
    const held = this.dropLog.allow(nowMs);
    if (held < 0) return;
    this.add(LOG_ERROR, "moesif: collector refused a batch of " + b.count.toString() + " events with status " + status.toString() +
      "; dropped (" + (stats.droppedRejected + <u64>b.count).toString() + " rejected so far)" + heldNote(held));
  }

  lateAnswer(b: Batch, nowMs: i64): void {
    const held = this.lateLog.allow(nowMs);
    if (held < 0) return;
    this.add(LOG_WARN, "moesif: collector accepted a batch of " + b.count.toString() +
      " events after its call was presumed lost; counted delivered, not sent again" + heldNote(held));
  }

  duplicate(b: Batch, stats: Stats, nowMs: i64): void {
    const held = this.dupLog.allow(nowMs);
    if (held < 0) return;
    // Moesif keeps one of each transaction_id: the repeat costs bandwidth, not data.
    this.add(LOG_WARN, "moesif: collector accepted a batch of " + b.count.toString() + " events a second time (a call presumed lost" +
      " was answered after it was sent again); the collector drops the repeat by transaction_id (" + stats.duplicated.toString() +
      " events so far)" + heldNote(held));
  }

  fetchesOff(opts: SenderOptions, undeclared: bool): void {
    if (this.fetchesOffSaid) return;
    this.fetchesOffSaid = true;
    const base = opts.endpoint.basePath;
    this.add(LOG_WARN, "moesif: on " + (undeclared ? "this nginx" : "this Kong (3.4/3.5)") + " sampling from " + base + "/v1/config" +
      (opts.fetchRules ? " and governance rules from " + base + "/v1/rules are" : " is") +
      " off: reading an answer's body from a timer crashes the worker " + (undeclared ? "on Kong 3.4/3.5, and this nginx did not declare" +
      " which Kong release's ngx_wasm_module it runs (the nginx variable $kong_version, README), so it also gets one call at a time"
      : "there (fixed in Kong 3.6)") + "; every event is sent, nothing is blocked");
  }

  fetched(rules: bool, tag: string): void {
    if (this.debug) this.add(LOG_INFO, "moesif: " + (rules ? "governance rules" : "application config") + " loaded (tag " + tag + ")");
  }

  configFailed(status: i32, retryInMs: i64): void {
    if (!this.debug) return;
    this.add(LOG_INFO, "moesif: could not fetch the application config (" + (status == 0 ? "no answer" : "status " + status.toString()) +
      "); the config in force stays; next try in " + retryInMs.toString() + " ms");
  }

  rulesFailed(status: i32): void {
    this.add(LOG_WARN, "moesif: could not load the governance rules (" + (status == 0 ? "no answer" : "status " + status.toString()) +
      "); the rules in force stay, tried again with backoff");
  }
}

function heldNote(held: i64): string {
  return held > 0 ? " [" + held.toString() + " similar lines suppressed]" : "";
}
