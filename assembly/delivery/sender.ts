// Delivery (docs/protocol.md). Kong lets a root context dispatch from its tick and (Kong 3.6+) from a
// call's answer, never from the log phase, and each call is a new connection. So the sender decides
// what leaves when: a full batch (batch_size events, or MAX_BATCH_BYTES) as soon as a place is free,
// at the next tick or answer; a partial one once batch_max_wait has passed since the last batch
// left, so a quiet worker sends at most one batch per batch_max_wait; as many calls in flight as
// CallLimit allows, which follows the collector's answers. Transient failures (5xx, 408, 429,
// timeouts, connection errors) are retried with exponential backoff and jitter, honouring
// Retry-After, up to max_retries attempts and max_retry_age; other answers drop the batch.
// Everything the sender holds counts against event_queue_bytes.
import { Endpoint, isIpLiteral } from "./endpoint";
import { EventQueue, BatchWriter } from "./queue";
import { Stats, LogLimiter } from "./stats";
import { utf8, decimal, trimmed, digits, parseStatus } from "../codec/bytes";
import { gzip } from "../codec/deflate";
import { random01 } from "../codec/random";
import { Sampling } from "./sampling";
import { ConfigFetch } from "./configfetch";
import { encodeHeaderMap } from "../runtime/headers";
import { Status, MapType, BufferType } from "../runtime/abi";
import { httpCall, getHeaderValue, getBufferBytes, logWarn, logInfo, logError, statusName, nowNanos } from "../runtime/host";
import { hostLearnt, hostReportsFailedCalls, hostDispatchesFromAnswers, hostParallelCalls, hostReadsAnswers } from "../runtime/hostinfo";
import { CallLimit, MAX_CALLS } from "./calllimit";
import { DropReport, DeliveryState } from "./dropreport";

/**
 * The tick's period. Before Kong 3.8 it can be set only once, so it is short: a full batch waits
 * for a free place, then at most one tick (or, on 3.6+, the next answer), and a quiet worker's
 * tick costs a callback that finds nothing to send. batch_max_wait paces partial batches, not ticks.
 */
export const TICK_MS: i32 = 20;
/** Calls tracked in all, overdue ones included (see markOverdue); their batches count as held bytes. */
const MAX_TRACKED = 2 * MAX_CALLS;
/** An answer slower than this share of the call's timeout is trouble: the collector is falling behind. */
const SLOW_SHARE: u64 = 2;
/** A batch body stays well under the collector's 50 MB limit, and a worker's memory modest. */
export const MAX_BATCH_BYTES = 2 * 1024 * 1024;
// When a call with no answer is presumed lost. Kong applies the timeout argument to each step of a
// call, not to the whole (ngx_wasm_socket_tcp.c: connect, TLS handshake, each send and each read
// have their own timer), after name resolution with its own 30 s default (resolver_timeout). Before
// 3.9 a failed call is never called back, so the sender must give up by itself, and a slow call it
// gave up on too soon would be sent twice: it waits for the steps this call has — the resolver
// unless the target is an IP address (ngx_wasm_socket_tcp_connect: an address parsed by
// ngx_parse_url is used with "no resolving"), connect, the TLS handshake only for https (only with
// sock->ssl_conf), send, the answer's headers and its body — and a second more. From 3.9 (and on
// Envoy) the host reports every failure: the call is given up only when the host has said nothing
// for 10 minutes, which no working host does.
const RESOLVER_TIMEOUT_MS: u64 = 30000;
const LOST_CALL_STEPS: u64 = 4;
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
  /** A partial batch leaves once this long has passed since the last batch left. */
  batchMaxWait: i32 = 1000;
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

/**
 * A batch keeps its events, not its body: the body is written at each attempt into the one
 * BatchWriter, which the host copies from. `bytes` (the events' sum) is what it holds for delivery.
 */
