// Bodies: gathered as they pass (bounded by the size limit, never re-copied: the buffer doubles),
// then encoded once in the log phase — decompressed if gzip'd, masked JSON if JSON, else base64.
// A body that cannot be captured whole is left out, and the event says why.
import { ByteWriter } from "../codec/bytes";
import { HeaderMap, equalsLowered } from "../runtime/headers";
import { MaskSet, scanJson } from "../codec/jsonscan";
import { writeBase64 } from "../codec/base64";
import { InflateStatus, gunzip, inflateDeflateEncoding } from "../codec/inflate";
import { utf8, asciiLower, trimmed, skipBlanks, dropBlanks } from "../codec/bytes";
import { writeJsonString } from "../codec/jsonwrite";
import { writeMaskedParams, isFormBody } from "../codec/urlencoded";
import { BodyCapture, BodyState } from "./model";

/** How one direction's bodies are encoded; built once per configuration. */
export class BodyOptions {
  masks: MaskSet = new MaskSet();
  /** The configuration field of these masks, for notes. */
  masksName: string = "";
  limit: i32 = 100000;
  limitName: string = "";
  decompress: bool = true;
}

const CONTENT_TYPE = utf8("content-type");
const CONTENT_ENCODING = utf8("content-encoding");

/** Where a Content-Type's media type ends: before its parameters and the blanks ahead of them. */
function mediaTypeEnd(v: Uint8Array): i32 {
  const e = v.indexOf(0x3b);
  return dropBlanks(v.dataStart, 0, e < 0 ? v.length : e);
}

/** Where it starts: after leading blanks, before `end` (mediaTypeEnd's, so inside v). Bounds, not a view, so that the type checks allocate nothing. */
function mediaTypeStart(v: Uint8Array, end: i32): i32 {
  return skipBlanks(v.dataStart, 0, end);
}

/** application/json, text/json and any +json type, with or without parameters, any case. */
export function isJsonType(v: Uint8Array): bool {
  const e = mediaTypeEnd(v);
  const s = mediaTypeStart(v, e);
  const slash = v.indexOf(0x2f, s);
  if (slash < 0 || slash >= e) return false;
  const sub = slash + 1;
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
 *
 * With body masks for this direction the body fails closed: unless the filter can read all of it
 * (decoded, and JSON or a form) and so mask it with certainty, it is left out, and the note says
 * why. Without masks, what cannot be read goes as received, in base64.
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
  const raw = data.view();
  let body = raw;
  const masked = !opts.masks.empty;

  const ce = headers.find(CONTENT_ENCODING);
  const enc = ce >= 0 ? lowerToken(headers.value(ce)) : "";
  if (enc.length > 0 && enc != "identity") {
    const known = enc == "gzip" || enc == "x-gzip" || enc == "deflate";
    if (!known || !opts.decompress) {
      const why = known ? "disable_gzip_payload_decompression is set" : "the filter does not decode it";
      if (masked) return failClosed(opts, "the body is compressed (content-encoding \"" + enc + "\") and " + why);
      // As before: a body left compressed on purpose goes as it is, without a note.
      return writeBase64Body(w, raw, known ? null : "sent as received (base64): content-encoding \"" + enc + "\" is not decompressed");
    }
    const r = enc == "deflate" ? inflateDeflateEncoding(raw, opts.limit) : gunzip(raw, opts.limit);
    if (r.status == InflateStatus.TooLarge) {
      return "not captured: the decompressed body is over " + opts.limitName + " (" + opts.limit.toString() + " bytes)";
    }
    if (r.status != InflateStatus.Ok) {
      if (masked) return failClosed(opts, "the " + enc + " body could not be decompressed");
      return writeBase64Body(w, raw, "sent as received (base64): the " + enc + " body could not be decompressed");
    }
    body = r.data!;
  }

  const ct = headers.find(CONTENT_TYPE);
  const type = ct >= 0 ? headers.value(ct) : EMPTY;
  if (isFormType(type) && isFormBody(body)) {
    // A form goes as text, each masked field's value replaced.
    const text = FORM_BUFFER;
    text.reset();
    writeMaskedParams(text, body, 0, opts.masks.keys);
    w.ascii(",\"body\":");
    writeJsonString(w, text.view());
    w.ascii(",\"transfer_encoding\":\"json\"");
    return null;
  }
  // JSON, by its type or, with masks, whatever the type says: a body the scan reads whole is masked
  // with certainty. A leading UTF-8 byte order mark is not part of the JSON text: it is dropped.
  if (isJsonType(type) || masked) {
    const json = hasBom(body) ? body.subarray(3) : body;
    const mark = w.length;
    w.ascii(",\"body\":");
    if (scanJson(json, opts.masks, w)) {
      w.ascii(",\"transfer_encoding\":\"json\"");
      return null;
    }
    w.length = mark;
    if (masked) {
      return failClosed(opts, isJsonType(type) ? "the body is not valid JSON" :
        "a " + (ct >= 0 ? "\"" + printable(type) + "\"" : "body without a content type") + " is neither JSON nor a form");
    }
  }
  return writeBase64Body(w, body, null);
}

/** The note of a body left out because masks are set and it cannot be masked with certainty. */
function failClosed(opts: BodyOptions, why: string): string {
  return "not captured: " + opts.masksName + " is set and " + why + ", so it cannot be masked with certainty";
}

const FORM_BUFFER = new ByteWriter(256);
const EMPTY = new Uint8Array(0);

function hasBom(b: Uint8Array): bool {
  return b.length >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf;
}

/** application/x-www-form-urlencoded, with or without parameters, any case. */
export function isFormType(v: Uint8Array): bool {
  // Compared in place, without a string: this runs for every body with a content type.
  const e = mediaTypeEnd(v);
  const s = mediaTypeStart(v, e);
  return e - s == FORM_TYPE.length && equalsLowered(v, <u32>s, FORM_TYPE);
}

const FORM_TYPE = utf8("application/x-www-form-urlencoded");

/** A header value for a note: printable ASCII only, at most 64 characters. */
function printable(v: Uint8Array): string {
  let out = "";
  for (let i = 0; i < min(v.length, 64); i++) {
    const c = v[i];
    out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "?";
  }
  return out;
}

function writeBase64Body(w: ByteWriter, body: Uint8Array, note: string | null): string | null {
  w.ascii(",\"body\":\"");
  writeBase64(w, body);
  w.ascii("\",\"transfer_encoding\":\"base64\"");
  return note;
}
