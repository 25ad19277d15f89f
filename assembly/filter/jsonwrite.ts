// Writing JSON strings from untrusted bytes. Header values and tokens may hold any byte; the event
// must still be valid UTF-8 JSON, so invalid sequences become U+FFFD (maximal subparts, as WHATWG
// decoders do) and control characters are escaped.
import { ByteWriter } from "./bytes";

const HEX: string = "0123456789abcdef";

@inline function isCont(b: u32): bool { return (b & 0xc0) == 0x80; }

function replacement(w: ByteWriter): void {
  w.byte(0xef).byte(0xbf).byte(0xbd);
}

/** Writes src[start, start+len) as a quoted JSON string; `lower` folds ASCII A–Z (header names). */
export function writeJsonString(w: ByteWriter, src: Uint8Array, start: i32 = 0, len: i32 = -1, lower: bool = false): void {
  if (len < 0) len = src.length - start;
  if (start < 0 || start + len > src.length) len = 0;
  w.byte(0x22);
  const base = src.dataStart + start;
  let i = 0;
  while (i < len) {
    // Most bytes need nothing: copy each run of them in one go.
    let j = i;
    while (j < len) {
      const c = <u32>load<u8>(base + j);
      if (c < 0x20 || c == 0x22 || c == 0x5c || c >= 0x80 || (lower && c - 0x41 < 26)) break;
      j++;
    }
    if (j > i) {
      w.bytes(src, start + i, j - i);
      i = j;
      if (i >= len) break;
    }
    const b = <u32>load<u8>(base + i);
    if (b < 0x80) {
      if (b == 0x22 || b == 0x5c) {
        w.byte(0x5c).byte(<u8>b);
      } else if (b < 0x20) {
        if (b == 0x0a) w.byte(0x5c).byte(0x6e);
        else if (b == 0x0d) w.byte(0x5c).byte(0x72);
        else if (b == 0x09) w.byte(0x5c).byte(0x74);
        else w.ascii("\\u00").byte(<u8>HEX.charCodeAt(b >> 4)).byte(<u8>HEX.charCodeAt(b & 15));
      } else if (lower && b >= 0x41 && b <= 0x5a) {
        w.byte(<u8>(b | 0x20));
      } else {
        w.byte(<u8>b);
      }
      i++;
      continue;
    }
    // Multi-byte sequence: find its expected length and the allowed range of the second byte.
    let need = 0;
    let lo: u32 = 0x80, hi: u32 = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b == 0xe0) lo = 0xa0;
      else if (b == 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b == 0xf0) lo = 0x90;
      else if (b == 0xf4) hi = 0x8f;
    }
    if (need == 0) {
      replacement(w);
      i++;
      continue;
    }
    let ok = 1;
    if (i + 1 < len) {
      const b1 = <u32>load<u8>(base + i + 1);
      if (b1 >= lo && b1 <= hi) {
        ok = 2;
        while (ok <= need && i + ok < len && isCont(<u32>load<u8>(base + i + ok))) ok++;
      }
    }
    if (ok == need + 1) {
      for (let k = 0; k < ok; k++) w.byte(load<u8>(base + i + k));
    } else {
      replacement(w);
    }
    i += ok;
  }
  w.byte(0x22);
}

/** Writes an ASCII/UTF-16 string (configuration values, our own text) as a JSON string. */
export function writeJsonText(w: ByteWriter, s: string): void {
  writeJsonString(w, Uint8Array.wrap(String.UTF8.encode(s)));
}
