// One root context per filter configuration (per Kong filter chain): it owns the parsed config, the
// event queue and the sender, and flushes on its tick.
import { RootContext, HttpContext } from "../runtime/context";
import { BufferType, Status } from "../runtime/abi";
import { getBufferBytes, setTickPeriod, logError, logWarn, logInfo, nowNanos, statusName } from "../runtime/host";
import { Config, parseConfig } from "./config";
import { EventQueue } from "./queue";
import { Sender } from "./sender";
import { Stats, LogLimiter } from "./stats";
import { EventOptions } from "./event";
import { IdentityConfig } from "./identify";
import { MaskSet } from "./jsonscan";
import { utf8 } from "./bytes";
import { MoesifHttp } from "./capture";
import { FILTER_VERSION } from "./version";

export class MoesifRoot extends RootContext {
  config: Config | null = null;
  queue: EventQueue = new EventQueue(1);
  sender: Sender | null = null;
  stats: Stats = new Stats();
  eventOptions: EventOptions = new EventOptions();
  identity: IdentityConfig = new IdentityConfig();
  private tickSet: bool = false;
  private queueFullLog: LogLimiter = new LogLimiter();
  private tooLargeLog: LogLimiter = new LogLimiter();

  onConfigure(configSize: u32): bool {
    let text = new Uint8Array(0);
    if (configSize > 0) {
      const got = getBufferBytes(BufferType.PluginConfiguration, 0, configSize);
      if (got.status == Status.Ok) text = got.data!;
      else if (got.status != Status.NotFound) {
        logError("moesif: could not read the filter configuration (" + statusName(got.status) + "); filter disabled, traffic passes untouched");
        return true;
      }
    }
    const result = parseConfig(text);
    const config = result.config;
    if (config === null) {
      logError("moesif: invalid configuration: " + result.errors.join("; ") + "; filter disabled, traffic passes untouched");
      this.config = null;
      this.sender = null;
      return true;
    }
    this.config = config;
    this.queue = new EventQueue(config.eventQueueSize);
    this.sender = new Sender(config, this.queue, this.stats);
    this.eventOptions = eventOptionsFor(config);
    this.identity = identityFor(config);
    // Kong traps on a second non-zero tick period for the same root.
    if (!this.tickSet) {
      const st = setTickPeriod(<u32>config.batchMaxWait);
      if (st == Status.Ok) this.tickSet = true;
      else logError("moesif: could not set the tick period (" + statusName(st) + "); events cannot be sent");
    }
    logInfo("moesif: filter " + FILTER_VERSION + " configured for " + (config.upstream.length > 0 ? config.upstream : config.endpoint.upstream) +
      " (batch_size " + config.batchSize.toString() + ", event_queue_size " + config.eventQueueSize.toString() +
      ", event_queue_bytes " + config.eventQueueBytes.toString() + (config.enableCompression ? ", gzip" : "") + ")");
    return true;
  }

  onTick(): void {
    const sender = this.sender;
    if (sender === null) return;
    sender.flush(nowNanos() / 1000000);
  }

  onHttpCallResponse(token: u32, headerCount: u32, bodySize: u32, trailerCount: u32): void {
    const sender = this.sender;
    if (sender === null) return;
    sender.onResponse(token, bodySize);
  }

  newHttpContext(id: u32): HttpContext {
    if (this.config === null) return new HttpContext(id, this.id);
    return new MoesifHttp(id, this);
  }

  /** An event too big even without its bodies (huge headers): counted and reported. */
  dropTooLarge(size: i32, nowMs: u64): void {
    this.stats.droppedTooLarge++;
    const held = this.tooLargeLog.allow(nowMs);
    if (held >= 0) {
      logWarn("moesif: dropped an event of " + size.toString() + " bytes even without its bodies (the collector takes 1 MB per event); " +
        this.stats.droppedTooLarge.toString() + " dropped so far");
    }
  }

  /** Hands a finished event to the queue; counts and (rate-limited) reports a full queue. */
  enqueue(event: Uint8Array, nowMs: u64): void {
    const sender = this.sender!;
    if (sender.heldBytes + <i64>event.length <= <i64>this.config!.eventQueueBytes && this.queue.push(event)) {
      if (this.config !== null && this.config!.debug) {
        logInfo("moesif: queued event (" + event.length.toString() + " bytes), " + this.queue.length.toString() + " in queue");
      }
      return;
    }
    this.stats.droppedQueueFull++;
    const held = this.queueFullLog.allow(nowMs);
    if (held >= 0) {
      logWarn("moesif: event queue full (" + this.queue.length.toString() + " of " + this.queue.maxEvents.toString() +
        " events, " + sender.heldBytes.toString() + " of " + this.config!.eventQueueBytes.toString() +
        " bytes held); dropping new events (" + this.stats.droppedQueueFull.toString() + " dropped so far" +
        (held > 0 ? ", " + held.toString() + " similar lines suppressed" : "") + ")");
    }
  }
}

function bytesList(names: Array<string>): Array<Uint8Array> {
  const out = new Array<Uint8Array>();
  for (let i = 0; i < names.length; i++) if (names[i].length > 0) out.push(utf8(names[i]));
  return out;
}

/** Everything the event writer needs from the configuration, as bytes, once per configuration. */
export function eventOptionsFor(config: Config): EventOptions {
  const o = new EventOptions();
  o.apiVersion = config.apiVersion;
  o.requestHeaderMasks = bytesList(config.requestHeaderMasks);
  o.responseHeaderMasks = bytesList(config.responseHeaderMasks);
  o.queryMasks = bytesList(config.requestQueryMasks);
  o.requestBody.masks = MaskSet.of(config.requestBodyMasks);
  o.requestBody.limit = config.requestMaxBodySizeLimit;
  o.requestBody.limitName = "request_max_body_size_limit";
  o.requestBody.masksName = "request_body_masks";
  o.requestBody.decompress = !config.disableGzipPayloadDecompression;
  o.responseBody.masks = MaskSet.of(config.responseBodyMasks);
  o.responseBody.limit = config.responseMaxBodySizeLimit;
  o.responseBody.limitName = "response_max_body_size_limit";
  o.responseBody.masksName = "response_body_masks";
  o.responseBody.decompress = !config.disableGzipPayloadDecompression;
  return o;
}

export function identityFor(config: Config): IdentityConfig {
  const id = new IdentityConfig();
  id.userIdHeader = config.userIdHeader.length > 0 ? utf8(config.userIdHeader) : null;
  id.companyIdHeader = config.companyIdHeader.length > 0 ? utf8(config.companyIdHeader) : null;
  id.sessionTokenHeader = config.sessionTokenHeader.length > 0 ? utf8(config.sessionTokenHeader) : null;
  id.sessionTokenMasked = config.sessionTokenHeader.length > 0 && config.requestHeaderMasks.includes(config.sessionTokenHeader);
  const names = config.authorizationHeaderName.split(",");
  for (let i = 0; i < names.length; i++) {
    const n = names[i].trim();
    if (n.length > 0) id.authorizationHeaders.push(utf8(n));
  }
  id.userIdField = config.authorizationUserIdField;
  id.companyIdField = config.authorizationCompanyIdField;
  return id;
}
