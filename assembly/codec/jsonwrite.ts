// Writing JSON strings from untrusted bytes. Header values and tokens may hold any byte; the event
// must still be valid UTF-8 JSON, so invalid sequences become U+FFFD (maximal subparts, as WHATWG
// decoders do) and control characters are escaped.
import { ByteWriter, utf8Sequence, JSON_BYTE, HEX_DIGITS } from "./bytes";

/**
 * Writes src[start, start+len) as a quoted JSON string; `lower` folds ASCII A–Z (header names).
 * Straight into the writer's buffer: room for the quotes and the bytes as they are is reserved at
 * once, and each write still asks for its own room (a check that then passes), so an escape or a
 * replacement, which takes more, simply asks for more.
 */
export function writeJsonString(w: ByteWriter, src: Uint8Array, start: i32 = 0, len: i32 = -1, lower: bool = false): void {
  if (len < 0) len = src.length - start;
  if (start < 0 || start + len > src.length) len = 0;
  const base = src.dataStart + start;
  w.reserve(len + 2);
  w.byte(0x22);
  // Bit k of `plain` says JSON_BYTE class k is copied as it is: a capital only when not folding.
  const plain: u32 = lower ? 0b000001 : 0b100001;
  let i = 0;
  while (i < len) {
    let j = i;
    // Eight bytes a step while none of them needs care (most header names and values), then byte by byte.
    if (!lower) while (j + 8 <= len && plainWord(load<u64>(base + j))) j += 8;
    while (j < len && ((plain >> load<u8>(JSON_BYTE + load<u8>(base + j))) & 1) != 0) j++;
    if (j > i) {
      memory.copy(w.room(j - i), base + i, j - i);
      w.length += j - i;
      i = j;
      if (i >= len) break;
    }
    // At most 6 bytes for this one: an escape, a replacement or a UTF-8 sequence.
    const at = w.room(6);
    const c = <u32>load<u8>(base + i);
    if (c < 0x80) {
      if (c == 0x22 || c == 0x5c) {
        store<u8>(at, 0x5c);
        store<u8>(at + 1, <u8>c);
        w.length += 2;
      } else if (c == 0x0a || c == 0x0d || c == 0x09) {
        store<u8>(at, 0x5c);
        store<u8>(at + 1, c == 0x0a ? 0x6e : c == 0x0d ? 0x72 : 0x74);
        w.length += 2;
      } else if (c < 0x20) {
        store<u8>(at, 0x5c);
        store<u8>(at + 1, 0x75);
        store<u8>(at + 2, 0x30);
        store<u8>(at + 3, 0x30);
        store<u8>(at + 4, load<u8>(HEX_DIGITS + (c >> 4)));
        store<u8>(at + 5, load<u8>(HEX_DIGITS + (c & 15)));
        w.length += 6;
      } else {
        // A capital being folded.
        store<u8>(at, <u8>(c >= 0x41 && c <= 0x5a ? c | 0x20 : c));
        w.length++;
      }
      i++;
      continue;
    }
    const n = utf8Sequence(base, i, len);
    if (n > 0) {
      memory.copy(at, base + i, n);
      w.length += n;
      i += n;
    } else {
      // U+FFFD for the maximal invalid subpart (-n bytes).
      store<u8>(at, 0xef);
      store<u8>(at + 1, 0xbf);
      store<u8>(at + 2, 0xbd);
      w.length += 3;
      i -= n;
    }
  }
  w.byte(0x22);
}

const ONES: u64 = 0x0101010101010101;
const HIGH: u64 = 0x8080808080808080;

/**
 * Whether none of eight bytes needs more than a copy: no byte of 0x80 and up (UTF-8 to check), below
 * 0x20 (to escape), '"' or '\\'. The tests are the exact "has a byte below n / equal to n" word
 * tricks (Bit Twiddling Hacks), for bytes under 0x80. Header names, which are folded, and mostly
 * short, go byte by byte.
 */
// @ts-ignore: decorator
@inline function plainWord(x: u64): bool {
  const q = x ^ (ONES * 0x22);
  const b = x ^ (ONES * 0x5c);
  return ((x | ((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGH) == 0;
}

/** Writes an ASCII/UTF-16 string (configuration values, our own text) as a JSON string. */
export function writeJsonText(w: ByteWriter, s: string): void {
  writeJsonString(w, Uint8Array.wrap(String.UTF8.encode(s)));
}
