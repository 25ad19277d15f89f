import { noteAllocation } from "../runtime/pressure";

// A growable byte buffer for building JSON and batches without going through UTF-16 strings.

export class ByteWriter {
  private buf: Uint8Array;
  length: i32 = 0;

  constructor(capacity: i32 = 256) {
    this.buf = new Uint8Array(max(capacity, 16));
    noteAllocation(<usize>this.buf.length);
  }

  @inline private ensure(extra: i32): void {
    const need = this.length + extra;
    if (need > this.buf.length) this.grow(need);
  }

  private grow(need: i32): void {
    let cap = this.buf.length << 1;
    while (cap < need) cap <<= 1;
    const next = new Uint8Array(cap);
    noteAllocation(<usize>cap);
    memory.copy(next.dataStart, this.buf.dataStart, this.length);
    this.buf = next;
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
    if (v == 0) return this.byte(0x30);
    const digits = new StaticArray<u8>(20);
    let n = 0;
    while (v > 0) {
      unchecked(digits[n++] = <u8>(0x30 + v % 10));
      v /= 10;
    }
    this.ensure(n);
    while (n > 0) this.byte(unchecked(digits[--n]));
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
    noteAllocation(<usize>this.length);
    return this.buf.slice(0, this.length);
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
