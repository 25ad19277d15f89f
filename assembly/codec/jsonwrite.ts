// Writing JSON strings from untrusted bytes. Header values and tokens may hold any byte; the event
// must still be valid UTF-8 JSON, so invalid sequences become U+FFFD (maximal subparts, as WHATWG
// decoders do) and control characters are escaped.
import { ByteWriter, utf8Sequence, JSON_BYTE, HEX_DIGITS } from "./bytes";

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
    // Bit k of `plain` says JSON_BYTE class k continues the run: a capital stops it only when
    // folding (it is then written lowered, below).
    const plain: u32 = lower ? 0b000001 : 0b100001;
    while (j < len && ((plain >> load<u8>(JSON_BYTE + load<u8>(base + j))) & 1) != 0) j++;
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
        else w.ascii("\\u00").byte(load<u8>(HEX_DIGITS + (b >> 4))).byte(load<u8>(HEX_DIGITS + (b & 15)));
      } else if (lower && b >= 0x41 && b <= 0x5a) {
        w.byte(<u8>(b | 0x20));
      } else {
        w.byte(<u8>b);
      }
      i++;
      continue;
    }
    const n = utf8Sequence(base, i, len);
    if (n > 0) w.bytes(src, start + i, n);
    else replacement(w);
    i += n > 0 ? n : -n;
  }
  w.byte(0x22);
}

/** Writes an ASCII/UTF-16 string (configuration values, our own text) as a JSON string. */
export function writeJsonText(w: ByteWriter, s: string): void {
  writeJsonString(w, Uint8Array.wrap(String.UTF8.encode(s)));
}
