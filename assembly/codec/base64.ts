// Base64 (RFC 4648): standard alphabet with padding for bodies in events; decoding accepts the
// standard and the URL-safe alphabet, with or without padding, because JWTs use base64url without
// padding and Basic credentials use standard base64 (the Lua plugin got both wrong).
import { ByteWriter } from "./bytes";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Decoding table: 0–63 for both alphabets, 255 for anything else.
const DECODE = new StaticArray<u8>(256);
let decodeReady = false;

function initDecode(): void {
  for (let i = 0; i < 256; i++) unchecked(DECODE[i] = 255);
  for (let i = 0; i < 64; i++) unchecked(DECODE[ALPHABET.charCodeAt(i)] = <u8>i);
  unchecked(DECODE[0x2d] = 62); // '-'
  unchecked(DECODE[0x5f] = 63); // '_'
  decodeReady = true;
}

/** Writes src[start, start+len) as standard padded base64 (no quotes). */
export function writeBase64(w: ByteWriter, src: Uint8Array, start: i32 = 0, len: i32 = -1): void {
  if (len < 0) len = src.length - start;
  if (start < 0 || start + len > src.length) return;
  const out = new Uint8Array(((len + 2) / 3) * 4);
  const base = src.dataStart + start;
  const dst = out.dataStart;
  const alpha = changetype<usize>(ALPHABET);
  let i = 0;
  let o = 0;
  for (; i + 3 <= len; i += 3) {
    const n = (<u32>load<u8>(base + i) << 16) | (<u32>load<u8>(base + i + 1) << 8) | <u32>load<u8>(base + i + 2);
    store<u8>(dst + o, <u8>load<u16>(alpha + ((n >> 18) << 1)));
    store<u8>(dst + o + 1, <u8>load<u16>(alpha + (((n >> 12) & 63) << 1)));
    store<u8>(dst + o + 2, <u8>load<u16>(alpha + (((n >> 6) & 63) << 1)));
    store<u8>(dst + o + 3, <u8>load<u16>(alpha + ((n & 63) << 1)));
    o += 4;
  }
  const rest = len - i;
  if (rest > 0) {
    let n = <u32>load<u8>(base + i) << 16;
    if (rest == 2) n |= <u32>load<u8>(base + i + 1) << 8;
    store<u8>(dst + o, <u8>load<u16>(alpha + ((n >> 18) << 1)));
    store<u8>(dst + o + 1, <u8>load<u16>(alpha + (((n >> 12) & 63) << 1)));
    store<u8>(dst + o + 2, rest == 2 ? <u8>load<u16>(alpha + (((n >> 6) & 63) << 1)) : 0x3d);
    store<u8>(dst + o + 3, 0x3d);
  }
  w.bytes(out);
}

/**
 * Decodes base64 or base64url, padded or not. Returns null for any other character, misplaced
 * padding, or an impossible length (4n+1 characters).
 */
export function decodeBase64(src: Uint8Array, start: i32 = 0, len: i32 = -1): Uint8Array | null {
  if (!decodeReady) initDecode();
  if (len < 0) len = src.length - start;
  if (start < 0 || start + len > src.length) return null;
  const base = src.dataStart + start;
  // Padding, if any, only at the end and only to a multiple of 4.
  let end = len;
  while (end > 0 && load<u8>(base + end - 1) == 0x3d) end--;
  const pad = len - end;
  if (pad > 2 || (pad > 0 && (len & 3) != 0)) return null;
  if ((end & 3) == 1) return null;
  const out = new Uint8Array((end * 3) >> 2);
  const dst = out.dataStart;
  let acc: u32 = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const v = unchecked(DECODE[load<u8>(base + i)]);
    if (v == 255) return null;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      store<u8>(dst + o++, <u8>(acc >> bits));
    }
  }
  return out;
}
