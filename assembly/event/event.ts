// Builds one Moesif event (docs/protocol.md, "The event") as UTF-8 JSON bytes, straight from captured bytes.
import { ByteWriter, EMPTY_BYTES, utf8 } from "../codec/bytes";
import { HeaderMap, equalsLowered } from "../runtime/headers";
import { writeJsonString, writeJsonText } from "../codec/jsonwrite";
import { writeIsoTime } from "../codec/time";
import { BodyOptions, writeBody } from "./body";
import { Capture, KongInfo } from "./model";
import { writeMaskedPath } from "../codec/urlencoded";


/**
 * Writes a header map as a JSON object: lower-case names, pseudo-headers (`:path` …) left out, and
 * repeated headers joined with ", " into one string, as the Moesif API specifies. `extraName` is a
 * header the filter itself set (replacing any of that name) after it read the map: its value stands
 * instead of theirs.
 */
export function writeHeaders(w: ByteWriter, map: HeaderMap, masks: Array<Uint8Array> | null = null,
  extraName: Uint8Array | null = null, extraValue: Uint8Array | null = null): void {
  w.byte(0x7b);
  let first = true;
  const data = map.data;
  const replaced = extraName !== null && extraValue !== null ? extraName : null;
  const repeats = hasRepeats(map);
  for (let i = 0; i < map.count; i++) {
    const ks = map.keyStart(i);
    const kl = map.keyLength(i);
    // Offsets come from decodeHeaderMap, which checked them against the block.
    if (kl == 0 || load<u8>(data.dataStart + ks) == 0x3a) continue;
    if (repeats && isRepeat(map, i)) continue;
    if (replaced !== null && kl == <u32>replaced.length && equalsLowered(data, ks, replaced)) continue;
    if (!first) w.byte(0x2c);
    first = false;
    writeJsonString(w, data, ks, kl, true);
    w.byte(0x3a);
    if (masks !== null && isMasked(map, i, masks)) {
      // The name stays, so the user sees the header was there.
      w.bytes(L_MASKED);
      continue;
    }
    // Join this header's value with the values of later pairs of the same name.
    let later = repeats ? nextSame(map, i, i + 1) : -1;
    if (later < 0) {
      writeJsonString(w, data, map.valueStart(i), map.valueLength(i));
      continue;
    }
    const joined = new ByteWriter(256);
    joined.bytes(data, map.valueStart(i), map.valueLength(i));
    while (later >= 0) {
      joined.byte(0x2c).byte(0x20).bytes(data, map.valueStart(later), map.valueLength(later));
      later = nextSame(map, i, later + 1);
    }
    writeJsonString(w, joined.view());
  }
  if (replaced !== null) {
    if (!first) w.byte(0x2c);
    writeJsonString(w, replaced);
    w.byte(0x3a);
    if (masks !== null && isMaskedName(replaced, masks)) w.bytes(L_MASKED);
    else writeJsonString(w, extraValue!);
  }
  w.byte(0x7d);
}

/** Whether pairs a and b have the same name, ASCII case folded. Lengths first: most differ there. */
@inline function sameKey(map: HeaderMap, a: i32, b: i32): bool {
  const n = map.keyLength(a);
  return map.keyLength(b) == n && sameBytesFolded(map.data.dataStart, map.keyStart(a), map.keyStart(b), n);
}

function sameBytesFolded(base: usize, a: u32, b: u32, n: u32): bool {
  const pa = base + a;
  const pb = base + b;
  for (let j: u32 = 0; j < n; j++) {
    let x = load<u8>(pa + j);
    let y = load<u8>(pb + j);
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x != y) return false;
  }
  return true;
}

/**
 * Whether any name appears twice: most maps have no repeats, and then no pair needs joining. A
 * 64-bit filter of (length, first and last byte) leaves the exact comparison to the few names
 * whose filter bit another name already set, so a map costs one pass, not one per pair.
 */
