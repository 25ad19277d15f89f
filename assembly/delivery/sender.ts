// Delivery (docs/protocol.md). Kong lets a filter dispatch only from on_tick, and each call is a new connection, so the
// sender decides what leaves when: batches of at most batch_size events (and MAX_BATCH_BYTES),
// several per tick while within max_callback_time_spent and MAX_IN_FLIGHT, optionally gzip'd.
// Transient failures (5xx, 408, 429, timeouts, connection errors) are retried with exponential
// backoff and jitter, honouring Retry-After, up to max_retries attempts and max_retry_age; other
// answers drop the batch. Everything the sender holds counts against event_queue_bytes.
import { Endpoint } from "./endpoint";
import { EventQueue, joinBatch } from "./queue";
import { Stats, LogLimiter } from "./stats";
import { utf8, decimal, trimmed, digits, parseStatus } from "../codec/bytes";
import { gzip } from "../codec/deflate";
import { random01 } from "../codec/random";
import { Sampling } from "./sampling";
import { ConfigFetch } from "./configfetch";
import { encodeHeaderMap } from "../runtime/headers";
import { Status, MapType, BufferType } from "../runtime/abi";
import { httpCall, getHeaderValue, getBufferBytes, logWarn, logInfo, logError, statusName, nowNanos } from "../runtime/host";
import { hostReportsFailedCalls } from "../runtime/hostinfo";

/** At most this many calls wait for an answer at once. */
export const MAX_IN_FLIGHT = 4;
/** Calls tracked in all, overdue ones included (see busyCalls); their batches count as held bytes. */
const MAX_TRACKED = 32;
/** A batch body stays well under the collector's 50 MB limit, and a worker's memory modest. */
export const MAX_BATCH_BYTES = 2 * 1024 * 1024;
// When a call with no answer is presumed lost. Kong applies the timeout argument to each step of a
// call, not to the whole (ngx_wasm_socket_tcp.c: connect, TLS handshake, each send and each read
// have their own timer), after name resolution with its own 30 s default (resolver_timeout). Before
// 3.9 a failed call is never called back, so the sender must give up by itself, and a slow call it
// gave up on too soon would be sent twice: it waits for the resolver, then five timeouts (connect,
// handshake, send, the answer's headers and body), and a second more. From 3.9 (and on Envoy) the
// host reports every failure: the call is given up only when the host has said nothing for 10
// minutes, which no working host does.
const RESOLVER_TIMEOUT_MS: u64 = 30000;
const LOST_CALL_STEPS: u64 = 5;
const LOST_CALL_MARGIN_MS: u64 = 1000;
const LOST_CALL_CAP_MS: u64 = 600000;
const BACKOFF_BASE_MS: f64 = 1000;
const BACKOFF_MAX_MS: f64 = 60000;

/** What the sender needs of the configuration, made once per configuration by the root. */
export class SenderOptions {
  applicationId: string = "";
  endpoint: Endpoint = new Endpoint();
  /** An explicit dispatch target (an Envoy cluster name, a host:port), else the endpoint's host:port. */
  upstream: string = "";
  userAgent: string = "";
  batchSize: i32 = 50;
  maxCallbackTimeSpent: i32 = 750;
  /** The timeout given to each dispatch (Kong applies it to each step of the call). */
  timeoutMs: i32 = 5000;
  maxRetries: i32 = 6;
  maxRetryAge: i32 = 600000;
  /** All the bytes held for delivery (queue, retries, calls in flight) stay under this. */
  eventQueueBytes: i32 = 4 * 1024 * 1024;
  /** Fetch the governance rules (GET /v1/rules). */
  fetchRules: bool = false;
  enableCompression: bool = false;
  debug: bool = false;
}

class Batch {
  attempts: i32 = 0;
  nextMs: u64 = 0;
  constructor(public body: Uint8Array, public events: i32, public rawBytes: i32, public firstMs: u64) {}
}

