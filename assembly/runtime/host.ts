// Thin wrappers over the host calls Kong implements. Every wrapper returns the host's status: an
// expected status (NotFound above all) is a value for the caller to act on, never a trap.
// Only functions Kong links may be imported here (tests/host/abi.ts); the test host refuses any other.
import {
  proxy_log,
  proxy_get_current_time_nanoseconds,
  proxy_set_tick_period_milliseconds,
  proxy_get_buffer_bytes,
  proxy_get_header_map_pairs,
  proxy_get_header_map_value,
  proxy_replace_header_map_value,
  proxy_get_property,
  proxy_http_call,
  proxy_send_local_response,
  proxy_define_metric,
  proxy_increment_metric,
  proxy_record_metric,
} from "@solo-io/proxy-runtime/assembly/imports";
import { Status, LogLevel, MapType } from "./abi";
import { HeaderMap, decodeHeaderMap, mapExtent } from "./headers";

// Out-parameters the host writes to: a pointer (allocated with our `malloc`) and a length.
const RET_PTR = memory.data(8);
const RET_LEN = memory.data(8);
const RET_TIME = memory.data(8);

/** Result of a host call that hands back bytes. `data` is set only when `status` is Ok. */
export class HostBytes {
  constructor(public status: u32, public data: Uint8Array | null) {}
}

/**
 * Extra bytes every block the host allocates through our `malloc` gets while a header map is being
 * asked for (see headerMapSlack); 0 the rest of the time.
 */
let allocSlack: usize = 0;

const MAX_BLOCK: usize = (1 << 30) - 64;

/**
 * The exported `malloc`: the host allocates the blocks it hands us (maps, bodies, properties) here.
 * Each is a managed ArrayBuffer, so takeReturned keeps it as it is instead of copying it. One the
 * host never hands over (it failed after allocating) is garbage for the next collection; none runs
 * while the host holds a block, since collections happen only as a callback returns (exports.ts).
 */
export function hostAlloc(size: usize): usize {
  const total = size + allocSlack;
  // Over what a buffer may hold (1 GiB less the headers): the host gets 0, so it fails the
  // call, instead of a trap.
  if (total > MAX_BLOCK) return 0;
  return __new(total, idof<ArrayBuffer>());
}

/** Takes the block the host allocated (through hostAlloc) and filled: a view of it, not a copy. */
function takeReturned(slack: u32 = 0): Uint8Array {
  const ptr = load<u32>(RET_PTR);
  let len = load<u32>(RET_LEN);
  // A header map may extend past the length the host reported, into the slack (see headerMapSlack).
  if (slack > 0 && ptr != 0) len = max(len, mapExtent(ptr, len + slack));
  if (ptr == 0) return new Uint8Array(<i32>len);
  // A block from hostAlloc is an ArrayBuffer, as its header says (the runtime id 8 bytes before it).
  if (ptr >= 20 && load<u32>(ptr - 8) == idof<ArrayBuffer>()) {
    const block = changetype<ArrayBuffer>(<usize>ptr);
    if (len <= <u32>block.byteLength) return Uint8Array.wrap(block, 0, <i32>len);
  }
  // A length past the block, or a block that is not one of ours (host defects): keep what it names,
  // as a copy, and leave the block alone (it is not the collector's to free).
  const out = new Uint8Array(<i32>len);
  memory.copy(out.dataStart, ptr, len);
  return out;
}

function resetReturned(): void {
  store<u32>(RET_PTR, 0);
  store<u32>(RET_LEN, 0);
}

export function log(level: u32, message: string): void {
  const utf8 = String.UTF8.encode(message);
  proxy_log(level, changetype<usize>(utf8), utf8.byteLength);
}

export function logError(message: string): void { log(LogLevel.Error, message); }
export function logWarn(message: string): void { log(LogLevel.Warn, message); }
export function logInfo(message: string): void { log(LogLevel.Info, message); }

/** Wall-clock time in nanoseconds since the epoch, or 0 if the host cannot tell. */
export function nowNanos(): u64 {
  store<u64>(RET_TIME, 0);
  if (proxy_get_current_time_nanoseconds(RET_TIME) != Status.Ok) return 0;
  return load<u64>(RET_TIME);
}

export function setTickPeriod(ms: u32): u32 {
  return proxy_set_tick_period_milliseconds(ms);
}