function hasRepeats(map: HeaderMap): bool {
  const base = map.data.dataStart;
  let seen: u64 = 0;
  for (let i = 0; i < map.count; i++) {
    const n = map.keyLength(i);
    if (n == 0) continue;
    const at = base + map.keyStart(i);
    const bit = (<u64>1) << ((<u64>n * 7 + <u64>(load<u8>(at) | 0x20) * 3 + <u64>(load<u8>(at + n - 1) | 0x20)) & 63);
    if ((seen & bit) != 0 && isRepeat(map, i)) return true;
    seen |= bit;
  }
  return false;
}

function isMasked(map: HeaderMap, i: i32, masks: Array<Uint8Array>): bool {
  for (let m = 0; m < masks.length; m++) {
    const name = masks[m];
    if (map.keyLength(i) == <u32>name.length && equalsLowered(map.data, map.keyStart(i), name)) return true;
  }
  return false;
}

function isMaskedName(name: Uint8Array, masks: Array<Uint8Array>): bool {
  for (let m = 0; m < masks.length; m++) {
    const mask = masks[m];
    if (mask.length == name.length && memory.compare(mask.dataStart, name.dataStart, name.length) == 0) return true;
  }
  return false;
}

function isRepeat(map: HeaderMap, i: i32): bool {
  for (let j = 0; j < i; j++) if (sameKey(map, j, i)) return true;
  return false;
}

function nextSame(map: HeaderMap, i: i32, from: i32): i32 {
  for (let j = from; j < map.count; j++) if (sameKey(map, i, j)) return j;
  return -1;
}

// The event's fixed fragments, as UTF-8 once (copied, not converted, per event).
const L_REQUEST = utf8("{\"request\":{\"time\":");
const L_URI = utf8(",\"uri\":");
const L_VERB = utf8(",\"verb\":");
const L_RESPONSE = utf8("},\"response\":{\"time\":");
const L_STATUS = utf8(",\"status\":");
const L_DIRECTION = utf8(",\"direction\":\"Incoming\",\"weight\":");
const L_MASKED = utf8("\"*****\"");
const L_HEADERS = utf8(",\"headers\":");

const EVENT_BUFFER = new ByteWriter(4096);
const URI_BUFFER = new ByteWriter(512);

export const TRANSACTION_HEADER = "x-moesif-transaction-id";
const TRANSACTION_NAME = utf8(TRANSACTION_HEADER);

/** Everything about encoding events that follows from the configuration, computed once. */
export class EventOptions {
  apiVersion: string = "";
  requestHeaderMasks: Array<Uint8Array> = [];
  responseHeaderMasks: Array<Uint8Array> = [];
  queryMasks: Array<Uint8Array> = [];
  requestBody: BodyOptions = new BodyOptions();
  responseBody: BodyOptions = new BodyOptions();
}

function writeOptionalString(w: ByteWriter, name: string, v: Uint8Array | null): void {
  if (v === null) return;
  w.byte(0x2c).byte(0x22).ascii(name).ascii("\":");
  writeJsonString(w, v);
}