/** A call in flight: a batch, or (batch null) a fetch of the application config or of the rules. */
class InFlight {
  constructor(public batch: Batch | null, public sentMs: u64, public rules: bool = false) {}
}

/**
 * Where the application config and the governance rules go once fetched: the filter's root, which
 * knows what they mean. `rules` answers whether the body was a usable rule set; a body it refuses
 * keeps the rules in force and is fetched again with backoff.
 */
export abstract class AppDataSink {
  abstract config(body: Uint8Array): void;
  abstract rules(body: Uint8Array): bool;
}

const STATUS_KEY = String.UTF8.encode(":status");
const DISPATCH_STATUS_KEY = String.UTF8.encode(":dispatch_status");
const RETRY_AFTER_KEY = String.UTF8.encode("retry-after");
const ETAG_KEY = String.UTF8.encode("x-moesif-config-etag");
const RULES_TAG_KEY = String.UTF8.encode("x-moesif-rules-tag");

export class Sender {
  private batchHeaders: Uint8Array;
  private configHeaders: Uint8Array;
  private upstream: ArrayBuffer;
  private inFlight: Map<u32, InFlight> = new Map<u32, InFlight>();
  private retries: Array<Batch> = [];
  private retryBytes: i64 = 0;
  private inFlightBytes: i64 = 0;
  private timeoutMs: u32;
  /** No new batch leaves before this time: the collector failed and is being backed off from. */
  private pausedUntilMs: u64 = 0;
  private appConfig: ConfigFetch = new ConfigFetch();
  // The rules follow the same policy: at start, when an answer names another X-Moesif-Rules-Tag,
  // every 5 minutes; failures tried again with backoff, the last good rules kept.
  private rulesFetch: ConfigFetch = new ConfigFetch();
  private rulesHeaders: Uint8Array;
  private rulesFailing: bool = false;
  sink: AppDataSink | null = null;
  private lastStatsMs: u64 = 0;
  private droppedReported: u64 = 0;
  private failLog: LogLimiter = new LogLimiter();
  private dropLog: LogLimiter = new LogLimiter();
  private queueFullLog: LogLimiter = new LogLimiter();
  private tooLargeLog: LogLimiter = new LogLimiter();
  sampling: Sampling | null = null;

  constructor(private opts: SenderOptions, private queue: EventQueue, private stats: Stats) {
    const ep = opts.endpoint;
    // An explicit upstream (an Envoy cluster name, or a host:port) overrides the endpoint's.
    this.upstream = String.UTF8.encode(opts.upstream.length > 0 ? opts.upstream : ep.upstream);
    this.timeoutMs = <u32>opts.timeoutMs;
    const common: Array<Uint8Array> = [utf8(":authority"), utf8(":scheme"), utf8("x-moesif-application-id"), utf8("user-agent")];
    const commonValues: Array<Uint8Array> = [utf8(ep.authority), utf8(ep.scheme), utf8(opts.applicationId), utf8(opts.userAgent)];
    const keys = [utf8(":method"), utf8(":path"), utf8("content-type")].concat(common);
    const values = [utf8("POST"), utf8(ep.basePath + "/v1/events/batch"), utf8("application/json")].concat(commonValues);
    if (opts.enableCompression) {
      keys.push(utf8("content-encoding"));
      values.push(utf8("gzip"));
    }
    this.batchHeaders = encodeHeaderMap(keys, values);
    this.configHeaders = encodeHeaderMap([utf8(":method"), utf8(":path"), utf8("accept")].concat(common),
      [utf8("GET"), utf8(ep.basePath + "/v1/config"), utf8("application/json")].concat(commonValues));
    this.rulesHeaders = encodeHeaderMap([utf8(":method"), utf8(":path"), utf8("accept")].concat(common),
      [utf8("GET"), utf8(ep.basePath + "/v1/rules"), utf8("application/json")].concat(commonValues));
  }

  /** Bytes held for delivery: queued events, batches waiting to be retried, batches in flight. */
  get heldBytes(): i64 {
    return this.queue.bytes + this.retryBytes + this.inFlightBytes;
  }

