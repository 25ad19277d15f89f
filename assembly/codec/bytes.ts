
// A growable byte buffer for building JSON and batches without going through UTF-16 strings.

export class ByteWriter {
  private buf: Uint8Array;
  length: i32 = 0;

  /** With `taken`, the writer's content is those bytes, taken over rather than copied (see taking). */
  constructor(capacity: i32 = 256, taken: Uint8Array | null = null) {
    this.buf = taken !== null ? taken : new Uint8Array(max(capacity, 16));
    if (taken !== null) this.length = taken.length;
  }

  /**
   * A writer whose content is `bytes` (at least 16 of them), taken over rather than copied: what
   * follows is written after them. Nothing else may write to `bytes` afterwards.
   */
  static taking(bytes: Uint8Array): ByteWriter {
    return new ByteWriter(0, bytes);
  }

  @inline private ensure(extra: i32): void {
    const need = this.length + extra;
    if (need > this.buf.length) this.grow(need);
  }

  private grow(need: i32): void {
    let cap = this.buf.length << 1;
    while (cap < need) cap <<= 1;
    const next = new Uint8Array(cap);
    memory.copy(next.dataStart, this.buf.dataStart, this.length);
    this.buf = next;
  }

  /**
   * Room for `n` more bytes, for a caller that fills them itself: the address of the first. It is
   * valid until the writer is next asked for room or written to; the caller then moves `length`
   * by what it filled.
   */
  @inline room(n: i32): usize {
    this.ensure(n);
    return this.buf.dataStart + this.length;
  }

  @inline byte(b: u8): ByteWriter {
    this.ensure(1);
    store<u8>(this.buf.dataStart + this.length, b);
    this.length++;
    return this;
  }

  /** Appends bytes [start, start+len) of `src`; the range must lie inside `src`. */
  bytes(src: Uint8Array, start: i32 = 0, len: i32 = -1): ByteWriter {
    if (len < 0) len = src.length - start;
    if (start < 0 || len <= 0 || start + len > src.length) return this;
    this.ensure(len);
    memory.copy(this.buf.dataStart + this.length, src.dataStart + start, len);
    this.length += len;
    return this;
  }

  /** Appends ASCII text (literals, numbers); never use it for data from outside. */
  ascii(s: string): ByteWriter {
    const n = s.length;
    this.ensure(n);
    const p = this.buf.dataStart + this.length;
    for (let i = 0; i < n; i++) store<u8>(p + i, <u8>s.charCodeAt(i));
    this.length += n;
    return this;
  }

  u64(v: u64): ByteWriter {
    let n = 1;
    for (let t = v / 10; t > 0; t /= 10) n++;
    this.ensure(n);
    // Written from the last digit back.
    const p = this.buf.dataStart + this.length;
    for (let i = n - 1; i >= 0; i--) {
      store<u8>(p + i, <u8>(0x30 + v % 10));
      v /= 10;
    }
    this.length += n;
    return this;
  }

  /** Zero-padded decimal of exactly `width` digits (for timestamps). */
  padded(v: u32, width: i32): ByteWriter {
    this.ensure(width);
    const p = this.buf.dataStart + this.length;
    for (let i = width - 1; i >= 0; i--) {
      store<u8>(p + i, <u8>(0x30 + v % 10));
      v /= 10;
    }
    this.length += width;
    return this;
  }

  /** A copy of what was written. */
  toBytes(): Uint8Array {
    return copyOf(this.buf.dataStart, this.length);
  }

  /** What was written, without a copy: valid until the writer is written to again. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  /** The byte at `pos` (which must be below `length`). */
  at(pos: i32): u8 {
    return load<u8>(this.buf.dataStart + pos);
  }

  /** Removes the byte at `pos`, moving what follows back by one. */
  removeAt(pos: i32): void {
    if (pos < 0 || pos >= this.length) return;
    const p = this.buf.dataStart + pos;
    memory.copy(p, p + 1, this.length - pos - 1);
    this.length--;
  }

  /** Makes room for `n` more bytes at once. */
  reserve(n: i32): void {
    this.ensure(n);
  }

  reset(): void {
    this.length = 0;
  }
}

/**
 * `n` bytes for a caller that writes every one of them at once (a copy, a batch): the zero fill
 * `new Uint8Array` does first is skipped (the allocator leaves memory as it is).
 */
export function uninitialised(n: i32): Uint8Array {
  return Uint8Array.wrap(changetype<ArrayBuffer>(__new(<usize>max(n, 0), idof<ArrayBuffer>())));
}

/** A copy of `len` bytes at `src`. */
export function copyOf(src: usize, len: i32): Uint8Array {
  const out = uninitialised(len);
  memory.copy(out.dataStart, src, <usize>len);
  return out;
}

/** "0123456789abcdef", for writing bytes as hex (transaction ids, \u escapes). */
export const HEX_DIGITS = memory.data<u8>([0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66]);

/**
 * What a byte is to JSON text, for the scanner and the string writer (one load per byte instead of
 * a run of tests): 0 plain, 1 a quote, 2 a backslash, 3 a control character, 4 a byte of 0x80 and
 * up (UTF-8), 5 an ASCII capital (plain, unless header names are being folded).
 */
export const JSON_BYTE = memory.data<u8>([
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
  0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 0, 2, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
  4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
  4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
  4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
]);