/** Reads `max` bytes of a buffer from `start`. NotFound means no (or an empty) body. */
export function getBufferBytes(bufferType: i32, start: u32, max: u32): HostBytes {
  resetReturned();
  const status = proxy_get_buffer_bytes(bufferType, start, max, RET_PTR, RET_LEN);
  if (status != Status.Ok) return new HostBytes(status, null);
  return new HostBytes(status, takeReturned());
}

/**
 * Reads a whole header map: one call, as Kong's host serialises it once; decoded without strings.
 * Null when the host has none to give or hands over a malformed one (a host defect, never a trap).
 * `hostCount` is the header count the host gave the callback; with it, a map big enough to trip
 * Kong's marshalling defect is read safely (see headerMapSlack).
 */
export function getHeaderMap(mapType: i32, hostCount: u32 = 0): HeaderMap | null {
  const slack = headerMapSlack(mapType, hostCount);
  resetReturned();
  allocSlack = slack;
  const status = proxy_get_header_map_pairs(mapType, RET_PTR, RET_LEN);
  allocSlack = 0;
  if (status != Status.Ok) return null;
  return decodeHeaderMap(takeReturned(<u32>slack));
}

// Kong's get_header_map_pairs (ngx_wasm_module, every pin from Kong 3.4 to 3.9: ngx_proxy_wasm_util.c,
// ngx_proxy_wasm_pairs_size and _pairs_marshal) sizes the block over up to 100 list headers and
// then its own extras (request: :path, :method, :scheme, :authority; response: :status and nginx's
// shim headers Content-Type … Vary), but writes every extra first and then list headers up to 100
// pairs in all. With 98+ request headers (count ≥ 101 - extras for responses) it writes past the
// block, by up to the size of the extras it did not count: heap corruption a client can cause.
// The count the callback receives is nginx's list (plus shims for responses), so below 90 nothing
// can overflow. From 90 on, every block the host allocates during the call gets slack for all the
// extras, measured one by one (get_header_map_value finds them; the content type, the only shim an
// upstream controls, also as nginx's $sent_http_content_type, which reads the shim itself).
const OVERFLOW_FROM: u32 = 90;
const ENTRY_BYTES: usize = 8 + 2; // two u32 lengths, two NULs
const MARGIN: usize = 64;
const REQUEST_EXTRAS: StaticArray<string> = [":path", ":method", ":scheme", ":authority"];
// Response shims with values nginx bounds: Content-Length (an off_t), Transfer-Encoding ("chunked"),
// Connection ("keep-alive"), Keep-Alive ("timeout=" and a time_t), Vary ("Accept-Encoding").
const RESPONSE_FIXED: usize = <usize>(":status".length + 3 + "Content-Length".length + 20 + "Transfer-Encoding".length + 7 +
  "Connection".length + 10 + "Keep-Alive".length + 28 + "Vary".length + 15) + 6 * ENTRY_BYTES;
const CALL_FIXED: usize = <usize>(":status".length + 3 + ":dispatch_status".length + 32) + 2 * ENTRY_BYTES;
const CONTENT_TYPE = String.UTF8.encode("content-type");
const SENT_CONTENT_TYPE = propertyPath("ngx.sent_http_content_type");

function valueLength(mapType: i32, name: ArrayBuffer): usize {
  const v = getHeaderValue(mapType, name);
  return v.status == Status.Ok ? <usize>v.data!.length : 0;
}

/** Bytes of slack that cover what Kong may write past a header map's block; 0 when it cannot. */
export function headerMapSlack(mapType: i32, hostCount: u32): usize {
  if (hostCount < OVERFLOW_FROM) return 0;
  if (mapType == MapType.RequestHeaders) {
    let n: usize = MARGIN;
    for (let i = 0; i < REQUEST_EXTRAS.length; i++) {
      const name = REQUEST_EXTRAS[i];
      n += ENTRY_BYTES + <usize>name.length + valueLength(mapType, String.UTF8.encode(name));
    }
    return n;
  }
  if (mapType == MapType.ResponseHeaders) {
    const sent = getProperty(SENT_CONTENT_TYPE);
    const sentLength: usize = sent.status == Status.Ok ? <usize>sent.data!.length : 0;
    return MARGIN + RESPONSE_FIXED + ENTRY_BYTES + 12 + max(valueLength(mapType, CONTENT_TYPE), sentLength);
  }
  return MARGIN + CALL_FIXED;
}