  /** Takes a finished event into the queue; counts and (rate-limited) reports a full queue. */
  offer(event: Uint8Array, nowMs: u64): void {
    if (this.heldBytes + <i64>event.length <= <i64>this.opts.eventQueueBytes && this.queue.push(event)) {
      if (this.opts.debug) {
        logInfo("moesif: queued event (" + event.length.toString() + " bytes), " + this.queue.length.toString() + " in queue");
      }
      return;
    }
    this.stats.droppedQueueFull++;
    const held = this.queueFullLog.allow(nowMs);
    if (held >= 0) {
      logWarn("moesif: event queue full (" + this.queue.length.toString() + " of " + this.queue.maxEvents.toString() +
        " events, " + this.heldBytes.toString() + " of " + this.opts.eventQueueBytes.toString() +
        " bytes held); dropping new events (" + this.stats.droppedQueueFull.toString() + " dropped so far" +
        (held > 0 ? ", " + held.toString() + " similar lines suppressed" : "") + ")");
    }
  }

  /** An event too big even without its bodies (huge headers): counted and reported. */
  tooLarge(size: i32, nowMs: u64): void {
    this.stats.droppedTooLarge++;
    const held = this.tooLargeLog.allow(nowMs);
    if (held >= 0) {
      logWarn("moesif: dropped an event of " + size.toString() + " bytes even without its bodies (the collector takes 1 MB per event); " +
        this.stats.droppedTooLarge.toString() + " dropped so far");
    }
  }

  /** Called on every tick. */
  flush(nowMs: u64): void {
    const startNs = nowNanos();
    this.expireLost(nowMs);
    if (this.appConfig.due(nowMs)) this.fetch(this.appConfig, this.configHeaders, false, nowMs);
    if (this.opts.fetchRules && this.rulesFetch.due(nowMs)) this.fetch(this.rulesFetch, this.rulesHeaders, true, nowMs);
    const budgetNs = <u64>this.opts.maxCallbackTimeSpent * 1000000;
    while (this.busyCalls(nowMs) < MAX_IN_FLIGHT && this.inFlight.size < MAX_TRACKED) {
      const batch = this.nextBatch(nowMs);
      if (batch === null) break;
      if (!this.send(batch, nowMs)) break;
      if (nowNanos() - startNs >= budgetNs) break;
    }
    this.stats.exportMetrics(this.queue.length);
    // With debug, the counters every minute. Without, every 5 minutes if anything was dropped since
    // (sampling included, which logs nothing per event): no drop goes unreported, none floods the log.
    const period: u64 = this.opts.debug ? 60000 : 300000;
    if (this.lastStatsMs == 0) this.lastStatsMs = nowMs;
    if (nowMs - this.lastStatsMs >= period) {
      const dropped = this.stats.dropped;
      // Drops are logged at warn: Kong's default log level (notice) hides info lines.
      if (dropped != this.droppedReported) logWarn(this.stats.line(this.queue.length, this.heldBytes));
      else if (this.opts.debug) logInfo(this.stats.line(this.queue.length, this.heldBytes));
      this.lastStatsMs = nowMs;
      this.droppedReported = dropped;
    }
  }

  /** A retry whose time has come (oldest first), else a new batch from the queue, else null. */
  private nextBatch(nowMs: u64): Batch | null {
    let pick = -1;
    for (let i = 0; i < this.retries.length; i++) {
      const b = this.retries[i];
      if (b.nextMs <= nowMs && (pick < 0 || b.firstMs < this.retries[pick].firstMs)) pick = i;
    }
    if (pick >= 0) {
      const b = this.retries[pick];
      this.retries.splice(pick, 1);
      this.retryBytes -= b.body.length;
      return b;
    }
    // While the collector is being backed off from, new batches wait too.
    if (nowMs < this.pausedUntilMs) return null;
    if (this.queue.length == 0) return null;
    const events = this.queue.take(this.opts.batchSize, MAX_BATCH_BYTES);
    if (events.length == 0) return null;
    const raw = joinBatch(events);
    const rawBytes = raw.length;
    const body = this.opts.enableCompression ? gzip(raw) : raw;
    return new Batch(body, events.length, rawBytes, nowMs);
  }

