// Bodies: gathered as they pass (bounded by the size limit, never re-copied: the buffer doubles),
// then encoded once in the log phase — decompressed if gzip'd, masked JSON if JSON, else base64.
// A body that cannot be captured whole is left out, and the event says why.
import { ByteWriter } from "./bytes";
import { HeaderMap } from "../runtime/headers";
import { MaskSet, scanJson } from "./jsonscan";
import { writeBase64 } from "./base64";
import { InflateStatus, InflateResult, gunzip, inflateDeflateEncoding } from "./inflate";
import { utf8, asciiLower, trimmed } from "./bytes";

export const enum BodyState {
  /** No body (or none seen yet). */
  None,
  Captured,
  /** Over the size limit: left out. */
  TooLarge,
  /** Kong spilled the request body to a file the filter cannot read. */
  Unreadable,
  /** Left out so that the event stays under the collector's per-event limit. */
  EventTooLarge,
}

export class BodyCapture {
  state: BodyState = BodyState.None;
  data: ByteWriter | null = null;
  /** Bytes seen so far, or the whole body's size when `sizeKnown`. */
  size: i64 = 0;
  /** Whether `size` is the whole body's (from Content-Length or a whole request body), for the note. */
  sizeKnown: bool = false;

  constructor(public limit: i32) {}

  /** Whether reading another `size` bytes is worth it (false once over the limit). */
  accepts(size: i64): bool {
    if (this.state == BodyState.TooLarge || this.state == BodyState.Unreadable) return false;
    if (this.size + size > <i64>this.limit) {
      // Counting stops here: the rest of a streamed body is not even looked at.
      this.tooLarge(this.size + size, false);
      return false;
    }
    return true;
  }

  add(chunk: Uint8Array): void {
    if (chunk.length == 0) return;
    let d = this.data;
    if (d === null) {
      d = new ByteWriter(max(chunk.length, 256));
      this.data = d;
    }
    d.bytes(chunk);
    this.size += chunk.length;
    this.state = BodyState.Captured;
  }

  tooLarge(size: i64, known: bool): void {
    this.state = BodyState.TooLarge;
    this.size = size;
    this.sizeKnown = known;
    this.data = null;
  }

  /** Leaves the body out of the event (it would make the event too big); keeps nothing. */
  omit(): void {
    if (this.state != BodyState.Captured) return;
    this.state = BodyState.EventTooLarge;
    this.data = null;
  }

  unreadable(size: i64): void {
    this.state = BodyState.Unreadable;
    this.size = size;
    this.data = null;
  }
}

/** How one direction's bodies are encoded; built once per configuration. */
export class BodyOptions {
  masks: MaskSet = new MaskSet();
  limit: i32 = 100000;
  limitName: string = "";
  decompress: bool = true;
}

const CONTENT_TYPE = utf8("content-type");
const CONTENT_ENCODING = utf8("content-encoding");

/** application/json, text/json and any +json type, with or without parameters, any case. */
export function isJsonType(v: Uint8Array): bool {
  let e = v.indexOf(0x3b);
  if (e < 0) e = v.length;
  while (e > 0 && (v[e - 1] == 0x20 || v[e - 1] == 0x09)) e--;
  let s = 0;
  while (s < e && (v[s] == 0x20 || v[s] == 0x09)) s++;
  const slash = v.subarray(s, e).indexOf(0x2f);
  if (slash < 0) return false;
  const sub = s + slash + 1;
  const n = e - sub;
  // subtype "json", or ending in "+json"
  if (n < 4) return false;
  const j = e - 4;
  if ((v[j] | 0x20) != 0x6a || (v[j + 1] | 0x20) != 0x73 || (v[j + 2] | 0x20) != 0x6f || (v[j + 3] | 0x20) != 0x6e) return false;
  return n == 4 || v[j - 1] == 0x2b;
}

function lowerToken(v: Uint8Array): string {
  const t = trimmed(v);
  return t === null ? "" : asciiLower(String.UTF8.decodeUnsafe(t.dataStart, t.length));
}

/**
 * Appends `,"body":…,"transfer_encoding":"…"` for a captured body, or nothing. Returns a note for
 * the event's metadata when the body is left out or sent other than as the client or server meant.
 */
export function writeBody(w: ByteWriter, cap: BodyCapture | null, headers: HeaderMap, opts: BodyOptions): string | null {
  if (cap === null) return null;
  if (cap.state == BodyState.TooLarge) {
    return "not captured: the body" + (cap.sizeKnown ? " (" + cap.size.toString() + " bytes)" : "") +
      " is over " + opts.limitName + " (" + opts.limit.toString() + " bytes)";
  }
  if (cap.state == BodyState.EventTooLarge) {
    return "not captured: with it the event would be over the collector's limit of 1 MB per event";
  }
  if (cap.state == BodyState.Unreadable) {
    return "not captured: Kong buffered the request body (" + cap.size.toString() +
      " bytes) to a file the filter cannot read; raise nginx_http_client_body_buffer_size";
  }
  const data = cap.data;
  if (cap.state != BodyState.Captured || data === null || data.length == 0) return null;
  let body = data.view();
  let note: string | null = null;

  const ce = headers.find(CONTENT_ENCODING);
  if (ce >= 0 && opts.decompress) {
    const enc = lowerToken(headers.value(ce));
    let r: InflateResult | null = null;
    if (enc == "gzip" || enc == "x-gzip") r = gunzip(body, opts.limit);
    else if (enc == "deflate") r = inflateDeflateEncoding(body, opts.limit);
    else if (enc != "identity" && enc.length > 0) note = "sent as received (base64): content-encoding \"" + enc + "\" is not decompressed";
    if (r !== null) {
      if (r.status == InflateStatus.Ok) body = r.data!;
      else if (r.status == InflateStatus.TooLarge) {
        return "not captured: the decompressed body is over " + opts.limitName + " (" + opts.limit.toString() + " bytes)";
      } else {
        note = "sent as received (base64): the " + enc + " body could not be decompressed";
        return writeBase64Body(w, body, note);
      }
    }
  }

  const ct = headers.find(CONTENT_TYPE);
  if (note === null && ct >= 0 && isJsonType(headers.value(ct))) {
    const mark = w.length;
    w.ascii(",\"body\":");
    if (scanJson(body, opts.masks, w)) {
      w.ascii(",\"transfer_encoding\":\"json\"");
      return null;
    }
    w.length = mark;
  }
  return writeBase64Body(w, body, note);
}

function writeBase64Body(w: ByteWriter, body: Uint8Array, note: string | null): string | null {
  w.ascii(",\"body\":\"");
  writeBase64(w, body);
  w.ascii("\",\"transfer_encoding\":\"base64\"");
  return note;
}
