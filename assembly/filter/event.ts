// Builds one Moesif event (moesif-protocol.md) as UTF-8 JSON bytes, straight from captured bytes.
import { ByteWriter } from "./bytes";
import { HeaderMap } from "../runtime/headers";
import { writeJsonString, writeJsonText } from "./jsonwrite";
import { writeIsoTime } from "./time";

/** What the HTTP context gathered for one API call; everything the event needs. */
export class Capture {
  requestMs: u64 = 0;
  responseMs: u64 = 0;
  method: Uint8Array = new Uint8Array(0);
  scheme: Uint8Array = new Uint8Array(0);
  host: Uint8Array = new Uint8Array(0);
  path: Uint8Array = new Uint8Array(0);
  requestHeaders: HeaderMap = HeaderMap.empty();
  responseHeaders: HeaderMap = HeaderMap.empty();
  status: i32 = 0;
  ipAddress: Uint8Array | null = null;
}

/**
 * Writes a header map as a JSON object: lower-case names, pseudo-headers (`:path` …) left out, and
 * repeated headers joined with ", " into one string, as the Moesif API specifies.
 */
export function writeHeaders(w: ByteWriter, map: HeaderMap): void {
  w.byte(0x7b);
  let first = true;
  const data = map.data;
  for (let i = 0; i < map.count; i++) {
    const ks = map.keyStart(i);
    const kl = map.keyLength(i);
    if (kl == 0 || data[ks] == 0x3a) continue;
    if (isRepeat(map, i)) continue;
    if (!first) w.byte(0x2c);
    first = false;
    writeJsonString(w, data, ks, kl, true);
    w.byte(0x3a);
    // Join this header's value with the values of later pairs of the same name.
    let later = nextSame(map, i, i + 1);
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
    writeJsonString(w, joined.toBytes());
  }
  w.byte(0x7d);
}

function sameKey(map: HeaderMap, a: i32, b: i32): bool {
  const n = map.keyLength(a);
  if (map.keyLength(b) != n) return false;
  const data = map.data;
  const pa = data.dataStart + map.keyStart(a);
  const pb = data.dataStart + map.keyStart(b);
  for (let j: u32 = 0; j < n; j++) {
    let x = load<u8>(pa + j);
    let y = load<u8>(pb + j);
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x != y) return false;
  }
  return true;
}

function isRepeat(map: HeaderMap, i: i32): bool {
  for (let j = 0; j < i; j++) if (sameKey(map, j, i)) return true;
  return false;
}

function nextSame(map: HeaderMap, i: i32, from: i32): i32 {
  for (let j = from; j < map.count; j++) if (sameKey(map, i, j)) return j;
  return -1;
}

export class EventOptions {
  apiVersion: string = "";
}

/** The event as JSON bytes. */
export function buildEvent(c: Capture, opts: EventOptions): Uint8Array {
  const w = new ByteWriter(1024);
  w.ascii("{\"request\":{\"time\":");
  writeIsoTime(w, c.requestMs);
  w.ascii(",\"uri\":");
  const uri = new ByteWriter(256);
  uri.bytes(c.scheme).ascii("://").bytes(c.host).bytes(c.path);
  writeJsonString(w, uri.toBytes());
  w.ascii(",\"verb\":");
  writeJsonString(w, c.method);
  if (opts.apiVersion.length > 0) {
    w.ascii(",\"api_version\":");
    writeJsonText(w, opts.apiVersion);
  }
  const ip = c.ipAddress;
  if (ip !== null && ip.length > 0) {
    w.ascii(",\"ip_address\":");
    writeJsonString(w, ip);
  }
  w.ascii(",\"headers\":");
  writeHeaders(w, c.requestHeaders);
  w.ascii("},\"response\":{\"time\":");
  writeIsoTime(w, c.responseMs);
  w.ascii(",\"status\":").u64(<u64>max(c.status, 0));
  w.ascii(",\"headers\":");
  writeHeaders(w, c.responseHeaders);
  w.ascii("},\"direction\":\"Incoming\",\"weight\":1}");
  return w.toBytes();
}