  private send(batch: Batch, nowMs: u64): bool {
    const call = httpCall(this.upstream, this.batchHeaders, batch.body, this.timeoutMs);
    if (call.status != Status.Ok) {
      // The host refused the call: the batch waits for the next tick. With other calls still in
      // flight this may only mean the host takes one call at a time; otherwise it is worth a line.
      this.retries.push(batch);
      this.retryBytes += batch.body.length;
      batch.nextMs = nowMs;
      const held = this.inFlight.size > 0 ? -1 : this.failLog.allow(nowMs);
      if (held >= 0) {
        logError("moesif: could not dispatch a batch to " + String.UTF8.decode(this.upstream) + " (" + statusName(call.status) +
          "); it will be tried again" + heldNote(held));
      }
      return false;
    }
    this.inFlight.set(call.token, new InFlight(batch, nowMs));
    this.inFlightBytes += batch.body.length;
    if (this.opts.debug) {
      logInfo("moesif: sent a batch of " + batch.events.toString() + " events (" + batch.body.length.toString() + " bytes" +
        (this.opts.enableCompression ? ", " + batch.rawBytes.toString() + " before gzip" : "") + "), call " + call.token.toString() +
        (batch.attempts > 0 ? ", attempt " + (batch.attempts + 1).toString() : ""));
    }
    return true;
  }

  /** GET /v1/config or /v1/rules; `state` learns whether it left. */
  private fetch(state: ConfigFetch, headers: Uint8Array, rules: bool, nowMs: u64): void {
    const call = httpCall(this.upstream, headers, new Uint8Array(0), this.timeoutMs);
    if (call.status != Status.Ok) {
      state.failed(nowMs, random01());
      return;
    }
    state.sent(call.token);
    this.inFlight.set(call.token, new InFlight(null, nowMs, rules));
  }

  /** The answer to GET /v1/rules. A failed or unusable one keeps the rules in force (logged once). */
  private onRules(status: i32, bodySize: u32, nowMs: u64): void {
    const body = status >= 200 && status < 300 ? getBufferBytes(BufferType.HttpCallResponseBody, 0, bodySize) : null;
    const sink = this.sink;
    const ok = body !== null && body.status == Status.Ok && sink !== null && sink!.rules(body.data!);
    if (!ok) {
      this.rulesFetch.failed(nowMs, random01());
      if (!this.rulesFailing) {
        logWarn("moesif: could not load the governance rules (" + (status == 0 ? "no answer" : "status " + status.toString()) +
          "); the rules in force stay, tried again with backoff");
      }
      this.rulesFailing = true;
      return;
    }
    this.rulesFailing = false;
    this.rulesFetch.loaded(nowMs, answerText(RULES_TAG_KEY), random01());
  }

  /** An answer named the rules' tag: fetch them again if it is not the tag of the rules in force. */
  private noteRulesTag(): void {
    if (this.opts.fetchRules) this.rulesFetch.batchTag(answerText(RULES_TAG_KEY));
  }

