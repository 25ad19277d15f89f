// One root context per filter configuration (per Kong filter chain): it owns the parsed config, the
// event queue and the sender, and flushes on its tick. Its HTTP contexts get a CallSettings, not
// the root itself.
import { RootContext, HttpContext } from "../runtime/context";
import { BufferType, Status } from "../runtime/abi";
import { getBufferBytes, setTickPeriod, logError, logInfo, nowNanos, statusName } from "../runtime/host";
import { Config, parseConfig } from "./config";
import { EventQueue } from "../delivery/queue";
import { Sender, SenderOptions, TICK_MS } from "../delivery/sender";
import { Stats } from "../delivery/stats";
import { EventOptions } from "../event/event";
import { IdentityConfig } from "../capture/identify";
import { MaskSet } from "../codec/jsonscan";
import { utf8 } from "../codec/bytes";
import { MoesifHttp } from "./http";
import { CallSettings } from "./settings";
import { RuleStore } from "./rulestore";
import { FILTER_NAME, FILTER_VERSION } from "./version";

export class MoesifRoot extends RootContext {
  private settings: CallSettings | null = null;
  private sender: Sender | null = null;
  private stats: Stats = new Stats();
  private tickSet: bool = false;

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
      this.settings = null;
      this.sender = null;
      return true;
    }
    const sender = new Sender(senderOptionsFor(config), new EventQueue(config.eventQueueSize), this.stats);
    this.sender = sender;
    const governance: RuleStore | null = config.disableGovernance ? null : new RuleStore();
    sender.sink = governance;
    this.settings = new CallSettings(config, eventOptionsFor(config), identityFor(config), sender, this.stats, governance);
    // Kong traps on a second non-zero tick period for the same root (before 3.8 it cannot change).
    if (!this.tickSet) {
      const st = setTickPeriod(<u32>min(TICK_MS, config.batchMaxWait));
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
    const settings = this.settings;
    if (settings === null) return new HttpContext(id, this.id);
    return new MoesifHttp(id, this.id, settings);
  }
}

/** What delivery needs of the configuration. */
export function senderOptionsFor(config: Config): SenderOptions {
  const o = new SenderOptions();
  o.applicationId = config.applicationId;
  o.endpoint = config.endpoint;
  o.upstream = config.upstream;
  o.userAgent = FILTER_NAME + "/" + FILTER_VERSION;
  o.batchSize = config.batchSize;
  o.batchMaxWait = config.batchMaxWait;
  o.maxCallbackTimeSpent = config.maxCallbackTimeSpent;
  o.timeoutMs = max(config.connectTimeout, config.sendTimeout);
  o.maxRetries = config.maxRetries;
  o.maxRetryAge = config.maxRetryAge;
  o.eventQueueBytes = config.eventQueueBytes;
  o.enableCompression = config.enableCompression;
  o.debug = config.debug;
  o.fetchRules = !config.disableGovernance;
  return o;
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
  id.consumerHeaders = config.useConsumerHeaders;
  return id;
}