class Batch {
  attempts: i32 = 0;
  nextMs: u64 = 0;
  /** The body's size at the last attempt (gzip'd or not): what the collector was sent. */
  sentBytes: i32 = 0;
  bytes: i64 = 0;
  constructor(public events: Array<Uint8Array>, public firstMs: u64) {
    for (let i = 0; i < events.length; i++) this.bytes += events[i].length;
  }
}

/** A call in flight: a batch, or (batch null) a fetch of the application config or of the rules. */
class InFlight {
  /** Past its timeout with no word from a host that does not report failures: it holds no place. */
  overdue: bool = false;
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
  private writer: BatchWriter = new BatchWriter();
  /** When a ready batch last found every place taken (CallLimit grows only from such rounds). */
  private blockedMs: u64 = 0;
  private blocked: bool = false;
  /** Batch calls in flight that hold a place (not overdue): CallLimit bounds them. */
  private holding: i32 = 0;
  private limit: CallLimit = new CallLimit();
  private retries: Array<Batch> = [];
  private retryBytes: i64 = 0;
  private inFlightBytes: i64 = 0;
  private timeoutMs: u32;
  /** Before Kong 3.9: how long a call without an answer may still be running (see RESOLVER_TIMEOUT_MS). */
  private lostAfterMs: u64;
  /**
   * When the last partial batch left: the next waits batch_max_wait after it. Full batches do not
   * move it, so no queued event waits longer than that (it came after the last partial batch).
   */
  private lastPartialMs: u64 = 0;
  private partialSent: bool = false;
  /** No new batch leaves before this time: the collector failed and is being backed off from. */
  private pausedUntilMs: u64 = 0;
  private appConfig: ConfigFetch = new ConfigFetch();
  // The rules follow the same policy: at start, when an answer names another X-Moesif-Rules-Tag,
  // every 5 minutes; failures tried again with backoff, the last good rules kept.
  private rulesFetch: ConfigFetch = new ConfigFetch();
  private rulesHeaders: Uint8Array;
  private rulesFailing: bool = false;
  private fetchesOffSaid: bool = false;
  sink: AppDataSink | null = null;
  private lastStatsMs: u64 = 0;
  private droppedReported: u64 = 0;
  private failLog: LogLimiter = new LogLimiter();
  private dropLog: LogLimiter = new LogLimiter();
  private drops: DropReport = new DropReport();
  sampling: Sampling | null = null;