  onResponse(token: u32, bodySize: u32): void {
    if (!this.inFlight.has(token)) return;
    const call = this.inFlight.get(token);
    this.inFlight.delete(token);
    const nowMs = nowNanos() / 1000000;
    // No :status is a failed call (Kong 3.9 calls back with only :dispatch_status).
    const status = responseStatus();
    const batch = call.batch;
    if (batch === null) {
      if (call.rules) this.onRules(status, bodySize, nowMs);
      else this.onConfig(status, bodySize, nowMs);
      return;
    }
    this.inFlightBytes -= batch.body.length;
    if (status >= 200 && status < 300) {
      this.noteRulesTag();
      this.stats.sent += <u64>batch.events;
      this.stats.batches++;
      this.stats.bytes += <u64>batch.body.length;
      this.pausedUntilMs = 0;
      this.appConfig.batchTag(answerText(ETAG_KEY));
      if (this.opts.debug) logInfo("moesif: collector accepted " + batch.events.toString() + " events (" + status.toString() + ")");
      return;
    }
    if (status == 0 || status == 408 || status == 429 || status >= 500) {
      let reason = "answered " + status.toString();
      if (status == 0) {
        const ds = getHeaderValue(MapType.HttpCallResponseHeaders, DISPATCH_STATUS_KEY);
        reason = ds.status == Status.Ok ? "could not be reached (" + String.UTF8.decode(ds.data!.buffer) + ")" : "could not be reached";
      }
      this.retry(batch, nowMs, status == 0 ? 0 : retryAfterMs(nowMs), reason);
      return;
    }
    // Any other answer means the batch itself was refused: sending it again would not help.
    this.stats.droppedRejected += <u64>batch.events;
    const held = this.dropLog.allow(nowMs);
    if (held >= 0) {
      logError("moesif: collector refused a batch of " + batch.events.toString() + " events with status " + status.toString() +
        "; dropped (" + this.stats.droppedRejected.toString() + " rejected so far)" + heldNote(held));
    }
  }

  /** The answer to GET /v1/config. A failed or unusable one keeps the config in force. */
  private onConfig(status: i32, bodySize: u32, nowMs: u64): void {
    const fetch = this.appConfig;
    const keeping = this.sampling === null ? "sampling keeps every event" : "the last config stays in force";
    if (status < 200 || status >= 300) {
      fetch.failed(nowMs, random01());
      if (this.opts.debug) {
        logInfo("moesif: could not fetch the application config (status " + status.toString() + "); " + keeping +
          "; next try in " + (fetch.retryAtMs - nowMs).toString() + " ms");
      }
      return;
    }
    const body = getBufferBytes(BufferType.HttpCallResponseBody, 0, bodySize);
    const parsed = body.status == Status.Ok ? Sampling.parse(body.data!) : null;
    if (parsed === null) {
      fetch.failed(nowMs, random01());
      logWarn("moesif: the application config from the collector is not a JSON object; " + keeping);
      return;
    }
    fetch.loaded(nowMs, answerText(ETAG_KEY), random01());
    const sink = this.sink;
    if (sink !== null) sink.config(body.data!);
    this.noteRulesTag();
    for (let i = 0; i < parsed.warnings.length; i++) logWarn("moesif: application config: " + parsed.warnings[i]);
    this.sampling = parsed.keepsAll ? null : parsed;
    if (this.opts.debug) logInfo("moesif: application config loaded (sample_rate " + parsed.sampleRate.toString() + ", etag " + fetch.tag + ")");
  }

