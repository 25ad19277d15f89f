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
import { given, answer } from "../support/wasm-io";

let masks = new MaskSet();

export { input, result_ptr, result_len } from "../support/wasm-io";

function inflated(r: InflateResult): i32 {
  answer(r.data !== null ? r.data! : new Uint8Array(0));
  return <i32>r.status;
}

export function run_gunzip(max: i32): i32 { return inflated(gunzip(given(), max)); }
export function run_inflate_raw(max: i32): i32 { return inflated(inflateRaw(given(), max)); }
export function run_zlib(max: i32): i32 { return inflated(zlibInflate(given(), max)); }
export function run_deflate_encoding(max: i32): i32 { return inflated(inflateDeflateEncoding(given(), max)); }

export function run_base64_encode(): void {
  const w = new ByteWriter();
  writeBase64(w, given());
  answer(w.toBytes());
}

export function run_base64_decode(): i32 {
  const r = decodeBase64(given());
  if (r === null) return 0;
  answer(r);
  return 1;
}

/** Mask keys, one per line, from the input buffer. */
export function set_masks(): void {
  const text = String.UTF8.decode(given().buffer);
  masks = MaskSet.of(text.length > 0 ? text.split("\n") : []);
}

export function run_json_scan(): i32 {
  const w = new ByteWriter();
  const ok = scanJson(given(), masks, w);
  answer(w.toBytes());
  return ok ? 1 : 0;
}

/**
 * The input as a JSON string, after `prefix` bytes already in a writer that starts small, so that
 * every way the writer grows mid-string is taken.
 */
export function run_json_string(lower: i32, prefix: i32): void {
  const w = new ByteWriter(16);
  for (let i = 0; i < prefix; i++) w.byte(0x78);
  writeJsonString(w, given(), 0, -1, lower != 0);
  answer(w.toBytes());
}

export function run_gzip(): void {
  answer(gzip(given()));
}

let regex: Regex = new Regex("");

/** Compiles the input buffer as a pattern; 1 when it compiled. */
export function set_regex(): i32 {
  regex = new Regex(String.UTF8.decode(given().buffer));
  return regex.error.length == 0 ? 1 : 0;
}

/** Tests the compiled pattern against the input buffer (the same Regex, test after test). */
export function run_regex(): i32 {
  return regex.test(given()) ? 1 : 0;
}