/** A shared empty byte array, for defaults (never written to). */
export const EMPTY_BYTES = new Uint8Array(0);

export function utf8(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}


/** ASCII lower case (header names, schemes, encodings: all ASCII; no Unicode tables needed). */
export function asciiLower(s: string): string {
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) break;
    i++;
  }
  if (i == n) return s;
  let out = s.substring(0, i);
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    out += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
  }
  return out;
}

/** A run of decimal digits as a number; -1 when empty, not all digits, or longer than 9 digits. */
export function decimal(s: string, start: i32 = 0, end: i32 = -1): i32 {
  if (end < 0) end = s.length;
  if (end <= start || end - start > 9) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** The value of a hex digit, or -1. */
@inline export function hexVal(c: u32): i32 {
  if (c - 0x30 < 10) return <i32>(c - 0x30);
  const l = c | 0x20;
  if (l - 0x61 < 6) return <i32>(l - 0x57);
  return -1;
}

/** The four hex digits at `p` as a number (a JSON \u escape), or -1 when one is not a hex digit. */
export function hex4At(p: usize): i32 {
  const a = hexVal(<u32>load<u8>(p));
  const b = hexVal(<u32>load<u8>(p + 1));
  const c = hexVal(<u32>load<u8>(p + 2));
  const d = hexVal(<u32>load<u8>(p + 3));
  return (a | b | c | d) < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
}

/** A space or a tab: the blanks HTTP allows around header values and their parts. */
@inline export function isBlank(c: u8): bool {
  return c == 0x20 || c == 0x09;
}

/** The first of the bytes [s, e) at `p` that is not a blank, or e. */
@inline export function skipBlanks(p: usize, s: i32, e: i32): i32 {
  while (s < e && isBlank(load<u8>(p + s))) s++;
  return s;
}

/** Where the bytes [s, e) at `p` end once trailing blanks are dropped. */
@inline export function dropBlanks(p: usize, s: i32, e: i32): i32 {
  while (e > s && isBlank(load<u8>(p + e - 1))) e--;
  return e;
}

/** The value without leading and trailing spaces and tabs (a view), or null when nothing is left. */
export function trimmed(v: Uint8Array): Uint8Array | null {
  const p = v.dataStart;
  const s = skipBlanks(p, 0, v.length);
  const e = dropBlanks(p, s, v.length);
  return e > s ? v.subarray(s, e) : null;
}

/** Bytes that are all decimal digits, as a number; -1 when empty, not digits, or over `maxDigits`. */
export function digits(b: Uint8Array, maxDigits: i32): i64 {
  return digitsAt(b.dataStart, b.length, maxDigits);
}

function digitsAt(p: usize, n: i32, maxDigits: i32): i64 {
  if (n == 0 || n > maxDigits) return -1;
  let v: i64 = 0;
  for (let i = 0; i < n; i++) {
    const c = <i64>load<u8>(p + i) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * The `len` bytes at `p`, without leading and trailing spaces and tabs, as digits() reads them: read
 * in place (a header value inside its map's block), without a view.
 */
export function trimmedDigitsAt(p: usize, len: i32, maxDigits: i32): i64 {
  const s = skipBlanks(p, 0, len);
  return digitsAt(p + s, dropBlanks(p, s, len) - s, maxDigits);
}

/** A status code's three digits as a number; 0 when it is not three digits. */
export function parseStatus(b: Uint8Array): i32 {
  return b.length == 3 ? <i32>max(digits(b, 3), 0) : 0;
}

/**
 * At base+i (i < end) a byte of 0x80 or more: the length of the valid UTF-8 sequence it starts
 * (2 to 4), or minus the length of its maximal invalid subpart (-1 to -3), as WHATWG decoders count it.
 */
export function utf8Sequence(base: usize, i: i32, end: i32): i32 {
  const b = <u32>load<u8>(base + i);
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
  if (need == 0) return -1;
  let ok = 1;
  if (i + 1 < end) {
    const b1 = <u32>load<u8>(base + i + 1);
    if (b1 >= lo && b1 <= hi) {
      ok = 2;
      while (ok <= need && i + ok < end && (<u32>load<u8>(base + i + ok) & 0xc0) == 0x80) ok++;
    }
  }
  return ok == need + 1 ? ok : -ok;
}

/**
 * Decodes UTF-8 bytes, each invalid sequence becoming U+FFFD (maximal subparts, as header values
 * are written): "admin\xC3" is "admin\uFFFD", not "admin", so no malformed value passes for another.
 */
export function decodeUtf8(base: usize, len: i32): string {
  let i = 0;
  while (i < len && load<u8>(base + i) < 0x80) i++;
  if (i == len) return String.UTF8.decodeUnsafe(base, len);
  let out = String.UTF8.decodeUnsafe(base, i);
  while (i < len) {
    if (load<u8>(base + i) < 0x80) {
      let j = i + 1;
      while (j < len && load<u8>(base + j) < 0x80) j++;
      out += String.UTF8.decodeUnsafe(base + i, j - i);
      i = j;
      continue;
    }
    const n = utf8Sequence(base, i, len);
    if (n > 0) out += String.UTF8.decodeUnsafe(base + i, n);
    else out += "\uFFFD";
    i += n > 0 ? n : -n;
  }
  return out;
}
