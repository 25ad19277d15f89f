// The filter's pure codecs, exported for Node-driven property tests against the reference
// implementations (Node's zlib, Buffer's base64, JSON.parse). Test-only; not shipped.
import { gunzip, inflateRaw, zlibInflate, inflateDeflateEncoding, InflateResult } from "../../assembly/codec/inflate";
import { writeBase64, decodeBase64 } from "../../assembly/codec/base64";
import { scanJson, MaskSet } from "../../assembly/codec/jsonscan";
import { ByteWriter } from "../../assembly/codec/bytes";
import { gzip } from "../../assembly/codec/deflate";
import { writeJsonString } from "../../assembly/codec/jsonwrite";
import { Regex } from "../../assembly/codec/regex";
import "../../assembly/runtime/abort";

let inBuf = new Uint8Array(0);
let outBuf = new Uint8Array(0);
let masks = new MaskSet();

export function input(len: i32): usize {
  // The collector runs only when asked (assembly/runtime/gc.ts): collect between runs (only
  // globals hold objects here).
  __collect();
  inBuf = new Uint8Array(len);
  return inBuf.dataStart;
}

export function result_ptr(): usize {
  return outBuf.dataStart;
}

export function result_len(): i32 {
  return outBuf.length;
}

function inflated(r: InflateResult): i32 {
  outBuf = r.data !== null ? r.data! : new Uint8Array(0);
  return <i32>r.status;
}

export function run_gunzip(max: i32): i32 { return inflated(gunzip(inBuf, max)); }
export function run_inflate_raw(max: i32): i32 { return inflated(inflateRaw(inBuf, max)); }
export function run_zlib(max: i32): i32 { return inflated(zlibInflate(inBuf, max)); }
export function run_deflate_encoding(max: i32): i32 { return inflated(inflateDeflateEncoding(inBuf, max)); }

export function run_base64_encode(): void {
  const w = new ByteWriter();
  writeBase64(w, inBuf);
  outBuf = w.toBytes();
}

export function run_base64_decode(): i32 {
  const r = decodeBase64(inBuf);
  if (r === null) return 0;
  outBuf = r;
  return 1;
}

/** Mask keys, one per line, from the input buffer. */
export function set_masks(): void {
  const text = String.UTF8.decode(inBuf.buffer);
  masks = MaskSet.of(text.length > 0 ? text.split("\n") : []);
}

export function run_json_scan(): i32 {
  const w = new ByteWriter();
  const ok = scanJson(inBuf, masks, w);
  outBuf = w.toBytes();
  return ok ? 1 : 0;
}

/**
 * The input as a JSON string, after `prefix` bytes already in a writer that starts small, so that
 * every way the writer grows mid-string is taken.
 */
export function run_json_string(lower: i32, prefix: i32): void {
  const w = new ByteWriter(16);
  for (let i = 0; i < prefix; i++) w.byte(0x78);
  writeJsonString(w, inBuf, 0, -1, lower != 0);
  outBuf = w.toBytes();
}

export function run_gzip(): void {
  outBuf = gzip(inBuf);
}

let regex: Regex = new Regex("");

/** Compiles the input buffer as a pattern; 1 when it compiled. */
export function set_regex(): i32 {
  regex = new Regex(String.UTF8.decode(inBuf.buffer));
  return regex.error.length == 0 ? 1 : 0;
}

/** Tests the compiled pattern against the input buffer (the same Regex, test after test). */
export function run_regex(): i32 {
  return regex.test(inBuf) ? 1 : 0;
}