export function getHeaderValue(mapType: i32, name: ArrayBuffer): HostBytes {
  resetReturned();
  const status = proxy_get_header_map_value(mapType, changetype<usize>(name), name.byteLength, RET_PTR, RET_LEN);
  if (status != Status.Ok) return new HostBytes(status, null);
  return new HostBytes(status, takeReturned());
}

export function replaceHeader(mapType: i32, name: ArrayBuffer, value: Uint8Array): u32 {
  return proxy_replace_header_map_value(mapType, changetype<usize>(name), name.byteLength, value.dataStart, value.length);
}

/**
 * Reads a property. `path` is the UTF-8 path with NUL separators (Kong accepts NUL or dots, Envoy
 * only NUL). Unknown properties answer NotFound, which is normal: older Kong lacks many of them.
 */
export function getProperty(path: ArrayBuffer): HostBytes {
  const status = askProperty(path);
  return new HostBytes(status, status == Status.Ok ? takeReturned() : null);
}

/** A property's bytes, or null for any status but Ok: the per-call reads need no result object. */
export function propertyBytes(path: ArrayBuffer): Uint8Array | null {
  return askProperty(path) == Status.Ok ? takeReturned() : null;
}

function askProperty(path: ArrayBuffer): u32 {
  resetReturned();
  return proxy_get_property(changetype<usize>(path), path.byteLength, RET_PTR, RET_LEN);
}

/** Builds a property path from dotted text, with the NUL separators every host accepts. */
export function propertyPath(dotted: string): ArrayBuffer {
  const utf8 = String.UTF8.encode(dotted);
  const bytes = Uint8Array.wrap(utf8);
  for (let i = 0; i < bytes.length; i++) if (bytes[i] == 0x2e) bytes[i] = 0;
  return utf8;
}

export class HttpCallResult {
  constructor(public status: u32, public token: u32) {}
}

export function httpCall(upstream: ArrayBuffer, headers: Uint8Array, body: Uint8Array, timeoutMs: u32): HttpCallResult {
  store<u32>(RET_LEN, 0);
  const status = proxy_http_call(
    changetype<usize>(upstream), upstream.byteLength,
    headers.dataStart, headers.length,
    body.dataStart, body.length,
    0, 0,
    timeoutMs, RET_LEN,
  );
  return new HttpCallResult(status, load<u32>(RET_LEN));
}

/**
 * Answers the request from the filter (Kong: from on_request_headers or on_request_body, before the
 * upstream is called); `headers` is a serialised header map.
 */
export function sendLocalResponse(status: u32, headers: Uint8Array, body: Uint8Array): u32 {
  return proxy_send_local_response(status, 0, 0, body.dataStart, body.length, headers.dataStart, headers.length, <u32>-1);
}

export function statusName(status: u32): string {
  switch (status) {
    case Status.Ok: return "Ok";
    case Status.NotFound: return "NotFound";
    case Status.BadArgument: return "BadArgument";
    case Status.SerializationFailure: return "SerializationFailure";
    case Status.ParseFailure: return "ParseFailure";
    case Status.InvalidMemoryAccess: return "InvalidMemoryAccess";
    case Status.Empty: return "Empty";
    case Status.CasMismatch: return "CasMismatch";
    case Status.InternalFailure: return "InternalFailure";
    case Status.Unimplemented: return "Unimplemented";
  }
  return "status " + status.toString();
}

export const MetricCounter: i32 = 0;
export const MetricGauge: i32 = 1;

/** Defines a metric (Kong can export them); returns its id, or 0 when the host refused. */
export function defineMetric(type: i32, name: string): u32 {
  const utf8 = String.UTF8.encode(name);
  store<u32>(RET_LEN, 0);
  if (proxy_define_metric(type, changetype<usize>(utf8), utf8.byteLength, RET_LEN) != Status.Ok) return 0;
  return load<u32>(RET_LEN);
}

export function incrementMetric(id: u32, delta: i64): u32 {
  return proxy_increment_metric(id, delta);
}

export function recordMetric(id: u32, value: u64): u32 {
  return proxy_record_metric(id, value);
}
