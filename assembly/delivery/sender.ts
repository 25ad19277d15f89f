// The host-facing side of delivery: a thin adapter that carries out what the core (core.ts)
// decides. It reads the clock (through MonoClock: never back, leaps capped), the host's profile
// (runtime/hostinfo.ts, once the first request has told it), and answers — only `:status` where
// the profile forbids more — and makes the calls, the log lines and the metrics the core asks for.
// Kong lets a root context dispatch from its tick, never from the log phase, and (leak-free) from
// an answer only on Envoy; each call is a new connection.
import { EventQueue } from "./queue";
import { Stats } from "./stats";
import { utf8, parseStatus } from "../codec/bytes";
import { Sampling } from "./sampling";
import { encodeHeaderMap } from "../runtime/headers";
import { Status, MapType, BufferType } from "../runtime/abi";
import { httpCall, getHeaderValue, getBufferBytes, log, logWarn, logInfo, statusName, nowNanos } from "../runtime/host";
import { hostLearnt, hostProfile } from "../runtime/hostinfo";
import { HostProfile } from "../runtime/profile";
import { DeliveryCore } from "./core";
import { Outcome, AppData, CMD_LOG, CMD_DISPATCH, CMD_METRICS } from "./commands";
import { KIND_BATCH, KIND_RULES } from "./inflight";
import { SenderOptions } from "./options";
import { MonoClock } from "./clock";
import { MetricsExport } from "./metrics";
import { parseRetryAfter } from "./retry";

export { SenderOptions, TICK_MS, MAX_BATCH_BYTES } from "./options";
export { parseRetryAfter, parseHttpDate } from "./retry";

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

export class Sender extends AppData {
  private core: DeliveryCore;
  private clock: MonoClock = new MonoClock();
  private profile: HostProfile = new HostProfile();
  private metrics: MetricsExport = new MetricsExport();
  private upstream: ArrayBuffer;
  private batchHeaders: Uint8Array;
  private configHeaders: Uint8Array;
  private rulesHeaders: Uint8Array;
  sink: AppDataSink | null = null;
  sampling: Sampling | null = null;

  constructor(private opts: SenderOptions, queue: EventQueue, private stats: Stats) {
    super();
    this.core = new DeliveryCore(opts, queue, stats);
    const ep = opts.endpoint;
    this.upstream = String.UTF8.encode(opts.target);
    const common: Array<Uint8Array> = [utf8(":authority"), utf8(":scheme"), utf8("x-moesif-application-id"), utf8("user-agent")];
    const commonValues: Array<Uint8Array> = [utf8(ep.authority), utf8(ep.scheme), utf8(opts.applicationId), utf8(opts.userAgent)];
    const keys = [utf8(":method"), utf8(":path"), utf8("content-type")].concat(common);
    const values = [utf8("POST"), utf8(ep.basePath + "/v1/events/batch"), utf8("application/json")].concat(commonValues);
    if (opts.enableCompression) {
      keys.push(utf8("content-encoding"));
      values.push(utf8("gzip"));
    }
    this.batchHeaders = encodeHeaderMap(keys, values);
    const get = [utf8(":method"), utf8(":path"), utf8("accept")].concat(common);
    this.configHeaders = encodeHeaderMap(get, [utf8("GET"), utf8(ep.basePath + "/v1/config"), utf8("application/json")].concat(commonValues));
    this.rulesHeaders = encodeHeaderMap(get, [utf8("GET"), utf8(ep.basePath + "/v1/rules"), utf8("application/json")].concat(commonValues));
    this.core.data = this;
  }

  /** Whether an event could be queued at all: checked before it is built. Counts the drop when not. */
  admits(): bool {
    return this.core.admits();
  }

  /** Takes a finished event into the queue; a full queue counts it (reported by a later tick). */
  offer(event: Uint8Array): void {
    if (this.core.offer(event) && this.opts.debug) {
      logInfo("moesif: queued event (" + event.length.toString() + " bytes), " + this.core.queue.length.toString() + " in queue");
    }
  }

  /** An event too big even without its bodies (huge headers): counted and reported by a later tick. */
  tooLarge(): void {
    this.stats.droppedTooLarge++;
  }

  /** Called on every tick with the host's wall time. */
  flush(wallMs: u64): void {
    if (!this.profile.known && hostLearnt()) {
      this.profile = hostProfile();
      this.core.setProfile(this.profile);
    }
    const nowMs = this.clock.read(<i64>wallMs);
    this.core.tick(nowMs);
    this.run(nowMs, true);
  }

