// The filter's configuration parser (assembly/filter/config.ts), exported for Node tests with a
// dump of what it made of the text: every field by its option name, so a test can tell that two
// texts (as written, and as Kong hands it over) configure the filter the same. Test-only; not shipped.
import { parseConfig, Config } from "../../assembly/filter/config";
import { ByteWriter, utf8 } from "../../assembly/codec/bytes";
import { writeJsonString } from "../../assembly/codec/jsonwrite";
import "../../assembly/runtime/abort";
import { given, answer } from "../support/wasm-io";


export { input, result_ptr, result_len } from "../support/wasm-io";

class Dump {
  w: ByteWriter = new ByteWriter();
  private first: bool = true;

  private key(name: string): ByteWriter {
    this.w.byte(this.first ? 0x7b : 0x2c);
    this.first = false;
    writeJsonString(this.w, utf8(name));
    return this.w.byte(0x3a);
  }
  str(name: string, v: string): void { writeJsonString(this.key(name), utf8(v)); }
  int(name: string, v: i32): void { this.key(name).ascii(v.toString()); }
  flag(name: string, v: bool): void { this.key(name).ascii(v ? "true" : "false"); }
  list(name: string, v: Array<string>): void {
    this.key(name).byte(0x5b);
    for (let i = 0; i < v.length; i++) {
      if (i > 0) this.w.byte(0x2c);
      writeJsonString(this.w, utf8(v[i]));
    }
    this.w.byte(0x5d);
  }
  end(): Uint8Array { return this.w.byte(0x7d).toBytes(); }
}

function dump(c: Config): Uint8Array {
  const d = new Dump();
  d.str("application_id", c.applicationId);
  d.str("api_endpoint", c.apiEndpoint);
  d.str("api_version", c.apiVersion);
  d.flag("debug", c.debug);
  d.int("batch_size", c.batchSize);
  d.int("batch_max_wait", c.batchMaxWait);
  d.int("event_queue_size", c.eventQueueSize);
  d.int("event_queue_bytes", c.eventQueueBytes);
  d.int("max_callback_time_spent", c.maxCallbackTimeSpent);
  d.int("max_retries", c.maxRetries);
  d.int("max_retry_age", c.maxRetryAge);
  d.int("connect_timeout", c.connectTimeout);
  d.int("send_timeout", c.sendTimeout);
  d.int("timeout", c.timeout);
  d.int("keepalive", c.keepalive);
  d.flag("enable_compression", c.enableCompression);
  d.str("upstream", c.upstream);
  d.int("request_max_body_size_limit", c.requestMaxBodySizeLimit);
  d.int("response_max_body_size_limit", c.responseMaxBodySizeLimit);
  d.flag("disable_capture_request_body", c.disableCaptureRequestBody);
  d.flag("disable_capture_response_body", c.disableCaptureResponseBody);
  d.flag("disable_gzip_payload_decompression", c.disableGzipPayloadDecompression);
  d.flag("disable_transaction_id", c.disableTransactionId);
  d.flag("disable_governance", c.disableGovernance);
  d.list("request_header_masks", c.requestHeaderMasks);
  d.list("response_header_masks", c.responseHeaderMasks);
  // The deprecated aliases request_masks and response_masks are merged into these two.
  d.list("request_body_masks", c.requestBodyMasks);
  d.list("response_body_masks", c.responseBodyMasks);
  d.list("request_query_masks", c.requestQueryMasks);
  d.str("user_id_header", c.userIdHeader);
  d.str("company_id_header", c.companyIdHeader);
  d.str("session_token_header", c.sessionTokenHeader);
  d.str("authorization_header_name", c.authorizationHeaderName);
  d.str("authorization_user_id_field", c.authorizationUserIdField);
  d.str("authorization_company_id_field", c.authorizationCompanyIdField);
  d.flag("use_consumer_headers", c.useConsumerHeaders);
  return d.end();
}

/** 1 with the dump as the result, or 0 with the errors (a JSON array of strings). */
export function parse_config(): i32 {
  const r = parseConfig(given());
  if (r.config === null) {
    const w = new ByteWriter();
    w.byte(0x5b);
    for (let i = 0; i < r.errors.length; i++) {
      if (i > 0) w.byte(0x2c);
      writeJsonString(w, utf8(r.errors[i]));
    }
    answer(w.byte(0x5d).toBytes());
    return 0;
  }
  answer(dump(r.config!));
  return 1;
}