  /** Schedules another attempt, or drops the batch when its attempts or age are used up. */
  private retry(batch: Batch, nowMs: u64, retryAfter: i64, reason: string): void {
    batch.attempts++;
    const age = nowMs - batch.firstMs;
    if (batch.attempts > this.opts.maxRetries || age >= <u64>this.opts.maxRetryAge) {
      this.stats.droppedRetries += <u64>batch.events;
      const held = this.dropLog.allow(nowMs);
      if (held >= 0) {
        logError("moesif: collector " + reason + "; dropped a batch of " + batch.events.toString() + " events after " +
          batch.attempts.toString() + " attempts (" + this.stats.droppedRetries.toString() + " dropped so far)" + heldNote(held));
      }
      return;
    }
    // Exponential backoff with jitter (half fixed, half random), unless the collector asked for longer.
    const exp = min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * <f64>(1 << min(batch.attempts - 1, 20)));
    let delay = <i64>(exp / 2 + random01() * exp / 2);
    if (retryAfter > delay) delay = retryAfter;
    batch.nextMs = nowMs + <u64>delay;
    this.pausedUntilMs = max(this.pausedUntilMs, batch.nextMs);
    this.retries.push(batch);
    this.retryBytes += batch.body.length;
    this.stats.retried += <u64>batch.events;
    const held = this.failLog.allow(nowMs);
    if (held >= 0) {
      logWarn("moesif: collector " + reason + "; a batch of " + batch.events.toString() + " events will be retried in " +
        delay.toString() + " ms (attempt " + (batch.attempts + 1).toString() + ")" + heldNote(held));
    }
  }

  /**
   * Batch calls that hold one of the MAX_IN_FLIGHT places. Where the host reports failures, every call in
   * flight. Before Kong 3.9 a failed call is never reported and is presumed lost only late (see
   * RESOLVER_TIMEOUT_MS), so a call past its timeout argument gives up its place: delivery goes on
   * while it may still be answered, and its batch stays held, and counted, until then.
   */
  private busyCalls(nowMs: u64): i32 {
    const reported = hostReportsFailedCalls();
    const calls = this.inFlight.values();
    let busy = 0;
    for (let i = 0; i < calls.length; i++) {
      // Only batches count: the config and rules fetches (one of each at most) take no batch's place.
      if (calls[i].batch !== null && (reported || nowMs - calls[i].sentMs < <u64>this.timeoutMs)) busy++;
    }
    return busy;
  }

  /** Calls presumed lost are failed (see RESOLVER_TIMEOUT_MS for when). */
  private expireLost(nowMs: u64): void {
    if (this.inFlight.size == 0) return;
    const limit = hostReportsFailedCalls() ? LOST_CALL_CAP_MS
      : RESOLVER_TIMEOUT_MS + LOST_CALL_STEPS * <u64>this.timeoutMs + LOST_CALL_MARGIN_MS;
    const tokens = this.inFlight.keys();
    for (let i = 0; i < tokens.length; i++) {
      const call = this.inFlight.get(tokens[i]);
      if (nowMs - call.sentMs < limit) continue;
      this.inFlight.delete(tokens[i]);
      const batch = call.batch;
      if (batch === null) {
        if (call.rules) this.rulesFetch.failed(nowMs, random01());
        else this.appConfig.failed(nowMs, random01());
        continue;
      }
      this.inFlightBytes -= batch.body.length;
      this.retry(batch, nowMs, 0, "did not answer within " + limit.toString() + " ms");
    }
  }
}

function heldNote(held: i64): string {
  return held > 0 ? " [" + held.toString() + " similar lines suppressed]" : "";
}

/** A header of the call's answer as text, "" when absent (a tag: ConfigFetch treats "" as none). */
function answerText(key: ArrayBuffer): string {
  const v = getHeaderValue(MapType.HttpCallResponseHeaders, key);
  return v.status == Status.Ok ? String.UTF8.decode(v.data!.buffer) : "";
}

function responseStatus(): i32 {
  const v = getHeaderValue(MapType.HttpCallResponseHeaders, STATUS_KEY);
  return v.status == Status.Ok ? parseStatus(v.data!) : 0;
}

/** Retry-After as a delay in ms: delta-seconds or an HTTP date; 0 when absent or unreadable. */
function retryAfterMs(nowMs: u64): i64 {
  const v = getHeaderValue(MapType.HttpCallResponseHeaders, RETRY_AFTER_KEY);
  if (v.status != Status.Ok) return 0;
  return parseRetryAfter(v.data!, nowMs);
}

export function parseRetryAfter(b: Uint8Array, nowMs: u64): i64 {
  const t = trimmed(b);
  if (t === null) return 0;
  const seconds = digits(t, 7);
  if (seconds >= 0) return min(seconds * 1000, 86400000);
  // Absurdly long waits are capped at a day: max_retry_age decides.
  let allDigits = true;
  for (let i = 0; i < t.length; i++) if (t[i] < 0x30 || t[i] > 0x39) allDigits = false;
  if (allDigits) return 86400000;
  const at = parseHttpDate(String.UTF8.decodeUnsafe(t.dataStart, t.length));
  return at > 0 && <u64>at > nowMs ? <i64>(<u64>at - nowMs) : 0;
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

