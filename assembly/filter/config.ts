// The filter configuration: parsed once per root context, by one pure function, into a typed object
// with defaults. It never throws: problems come back as messages naming the field, so the host layer
// can log them and keep traffic flowing.
import { JsonParser, JValue, JKind, JObject, JString, JBool, JNumber, JArray } from "../codec/json";
import { Endpoint, parseEndpoint, isIpLiteral } from "../delivery/endpoint";
import { asciiLower, ByteWriter, utf8 } from "../codec/bytes";
import { writeJsonString } from "../codec/jsonwrite";

export class Config {
  applicationId: string = "";
  apiEndpoint: string = "https://api.moesif.net";
  endpoint: Endpoint = new Endpoint();
  apiVersion: string = "";
  debug: bool = false;

  // From Kong 3.7 a root context can have one call in flight at a time (runtime/hostinfo.ts,
  // hostParallelCalls), so a worker delivers at most batch_size events per round trip: 500 keeps
  // up with 2,000 events/s against a collector that answers in 200 ms (README, "High traffic").
  batchSize: i32 = 500;
  batchMaxWait: i32 = 1000;
  eventQueueSize: i32 = 10000;
  eventQueueBytes: i32 = 4 * 1024 * 1024;
  maxRetries: i32 = 6;
  maxRetryAge: i32 = 600000;
  upstream: string = "";
  maxCallbackTimeSpent: i32 = 750;
  connectTimeout: i32 = 1000;
  sendTimeout: i32 = 5000;
  timeout: i32 = 1000;
  keepalive: i32 = 5000;
  enableCompression: bool = false;

  requestMaxBodySizeLimit: i32 = 100000;
  responseMaxBodySizeLimit: i32 = 100000;
  disableCaptureRequestBody: bool = false;
  disableCaptureResponseBody: bool = false;
  disableGzipPayloadDecompression: bool = false;
  disableTransactionId: bool = false;
  disableGovernance: bool = false;

  requestHeaderMasks: Array<string> = [];
  responseHeaderMasks: Array<string> = [];
  requestBodyMasks: Array<string> = [];
  responseBodyMasks: Array<string> = [];
  requestQueryMasks: Array<string> = [];

  userIdHeader: string = "";
  companyIdHeader: string = "";
  sessionTokenHeader: string = "";
  authorizationHeaderName: string = "authorization";
  authorizationUserIdField: string = "sub";
  authorizationCompanyIdField: string = "";
  /** Whether Kong's X-Consumer-* request headers may name the user (see capture/identify.ts). */
  useConsumerHeaders: bool = true;
}

export class ConfigResult {
  config: Config | null = null;
  errors: Array<string> = [];
}

const INT_MAX: f64 = 2147483647;

class Reader {
  constructor(public obj: JObject, public result: ConfigResult) {}

  private seen: Array<string> = [];

  private take(name: string): JValue | null {
    this.seen.push(name);
    return this.obj.get(name);
  }

  private error(name: string, msg: string): void {
    this.result.errors.push(name + ": " + msg);
  }

  str(name: string, def: string): string {
    const v = this.take(name);
    if (v === null) return def;
    if (v.kind != JKind.String) { this.error(name, "must be a string"); return def; }
    return v.asString().value;
  }

  bool(name: string, def: bool): bool {
    const v = this.take(name);
    if (v === null) return def;
    if (v.kind != JKind.Bool) { this.error(name, "must be true or false"); return def; }
    return v.asBool().value;
  }

  int(name: string, def: i32, lo: i32, hi: i32 = <i32>INT_MAX): i32 {
    const v = this.take(name);
    if (v === null) return def;
    if (v.kind != JKind.Number) { this.error(name, "must be a number"); return def; }
    const n = v.asNumber().value;
    if (n != Math.floor(n) || !isFinite(n)) { this.error(name, "must be a whole number"); return def; }
    if (n < <f64>lo || n > <f64>hi) {
      this.error(name, "must be between " + lo.toString() + " and " + hi.toString());
      return def;
    }
    return <i32>n;
  }