  onResponse(token: u32, bodySize: u32): void {
    const kind = this.core.kindOf(token);
    if (kind == 0) return;
    const nowMs = this.clock.read(<i64>(nowNanos() / 1000000));
    this.core.answered(token, this.read(kind, bodySize), nowMs);
    // What is ready leaves now rather than at the next tick only where the host lets a root
    // context dispatch from an answer without a leak (hostDispatchesFromAnswers: Envoy).
    this.run(nowMs, this.profile.dispatchesFromAnswers);
  }

  /** Carries out the core's commands, dispatching within max_callback_time_spent. */
  private run(nowMs: i64, dispatch: bool): void {
    const startNs = nowNanos();
    const budgetNs = <u64>this.opts.maxCallbackTimeSpent * 1000000;
    let cmd = this.core.poll(nowMs, dispatch);
    while (cmd !== null) {
      if (cmd.kind == CMD_LOG) {
        log(<u32>cmd.level, cmd.text);
      } else if (cmd.kind == CMD_METRICS) {
        if (this.profile.metrics) this.metrics.export(this.stats, this.core.queue.length, this.core.table.size);
      } else if (cmd.kind == CMD_DISPATCH) {
        const headers = cmd.call == KIND_BATCH ? this.batchHeaders : cmd.call == KIND_RULES ? this.rulesHeaders : this.configHeaders;
        const call = httpCall(this.upstream, headers, cmd.body, <u32>cmd.timeoutMs);
        if (call.status == Status.Ok) this.core.dispatched(call.token, nowMs);
        else this.core.refused(statusName(call.status), nowMs);
        if (nowNanos() - startNs >= budgetNs) dispatch = false;
      }
      cmd = this.core.poll(nowMs, dispatch);
    }
  }

  /** The answer to call `token`, as far as the host lets a root context read it. */
  private read(kind: i32, bodySize: u32): Outcome {
    const o = new Outcome();
    // No :status is a failed call (Kong 3.9 calls back with only :dispatch_status).
    const st = getHeaderValue(MapType.HttpCallResponseHeaders, STATUS_KEY);
    o.status = st.status == Status.Ok ? parseStatus(st.data!) : 0;
    // Only :status may be read from an answer where the host profile says so (Kong 3.4/3.5, unknown hosts).
    if (!this.profile.readsAnswers) return o;
    if (o.status == 0) {
      o.failure = answerText(DISPATCH_STATUS_KEY);
      o.timedOut = o.failure == "timeout";
      return o;
    }
    o.configTag = answerText(ETAG_KEY);
    o.rulesTag = answerText(RULES_TAG_KEY);
    if (kind == KIND_BATCH) {
      const ra = getHeaderValue(MapType.HttpCallResponseHeaders, RETRY_AFTER_KEY);
      // An HTTP date is against wall time; the delay is then on the core's clock.
      if (ra.status == Status.Ok) o.retryAfterMs = parseRetryAfter(ra.data!, <i64>(nowNanos() / 1000000));
    } else if (o.status >= 200 && o.status < 300) {
      const body = getBufferBytes(BufferType.HttpCallResponseBody, 0, bodySize);
      if (body.status == Status.Ok) o.body = body.data;
    }
    return o;
  }

  /** AppData: a fetched application config (sampling here, cohorts for the sink). */
  config(body: Uint8Array): bool {
    const parsed = Sampling.parse(body);
    if (parsed === null) {
      logWarn("moesif: the application config from the collector is not a JSON object; " +
        (this.sampling === null ? "sampling keeps every event" : "the last config stays in force"));
      return false;
    }
    const sink = this.sink;
    if (sink !== null) sink.config(body);
    for (let i = 0; i < parsed.warnings.length; i++) logWarn("moesif: application config: " + parsed.warnings[i]);
    this.sampling = parsed.keepsAll ? null : parsed;
    return true;
  }

  /** AppData: fetched governance rules. */
  rules(body: Uint8Array): bool {
    const sink = this.sink;
    return sink !== null && sink.rules(body);
  }
}

/** A header of the call's answer as text, "" when absent (a tag: ConfigFetch treats "" as none). */
function answerText(key: ArrayBuffer): string {
  const v = getHeaderValue(MapType.HttpCallResponseHeaders, key);
  return v.status == Status.Ok ? String.UTF8.decode(v.data!.buffer) : "";
}