  constructor(private opts: SenderOptions, private queue: EventQueue, private stats: Stats) {
    const ep = opts.endpoint;
    // An explicit upstream (an Envoy cluster name, or a host:port) overrides the endpoint's.
    const target = opts.upstream.length > 0 ? opts.upstream : ep.upstream;
    this.upstream = String.UTF8.encode(target);
    this.timeoutMs = <u32>opts.timeoutMs;
    const tls = ep.scheme == "https";
    this.lostAfterMs = (isIpLiteral(hostOf(target)) ? 0 : RESOLVER_TIMEOUT_MS) +
      (LOST_CALL_STEPS + (tls ? 1 : 0)) * <u64>opts.timeoutMs + LOST_CALL_MARGIN_MS;
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

  /**
   * Whether an event could be queued at all: checked before the event is built, so that a worker
   * whose queue is full spends no time writing events it would drop. Counts the drop when not.
   */
  admits(): bool {
    if (this.queue.length < this.queue.maxEvents && this.heldBytes < <i64>this.opts.eventQueueBytes) return true;
    this.stats.droppedQueueFull++;
    return false;
  }

  /** Takes a finished event into the queue; a full queue counts it (reported by the next tick). */
  offer(event: Uint8Array, nowMs: u64): void {
    if (this.heldBytes + <i64>event.length <= <i64>this.opts.eventQueueBytes && this.queue.push(event)) {
      if (this.opts.debug) {
        logInfo("moesif: queued event (" + event.length.toString() + " bytes), " + this.queue.length.toString() + " in queue");
      }
      return;
    }
    this.stats.droppedQueueFull++;
  }

  /** An event too big even without its bodies (huge headers): counted and reported by the next tick. */
  tooLarge(size: i32, nowMs: u64): void {
    this.stats.droppedTooLarge++;
  }

  /** Called on every tick. */
  flush(nowMs: u64): void {
    this.expireLost(nowMs);
    // The config and the rules are in answer bodies: fetched only once the first request has told
    // which host this is, and only where a root context may read an answer's body (hostReadsAnswers).
    if (this.canFetch()) {
      if (this.appConfig.due(nowMs)) this.fetch(this.appConfig, this.configHeaders, false, nowMs);
      if (this.opts.fetchRules && this.rulesFetch.due(nowMs) && this.roomForCall()) this.fetch(this.rulesFetch, this.rulesHeaders, true, nowMs);
    }
    this.pump(nowMs);
    this.stats.exportMetrics(this.queue.length, this.inFlight.size);
    if (this.drops.due(this.stats, nowMs)) logWarn(this.drops.line(this.stats, this.state(), nowMs));
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

  /** Sends what is ready while CallLimit has places, within max_callback_time_spent. */
  private pump(nowMs: u64): void {
    this.markOverdue(nowMs);
    if (!this.roomForCall()) {
      this.noteBlocked(nowMs);
      return;
    }
    const startNs = nowNanos();
    const budgetNs = <u64>this.opts.maxCallbackTimeSpent * 1000000;
    while (this.roomForCall()) {
      const batch = this.nextBatch(nowMs);
      if (batch === null) return;
      if (!this.send(batch, nowMs)) return;
      if (nowNanos() - startNs >= budgetNs) return;
    }
    this.noteBlocked(nowMs);
  }

  /** Every place is taken: if something ready waits for one, the limit is what holds delivery back. */
  private noteBlocked(nowMs: u64): void {
    if (!this.waiting(nowMs)) return;
    this.blocked = true;
    this.blockedMs = nowMs;
  }

  /**
   * Whether another call may leave now. Where the host leaks when a root's calls overlap
   * (hostParallelCalls), one call at a time, of any kind, held until it is answered or presumed lost.
   */
  private roomForCall(): bool {
    if (!hostParallelCalls()) return this.inFlight.size == 0;
    return this.holding < this.limit.value && this.inFlight.size < MAX_TRACKED;
  }

  private get callLimit(): i32 {
    return hostParallelCalls() ? this.limit.value : 1;
  }

  private canFetch(): bool {
    if (!hostLearnt()) return false;
    if (hostReadsAnswers()) return this.roomForCall();
    if (!this.fetchesOffSaid) {
      this.fetchesOffSaid = true;
      logWarn("moesif: on this Kong (3.4/3.5) sampling from " + this.opts.endpoint.basePath + "/v1/config" +
        (this.opts.fetchRules ? " and governance rules from " + this.opts.endpoint.basePath + "/v1/rules are" : " is") +
        " off: reading an answer's body from a timer crashes the worker there (fixed in Kong 3.6); every event is sent, nothing is blocked");
    }
    return false;
  }

  /** A full batch, or a retry whose time has come, is ready to leave. */
  private waiting(nowMs: u64): bool {
    if (nowMs >= this.pausedUntilMs && this.fullBatchQueued()) return true;
    for (let i = 0; i < this.retries.length; i++) if (this.retries[i].nextMs <= nowMs) return true;
    return false;
  }

  private fullBatchQueued(): bool {
    // Half of a batch's bytes is enough to send: large events then leave in batches of about 1 MB
    // instead of piling up to 2 MB behind the one call in flight (Kong 3.7+), which fragments the
    // allocator's blocks until linear memory doubles (70 KB bodies: 8 MiB instead of 16).
    return this.queue.length >= this.opts.batchSize || this.queue.bytes >= <i64>(MAX_BATCH_BYTES / 2);
  }

  private state(): DeliveryState {
    const s = new DeliveryState();
    s.queued = this.queue.length;
    s.maxEvents = this.queue.maxEvents;
    s.heldBytes = this.heldBytes;
    s.maxBytes = this.opts.eventQueueBytes;
    s.inFlight = this.holding;
    s.limit = this.callLimit;
    return s;
  }

  /**
   * A retry whose time has come (oldest first), else a full batch from the queue, else a partial
   * one, else null. A partial batch leaves when batch_max_wait has passed since the last partial
   * one: a quiet worker sends at once, then at most one batch per batch_max_wait. "Has passed"
   * counts from the tick before: the next tick would be late.
   */
  private nextBatch(nowMs: u64): Batch | null {
    let pick = -1;
    for (let i = 0; i < this.retries.length; i++) {
      const b = this.retries[i];
      if (b.nextMs <= nowMs && (pick < 0 || b.firstMs < this.retries[pick].firstMs)) pick = i;
    }
    if (pick >= 0) {
      const b = this.retries[pick];
      this.retries.splice(pick, 1);
      this.retryBytes -= b.bytes;
      return b;
    }
    // While the collector is being backed off from, new batches wait too.
    if (nowMs < this.pausedUntilMs) return null;
    if (this.queue.length == 0) return null;
    if (!this.fullBatchQueued()) {
      if (this.partialSent && nowMs + <u64>TICK_MS < this.lastPartialMs + <u64>this.opts.batchMaxWait) return null;
      this.lastPartialMs = nowMs;
      this.partialSent = true;
    }
    const events = this.queue.take(this.opts.batchSize, MAX_BATCH_BYTES);
    if (events.length == 0) return null;
    return new Batch(events, nowMs);
  }

  private send(batch: Batch, nowMs: u64): bool {
    const raw = this.writer.join(batch.events);
    const body = this.opts.enableCompression ? gzip(raw) : raw;
    batch.sentBytes = body.length;
    const call = httpCall(this.upstream, this.batchHeaders, body, this.timeoutMs);
    if (call.status != Status.Ok) {
      // The host refused the call. It is retried with backoff like a failed one, never at the next
      // tick: on Kong each refusal from a root context also loses the fake connection NWM made for
      // it (ngx_http_proxy_wasm_dispatch's error path releases the call, not its fake request).
      this.retry(batch, nowMs, 0, "could not be called: the host refused the dispatch to " + String.UTF8.decode(this.upstream) +
        " (" + statusName(call.status) + ")");
      return false;
    }
    this.holding++;
    this.inFlight.set(call.token, new InFlight(batch, nowMs));
    this.inFlightBytes += batch.bytes;
    if (this.opts.debug) {
      logInfo("moesif: sent a batch of " + batch.events.length.toString() + " events (" + body.length.toString() + " bytes" +
        (this.opts.enableCompression ? ", " + raw.length.toString() + " before gzip" : "") + "), call " + call.token.toString() +
        (batch.attempts > 0 ? ", attempt " + (batch.attempts + 1).toString() : "") +
        ", " + this.holding.toString() + " in flight (limit " + this.callLimit.toString() + ")");
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
    if (this.opts.fetchRules && hostReadsAnswers()) this.rulesFetch.batchTag(answerText(RULES_TAG_KEY));
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
    } else {
      this.onBatchAnswer(call, batch, status, nowMs);
    }
    // The answer freed a place: what is ready leaves now rather than at the next tick, where the
    // host lets a root context dispatch from an answer.
    if (hostDispatchesFromAnswers()) this.pump(nowMs);
  }

  private onBatchAnswer(call: InFlight, batch: Batch, status: i32, nowMs: u64): void {
    this.inFlightBytes -= batch.bytes;
    if (!call.overdue) this.holding--;
    if (status >= 200 && status < 300) {
      // The limit held delivery back while this call was out (a full batch found no place since).
      const limited = this.blocked && call.sentMs <= this.blockedMs;
      if (nowMs - call.sentMs < <u64>this.timeoutMs / SLOW_SHARE) this.limit.clean(limited);
      else this.limit.trouble(call.sentMs, nowMs);
      this.noteRulesTag();
      this.stats.sent += <u64>batch.events.length;
      this.stats.batches++;
      this.stats.bytes += <u64>batch.sentBytes;
      this.pausedUntilMs = 0;
      if (hostReadsAnswers()) this.appConfig.batchTag(answerText(ETAG_KEY));
      if (this.opts.debug) logInfo("moesif: collector accepted " + batch.events.length.toString() + " events (" + status.toString() + ")");
      return;
    }
    if (status == 0 || status == 408 || status == 429 || status >= 500) {
      this.limit.trouble(call.sentMs, nowMs);
      let reason = "answered " + status.toString();
      // Only :status may be read from an answer where hostReadsAnswers() is false (Kong 3.4/3.5).
      const readable = hostReadsAnswers();
      if (status == 0) {
        const ds = readable ? getHeaderValue(MapType.HttpCallResponseHeaders, DISPATCH_STATUS_KEY) : null;
        const what = ds !== null && ds.status == Status.Ok ? String.UTF8.decode(ds.data!.buffer) : "";
        // Kong 3.9 says "ok" for a connection that ended before an answer came (a reset after the send).
        reason = what.length == 0 ? "could not be reached" : what == "ok" ? "closed the connection without answering" : "could not be reached (" + what + ")";
      }
      this.retry(batch, nowMs, status == 0 || !readable ? 0 : retryAfterMs(nowMs), reason);
      return;
    }
    // Any other answer means the batch itself was refused: sending it again would not help.
    this.stats.droppedRejected += <u64>batch.events.length;
    const held = this.dropLog.allow(nowMs);
    if (held >= 0) {
      logError("moesif: collector refused a batch of " + batch.events.length.toString() + " events with status " + status.toString() +
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
      this.stats.droppedRetries += <u64>batch.events.length;
      const held = this.dropLog.allow(nowMs);
      if (held >= 0) {
        logError("moesif: collector " + reason + "; dropped a batch of " + batch.events.length.toString() + " events after " +
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
    this.retryBytes += batch.bytes;
    this.stats.retried += <u64>batch.events.length;
    const held = this.failLog.allow(nowMs);
    if (held >= 0) {
      logWarn("moesif: collector " + reason + "; a batch of " + batch.events.length.toString() + " events will be retried in " +
        delay.toString() + " ms (attempt " + (batch.attempts + 1).toString() + ")" + heldNote(held));
    }
  }

  /**
   * Where the host reports failed calls, every batch call in flight holds its place until it is
   * answered. Before Kong 3.9 a failed call is never reported and is presumed lost only late (see
   * RESOLVER_TIMEOUT_MS), so a call past its timeout argument gives up its place — delivery goes on
   * while it may still be answered, and its batch stays held, and counted, until then — and it is
   * trouble for CallLimit: the collector is slow or gone.
   */
  private markOverdue(nowMs: u64): void {
    if (this.holding == 0 || hostReportsFailedCalls()) return;
    const calls = this.inFlight.values();
    for (let i = 0; i < calls.length; i++) {
      const call = calls[i];
      // Only batches hold places: the config and rules fetches (one of each at most) take none.
      if (call.batch === null || call.overdue || nowMs - call.sentMs < <u64>this.timeoutMs) continue;
      call.overdue = true;
      this.holding--;
      this.limit.trouble(call.sentMs, nowMs);
    }
  }

  /** Calls presumed lost are failed (see RESOLVER_TIMEOUT_MS for when). */
  private expireLost(nowMs: u64): void {
    if (this.inFlight.size == 0) return;
    const limit = hostReportsFailedCalls() ? LOST_CALL_CAP_MS : this.lostAfterMs;
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
      this.inFlightBytes -= batch.bytes;
      if (!call.overdue) this.holding--;
      this.limit.trouble(call.sentMs, nowMs);
      this.retry(batch, nowMs, 0, "did not answer within " + limit.toString() + " ms");
    }
  }
}

/** The host of a dispatch target "host:port" or "[v6]:port" (a cluster name is its own host). */
function hostOf(target: string): string {
  if (target.startsWith("[")) return target.substring(0, target.indexOf("]") + 1);
  const colon = target.lastIndexOf(":");
  return colon < 0 ? target : target.substring(0, colon);
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