  strings(name: string): Array<string> {
    const out = new Array<string>();
    const v = this.take(name);
    if (v === null) return out;
    // Kong hands the filter its stored Lua table re-encoded with cjson.safe.encode (kong/runloop/
    // wasm.lua: serialize_configuration from 3.9.0, inline where the filter chains are built in
    // 3.5.0-3.8.1), and that table was decoded without array_mt, so `[]` and `{}` are the same
    // empty table and it comes out as `{}`: an empty list, and the only object that is one.
    if (v.kind == JKind.Object && v.asObject().keys.length == 0) return out;
    if (v.kind != JKind.Array) { this.error(name, "must be an array of strings"); return out; }
    const items = v.asArray().items;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (item.kind != JKind.String) { this.error(name, "must be an array of strings"); return new Array<string>(); }
      out.push(item.asString().value);
    }
    return out;
  }

  /**
   * A list of names a mask matches exactly. A name that is empty or has spaces around it would
   * never match what it was meant to hide: it is refused, never trimmed into something else.
   */
  maskNames(name: string): Array<string> {
    const out = this.strings(name);
    for (let i = 0; i < out.length; i++) {
      const m = out[i];
      if (m.length == 0 || isConfigSpace(m.charCodeAt(0)) || isConfigSpace(m.charCodeAt(m.length - 1))) {
        this.error(name, quoted(m) + " is empty or has spaces around it; a mask matches a name exactly, so remove them");
        return new Array<string>();
      }
    }
    return out;
  }

  /** Names present in the object that no field read. */
  unknown(): Array<string> {
    const out = new Array<string>();
    for (let i = 0; i < this.obj.keys.length; i++) {
      const k = this.obj.keys[i];
      if (!this.seen.includes(k) && !out.includes(k)) out.push(k);
    }
    return out;
  }
}

/** A configured value in an error message, as a JSON string: a newline in it cannot start a forged log line. */
function quoted(s: string): string {
  const w = new ByteWriter();
  writeJsonString(w, utf8(s));
  return String.UTF8.decode(w.toBytes().buffer);
}

/** The whitespace moesif.meta.json's mask pattern refuses at either end of a name. */
function isConfigSpace(c: i32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d || c == 0x0c || c == 0x0b;
}

/**
 * The Application Id goes out as a header on every batch: printable ASCII, nothing around it. (A
 * NUL, CR or LF would make every dispatch fail; a blank one only fails at the collector.)
 */
function validApplicationId(id: string): bool {
  if (id.length == 0) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return id.charCodeAt(0) != 0x20 && id.charCodeAt(id.length - 1) != 0x20;
}

function lowerAll(list: Array<string>): Array<string> {
  const out = new Array<string>(list.length);
  for (let i = 0; i < list.length; i++) out[i] = asciiLower(list[i]);
  return out;
}

function concat(a: Array<string>, b: Array<string>): Array<string> {
  const out = a.slice(0);
  for (let i = 0; i < b.length; i++) if (!out.includes(b[i])) out.push(b[i]);
  return out;
}

