// Sends queued events to the collector from on_tick (the only place Kong lets a filter dispatch):
// one JSON array per batch, POSTed with proxy_http_call to {api_endpoint}/v1/events/batch.
import { Config } from "./config";
import { EventQueue, joinBatch } from "./queue";
import { Stats } from "./stats";
import { utf8 } from "./bytes";
import { encodeHeaderMap } from "../runtime/headers";
import { Status, MapType } from "../runtime/abi";
import { httpCall, getHeaderValue, logWarn, logInfo, statusName } from "../runtime/host";
import { FILTER_NAME, FILTER_VERSION } from "./version";

/** At most this many batches wait for an answer at once. */
const MAX_IN_FLIGHT = 4;
/** A call with no answer this long after its timeout is given up (Kong < 3.9 never calls back on failure). */
const LOST_CALL_MARGIN_MS: u64 = 2000;

class InFlight {
  constructor(public events: i32, public sentMs: u64) {}
}

const STATUS_KEY = String.UTF8.encode(":status");

export class Sender {
  private headers: Uint8Array;
  private upstream: ArrayBuffer;
  private inFlight: Map<u32, InFlight> = new Map<u32, InFlight>();
  private timeoutMs: u32;

  constructor(private config: Config, private queue: EventQueue, private stats: Stats) {
    const ep = config.endpoint;
    this.upstream = String.UTF8.encode(ep.upstream);
    this.timeoutMs = <u32>max(config.connectTimeout, config.sendTimeout);
    const keys: Array<Uint8Array> = [
      utf8(":method"), utf8(":path"), utf8(":authority"), utf8(":scheme"),
      utf8("content-type"), utf8("x-moesif-application-id"), utf8("user-agent"),
    ];
    const values: Array<Uint8Array> = [
      utf8("POST"), utf8(ep.basePath + "/v1/events/batch"), utf8(ep.authority), utf8(ep.scheme),
      utf8("application/json"), utf8(config.applicationId), utf8(FILTER_NAME + "/" + FILTER_VERSION),
    ];
    this.headers = encodeHeaderMap(keys, values);
  }

  get pending(): i32 {
    return this.inFlight.size;
  }

  /** Called on every tick: gives up lost calls, then sends what the queue holds. */
  flush(nowMs: u64): void {
    this.expireLost(nowMs);
    while (this.queue.length > 0 && this.inFlight.size < MAX_IN_FLIGHT) {
      const events = this.queue.take(this.config.batchSize);
      const body = joinBatch(events);
      const call = httpCall(this.upstream, this.headers, body, this.timeoutMs);
      if (call.status != Status.Ok) {
        // The host refused the call (bad upstream, no memory…): keep the events for the next tick.
        this.queue.putBack(events);
        logWarn("moesif: could not dispatch a batch to " + this.config.endpoint.upstream + " (" +
          statusName(call.status) + "); " + this.queue.length.toString() + " events wait in the queue");
        return;
      }
      this.inFlight.set(call.token, new InFlight(events.length, nowMs));
      if (this.config.debug) {
        logInfo("moesif: sent a batch of " + events.length.toString() + " events (" + body.length.toString() +
          " bytes), call " + call.token.toString());
      }
    }
  }

  onResponse(token: u32, headerCount: u32, bodySize: u32): void {
    if (!this.inFlight.has(token)) return;
    const call = this.inFlight.get(token);
    this.inFlight.delete(token);
    let status = 0;
    if (headerCount > 0) {
      const v = getHeaderValue(MapType.HttpCallResponseHeaders, STATUS_KEY);
      if (v.status == Status.Ok) status = parseStatus(v.data!);
    }
    if (status >= 200 && status < 300) {
      this.stats.sent += <u64>call.events;
      this.stats.batches++;
      if (this.config.debug) logInfo("moesif: collector accepted " + call.events.toString() + " events (" + status.toString() + ")");
      return;
    }
    this.stats.droppedFailed += <u64>call.events;
    logWarn("moesif: collector " + (status == 0 ? "could not be reached" : "answered " + status.toString()) +
      "; dropped a batch of " + call.events.toString() + " events (" + this.stats.droppedFailed.toString() + " dropped so far)");
  }

  private expireLost(nowMs: u64): void {
    if (this.inFlight.size == 0) return;
    const limit = <u64>this.timeoutMs + LOST_CALL_MARGIN_MS;
    const tokens = this.inFlight.keys();
    for (let i = 0; i < tokens.length; i++) {
      const call = this.inFlight.get(tokens[i]);
      if (nowMs - call.sentMs > limit) {
        this.inFlight.delete(tokens[i]);
        this.stats.droppedFailed += <u64>call.events;
        logWarn("moesif: no answer from the collector for call " + tokens[i].toString() + "; dropped a batch of " +
          call.events.toString() + " events");
      }
    }
  }
}

/** The `:status` value as a number; 0 when it is not three digits. */
export function parseStatus(b: Uint8Array): i32 {
  if (b.length != 3) return 0;
  let n = 0;
  for (let i = 0; i < 3; i++) {
    const c = <i32>b[i];
    if (c < 0x30 || c > 0x39) return 0;
    n = n * 10 + c - 0x30;
  }
  return n;
}