/** The event as JSON bytes. */
export function buildEvent(c: Capture, opts: EventOptions): Uint8Array {
  // Sized from what goes in (bodies grow by a third as base64), so the buffer rarely has to grow.
  let estimate = 768 + c.requestHeaders.data.length + c.responseHeaders.data.length + c.path.length;
  const rb = c.requestBody;
  if (rb !== null && rb.data !== null) estimate += rb.data!.length * 4 / 3;
  const sb = c.responseBody;
  if (sb !== null && sb.data !== null) estimate += sb.data!.length * 4 / 3;
  // The event is built in one reused buffer (it only grows) and copied out once at the end.
  const w = EVENT_BUFFER;
  w.reset();
  w.reserve(<i32>min(estimate, 4 * 1024 * 1024));
  w.bytes(L_REQUEST);
  writeIsoTime(w, c.requestMs);
  w.bytes(L_URI);
  const uri = URI_BUFFER;
  uri.reset();
  uri.bytes(c.scheme).ascii("://").bytes(c.host);
  writeMaskedPath(uri, c.path, opts.queryMasks);
  writeJsonString(w, uri.view());
  w.bytes(L_VERB);
  writeJsonString(w, c.method);
  if (opts.apiVersion.length > 0) {
    w.ascii(",\"api_version\":");
    writeJsonText(w, opts.apiVersion);
  }
  const ip = c.ipAddress;
  if (ip !== null && ip.length > 0) writeOptionalString(w, "ip_address", ip);
  w.bytes(L_HEADERS);
  writeHeaders(w, c.requestHeaders, opts.requestHeaderMasks, c.transactionIdAdded ? TRANSACTION_NAME : null, c.transactionId);
  const requestNote = writeBody(w, c.requestBody, c.requestHeaders, opts.requestBody);
  w.bytes(L_RESPONSE);
  writeIsoTime(w, c.responseMs);
  w.bytes(L_STATUS).u64(<u64>max(c.status, 0));
  w.bytes(L_HEADERS);
  writeHeaders(w, c.responseHeaders, opts.responseHeaderMasks);
  const responseNote = writeBody(w, c.responseBody, c.responseHeaders, opts.responseBody);
  w.byte(0x7d);
  writeOptionalString(w, "user_id", c.identity.userId);
  writeOptionalString(w, "company_id", c.identity.companyId);
  writeOptionalString(w, "session_token", c.identity.sessionToken);
  writeOptionalString(w, "transaction_id", c.transactionId);
  w.bytes(L_DIRECTION).u64(<u64>max(c.weight, 1));
  const blocked = c.blockedBy;
  if (blocked !== null) {
    w.ascii(",\"blocked_by\":");
    writeJsonText(w, blocked);
  }
  writeMetadata(w, c.kong, c.requestHeadersNote, requestNote, c.responseHeadersNote, responseNote);
  w.byte(0x7d);
  return w.toBytes();
}

function writeNote(w: ByteWriter, name: string, note: string | null): void {
  if (note === null) return;
  w.ascii(",\"").ascii(name).ascii("\":");
  writeJsonText(w, note);
}

function writeMetadata(w: ByteWriter, k: KongInfo, requestHeadersNote: string | null, requestNote: string | null,
  responseHeadersNote: string | null, responseNote: string | null): void {
  const hasKong = k.routeId !== null || k.routeName !== null || k.serviceId !== null || k.serviceName !== null;
  const hasNotes = requestNote !== null || responseNote !== null || requestHeadersNote !== null || responseHeadersNote !== null;
  if (!hasKong && !hasNotes) return;
  w.ascii(",\"metadata\":{");
  if (hasKong) {
    w.ascii("\"kong\":{");
    const mark = w.length;
    writeOptionalString(w, "route_id", k.routeId);
    writeOptionalString(w, "route_name", k.routeName);
    writeOptionalString(w, "service_id", k.serviceId);
    writeOptionalString(w, "service_name", k.serviceName);
    dropLeadingComma(w, mark);
    w.byte(0x7d);
  }
  if (hasNotes) {
    if (hasKong) w.byte(0x2c);
    w.ascii("\"capture\":{");
    const mark = w.length;
    writeNote(w, "request_headers", requestHeadersNote);
    writeNote(w, "request_body", requestNote);
    writeNote(w, "response_headers", responseHeadersNote);
    writeNote(w, "response_body", responseNote);
    dropLeadingComma(w, mark);
    w.byte(0x7d);
  }
  w.byte(0x7d);
}

/** Members are written each with a leading comma; the first one in an object must lose it. */
function dropLeadingComma(w: ByteWriter, mark: i32): void {
  if (w.length > mark && w.at(mark) == 0x2c) w.removeAt(mark);
}