/** Parses the JSON text Kong hands to on_configure. `config` is null exactly when `errors` is not empty. */
export function parseConfig(text: Uint8Array): ConfigResult {
  const result = new ConfigResult();
  if (text.length == 0) {
    result.errors.push("configuration is empty: application_id is required");
    return result;
  }
  const parser = new JsonParser(text);
  const root = parser.parse();
  if (root === null) {
    result.errors.push("configuration is not valid JSON (" + parser.error + ")");
    return result;
  }
  if (root.kind != JKind.Object) {
    result.errors.push("configuration must be a JSON object");
    return result;
  }
  const r = new Reader(root.asObject(), result);
  const c = new Config();

  c.applicationId = r.str("application_id", "");
  if (c.applicationId.length == 0 && result.errors.length == 0) {
    result.errors.push("application_id: is required (your Moesif Application Id)");
  } else if (c.applicationId.length > 0 && !validApplicationId(c.applicationId)) {
    result.errors.push("application_id: must be printable ASCII with no spaces around it and no control characters " +
      "(your Moesif Application Id, as the portal shows it)");
  }
  c.apiEndpoint = r.str("api_endpoint", c.apiEndpoint);
  const ep = parseEndpoint(c.apiEndpoint);
  if (ep === null) result.errors.push("api_endpoint: must be an http:// or https:// URL with a host, got " + quoted(c.apiEndpoint));
  else if (ep.scheme == "https" && isIpLiteral(ep.host)) {
    result.errors.push("api_endpoint: an https:// endpoint needs a host name, not an IP address (Kong takes TLS SNI from the host " +
      "and cannot send to " + ep.host + "); use the collector's name, or http:// for a collector without TLS");
  } else c.endpoint = ep;
  c.apiVersion = r.str("api_version", c.apiVersion);
  c.debug = r.bool("debug", c.debug);

  c.batchSize = r.int("batch_size", c.batchSize, 1, 10000);
  c.batchMaxWait = r.int("batch_max_wait", c.batchMaxWait, 100, 60000);
  c.eventQueueSize = r.int("event_queue_size", c.eventQueueSize, 1, 1000000);
  c.eventQueueBytes = r.int("event_queue_bytes", c.eventQueueBytes, 65536, 1073741824);
  c.maxRetries = r.int("max_retries", c.maxRetries, 0, 100);
  c.maxRetryAge = r.int("max_retry_age", c.maxRetryAge, 0, 86400000);
  c.upstream = r.str("upstream", c.upstream);
  c.maxCallbackTimeSpent = r.int("max_callback_time_spent", c.maxCallbackTimeSpent, 1, 60000);
  c.connectTimeout = r.int("connect_timeout", c.connectTimeout, 1, 600000);
  c.sendTimeout = r.int("send_timeout", c.sendTimeout, 1, 600000);
  c.timeout = r.int("timeout", c.timeout, 1, 600000);
  c.keepalive = r.int("keepalive", c.keepalive, 0, 600000);
  c.enableCompression = r.bool("enable_compression", c.enableCompression);

  c.requestMaxBodySizeLimit = r.int("request_max_body_size_limit", c.requestMaxBodySizeLimit, 0, 50000000);
  c.responseMaxBodySizeLimit = r.int("response_max_body_size_limit", c.responseMaxBodySizeLimit, 0, 50000000);
  c.disableCaptureRequestBody = r.bool("disable_capture_request_body", c.disableCaptureRequestBody);
  c.disableCaptureResponseBody = r.bool("disable_capture_response_body", c.disableCaptureResponseBody);
  c.disableGzipPayloadDecompression = r.bool("disable_gzip_payload_decompression", c.disableGzipPayloadDecompression);
  c.disableTransactionId = r.bool("disable_transaction_id", c.disableTransactionId);
  c.disableGovernance = r.bool("disable_governance", c.disableGovernance);

  c.requestHeaderMasks = lowerAll(r.maskNames("request_header_masks"));
  c.responseHeaderMasks = lowerAll(r.maskNames("response_header_masks"));
  c.requestBodyMasks = concat(r.maskNames("request_body_masks"), r.maskNames("request_masks"));
  c.responseBodyMasks = concat(r.maskNames("response_body_masks"), r.maskNames("response_masks"));
  c.requestQueryMasks = r.maskNames("request_query_masks");

  c.userIdHeader = asciiLower(r.str("user_id_header", c.userIdHeader));
  c.companyIdHeader = asciiLower(r.str("company_id_header", c.companyIdHeader));
  c.sessionTokenHeader = asciiLower(r.str("session_token_header", c.sessionTokenHeader));
  c.authorizationHeaderName = asciiLower(r.str("authorization_header_name", c.authorizationHeaderName));
  c.authorizationUserIdField = r.str("authorization_user_id_field", c.authorizationUserIdField);
  c.authorizationCompanyIdField = r.str("authorization_company_id_field", c.authorizationCompanyIdField);
  c.useConsumerHeaders = r.bool("use_consumer_headers", c.useConsumerHeaders);

  // Unknown fields are errors, as in moesif.meta.json: a misspelt mask must not silently send what
  // it was meant to hide.
  const unknown = r.unknown();
  for (let i = 0; i < unknown.length; i++) result.errors.push(unknown[i] + ": is not a field of this filter");

  if (result.errors.length == 0) result.config = c;
  return result;
}
