// One pass over a body's bytes validates it as JSON (RFC 8259, UTF-8) and finds the value of every
// masked key, at any depth and inside arrays; the body is then copied into the event as it was sent
// (big integers keep every digit, [] stays [], escapes and spacing stay), each masked value replaced
// by "*****" — a few block copies, not a re-encoding. Nothing is decoded into strings, and nesting is
// tracked on an explicit stack, so a hostile body cannot exhaust the call stack.
import { ByteWriter, hex4At, utf8Sequence, JSON_BYTE } from "./bytes";

const MASKED = Uint8Array.wrap(String.UTF8.encode("\"*****\""));

/** The mask keys of one body direction, as UTF-8 bytes. */
export class MaskSet {
  keys: Array<Uint8Array> = [];
  maxLength: i32 = 0;
  /** Bit n set when some key is n bytes long (n < 64): most keys are ruled out by length alone. */
  lengths: u64 = 0;

  static of(names: Array<string>): MaskSet {
    const m = new MaskSet();
    for (let i = 0; i < names.length; i++) {
      const k = Uint8Array.wrap(String.UTF8.encode(names[i]));
      m.keys.push(k);
      if (k.length > m.maxLength) m.maxLength = k.length;
      if (k.length < 64) m.lengths |= (<u64>1) << <u64>k.length;
    }
    return m;
  }

  get empty(): bool {
    return this.keys.length == 0;
  }

  /** Whether some key has this length (cheap; a key of 64 bytes or more always may). */
  @inline mayHave(len: i32): bool {
    return len >= 64 ? len <= this.maxLength : (this.lengths & ((<u64>1) << <u64>len)) != 0;
  }

  has(src: Uint8Array, start: i32, len: i32): bool {
    for (let i = 0; i < this.keys.length; i++) {
      const k = unchecked(this.keys[i]);
      if (k.length == len && memory.compare(k.dataStart, src.dataStart + start, len) == 0) return true;
    }
    return false;
  }
}

const OBJECT: u8 = 1;
const ARRAY: u8 = 2;

@inline function isWs(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

// The scan keeps its position, bounds and nesting depth in locals and hands them to small inlined
// helpers: as fields of a scanner object every byte paid a load through `this`, and the scan was
// about 1.4× slower (npm run bench §8 showed it first among the filter's own functions). What a
// helper returns besides a position goes through these module globals: one scan runs at a time (a
// filter instance is single-threaded and scanJson is not re-entered).
/** Whether the string scanned last had a backslash escape in it. */
let lastEscaped = false;
/** Nesting: OBJECT or ARRAY per open container (grown on demand; bounded by the body's size). */
let stack = new Uint8Array(32);
/** Masked values found, as [start, end) pairs of offsets into the body. */
const ranges = new Array<i32>();
/** A key with escapes ("pass\u0077ord"), decoded to UTF-8 for the comparison. */
let scratch = new Uint8Array(0);

@inline function skipWs(base: usize, p: i32, end: i32): i32 {
  while (p < end) {
    const c = <u32>load<u8>(base + p);
    // Most tokens are not preceded by whitespace: one comparison decides.
    if (c > 0x20 || !isWs(c)) break;
    p++;
  }
  return p;
}

/** The index after the closing quote of the string whose opening quote is at `i`, or -1. */
@inline function stringEnd(base: usize, i: i32, end: i32): i32 {
  lastEscaped = false;
  i++;
  while (true) {
    // Plain bytes (JSON_BYTE classes 0 and 5) are most of a string: a tight loop over them.
    let kind: u32 = 0;
    while (i < end) {
      kind = <u32>load<u8>(JSON_BYTE + <usize>load<u8>(base + i));
      if (((0x21 >> kind) & 1) == 0) break;
      i++;
    }
    if (i >= end) return -1;
    if (kind == 1) return i + 1;
    if (kind == 2) {
      lastEscaped = true;
      if (i + 1 >= end) return -1;
      const e = <u32>load<u8>(base + i + 1);
      if (e == 0x75) {
        if (i + 6 > end || hex4At(base + i + 2) < 0) return -1;
        i += 6;
      } else if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
        i += 2;
      } else return -1;
      continue;
    }
    if (kind == 3) return -1;
    // UTF-8: the collector parses events as strict UTF-8, so invalid bytes make the body non-JSON.
    const n = utf8Sequence(base, i, end);
    if (n < 0) return -1;
    i += n;
  }
  return -1;
}

@inline function digitsEnd(base: usize, i: i32, end: i32): i32 {
  while (i < end && isDigit(<u32>load<u8>(base + i))) i++;
  return i;
}

/** The index after the number that starts at `i` (a minus sign or a digit), or -1. */
@inline function numberEnd(base: usize, i: i32, end: i32): i32 {
  if (load<u8>(base + i) == 0x2d) i++;
  if (i >= end) return -1;
  const first = <u32>load<u8>(base + i);
  if (first == 0x30) i++;
  else if (isDigit(first)) i = digitsEnd(base, i + 1, end);
  else return -1;
  if (i < end && load<u8>(base + i) == 0x2e) {
    i++;
    if (i >= end || !isDigit(<u32>load<u8>(base + i))) return -1;
    i = digitsEnd(base, i + 1, end);
  }
  if (i < end && (load<u8>(base + i) | 0x20) == 0x65) {
    i++;
    if (i < end && (load<u8>(base + i) == 0x2b || load<u8>(base + i) == 0x2d)) i++;
    if (i >= end || !isDigit(<u32>load<u8>(base + i))) return -1;
    i = digitsEnd(base, i + 1, end);
  }
  return i;
}

/** The index after `true`, `false` or `null` at `i`, whose first byte `c` is t, f or n; or -1. */
@inline function literalEnd(base: usize, i: i32, end: i32, c: u32): i32 {
  if (i + 4 > end) return -1;
  // Four bytes at once, little-endian.
  const four = load<u32>(base + i);
  if (c == 0x74) return four == 0x65757274 ? i + 4 : -1; // "true"
  if (c == 0x6e) return four == 0x6c6c756e ? i + 4 : -1; // "null"
  return four == 0x736c6166 && i + 5 <= end && load<u8>(base + i + 4) == 0x65 ? i + 5 : -1; // "false"
}

/** Whether the key token [start, stop) (with quotes) names a masked field. */
function keyMasked(src: Uint8Array, masks: MaskSet, start: i32, stop: i32): bool {
  const inner = start + 1;
  const len = stop - 1 - inner;
  // stringEnd noted whether this key had an escape; without one its bytes are its name.
  if (!lastEscaped) return masks.mayHave(len) && masks.has(src, inner, len);
  const decoded = unescape(src.dataStart, inner, len);
  return masks.has(decoded, 0, decoded.length);
}

/** A key's bytes (escapes already validated by stringEnd), decoded to UTF-8 in the scratch buffer. */
function unescape(base: usize, start: i32, len: i32): Uint8Array {
  if (scratch.length < len) scratch = new Uint8Array(len);
  const out = scratch;
  let o = 0;
  let i = start;
  const stop = start + len;
  while (i < stop) {
    const c = <u32>load<u8>(base + i);
    if (c != 0x5c) { out[o++] = <u8>c; i++; continue; }
    const e = <u32>load<u8>(base + i + 1);
    if (e != 0x75) {
      out[o++] = <u8>(e == 0x62 ? 8 : e == 0x66 ? 12 : e == 0x6e ? 10 : e == 0x72 ? 13 : e == 0x74 ? 9 : e);
      i += 2;
      continue;
    }
    let cp = hex4At(base + i + 2);
    i += 6;
    if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= stop && load<u8>(base + i) == 0x5c && load<u8>(base + i + 1) == 0x75) {
      const lo = hex4At(base + i + 2);
      if (lo >= 0xdc00 && lo < 0xe000) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i += 6;
      }
    }
    // Each escape is 6 bytes and encodes to at most 4 (a pair is 12 for 4): the scratch is big enough.
    if (cp < 0x80) out[o++] = <u8>cp;
    else if (cp < 0x800) { out[o++] = <u8>(0xc0 | (cp >> 6)); out[o++] = <u8>(0x80 | (cp & 63)); }
    else if (cp < 0x10000) { out[o++] = <u8>(0xe0 | (cp >> 12)); out[o++] = <u8>(0x80 | ((cp >> 6) & 63)); out[o++] = <u8>(0x80 | (cp & 63)); }
    else { out[o++] = <u8>(0xf0 | (cp >> 18)); out[o++] = <u8>(0x80 | ((cp >> 12) & 63)); out[o++] = <u8>(0x80 | ((cp >> 6) & 63)); out[o++] = <u8>(0x80 | (cp & 63)); }
  }
  return out.subarray(0, o);
}

/**
 * Validates the whole document, noting masked values in `ranges`. At each `"key":` whose key names
 * a masked field (outside any masked value) the scan remembers where the value starts and the
 * depth at which it will have ended; the masked value itself is still validated.
 */
function scan(src: Uint8Array, masks: MaskSet | null): bool {
  const base = src.dataStart;
  const end = src.length;
  const checkKeys = masks !== null && !masks.empty;
  let depth = 0;
  // While >= 0, the scan is inside a masked value that began at maskStart.
  let maskDepth = -1;
  let maskStart = 0;
  ranges.length = 0;
  let p = skipWs(base, 0, end);
  let expectKey = false;
  while (true) {
    if (expectKey) {
      if (p >= end || load<u8>(base + p) != 0x22) return false;
      const stop = stringEnd(base, p, end);
      if (stop < 0) return false;
      const masked = checkKeys && maskDepth < 0 && keyMasked(src, masks!, p, stop);
      p = skipWs(base, stop, end);
      if (p >= end || load<u8>(base + p) != 0x3a) return false;
      p = skipWs(base, p + 1, end);
      if (masked) {
        maskStart = p;
        maskDepth = depth;
      }
    }
    // A value starts at p.
    if (p >= end) return false;
    const c = <u32>load<u8>(base + p);
    if (c == 0x7b || c == 0x5b) {
      if (depth == stack.length) {
        const next = new Uint8Array(depth << 1);
        next.set(stack);
        stack = next;
      }
      unchecked(stack[depth++] = c == 0x7b ? OBJECT : ARRAY);
      p = skipWs(base, p + 1, end);
      // '{' + 2 is '}', '[' + 2 is ']': an empty container ends here.
      if (p >= end || <u32>load<u8>(base + p) != c + 2) {
        expectKey = c == 0x7b;
        continue;
      }
      depth--;
      p++;
    } else {
      if (c == 0x22) p = stringEnd(base, p, end);
      else if (c == 0x2d || isDigit(c)) p = numberEnd(base, p, end);
      else if (c == 0x74 || c == 0x66 || c == 0x6e) p = literalEnd(base, p, end, c);
      else return false;
      if (p < 0) return false;
    }
    // A value ended at p: then commas and closing brackets, until the next value (or the end).
    while (true) {
      if (depth == maskDepth) {
        ranges.push(maskStart);
        ranges.push(p);
        maskDepth = -1;
      }
      p = skipWs(base, p, end);
      if (depth == 0) return p == end;
      if (p >= end) return false;
      const top = unchecked(stack[depth - 1]);
      const d = <u32>load<u8>(base + p);
      p++;
      if (d == 0x2c) {
        p = skipWs(base, p, end);
        expectKey = top == OBJECT;
        break;
      }
      if ((top == OBJECT && d == 0x7d) || (top == ARRAY && d == 0x5d)) {
        depth--;
        continue;
      }
      return false;
    }
  }
  return false;
}

/**
 * Validates `src` as one JSON document and appends it to `w` (without the whitespace around it),
 * masked. Returns false, leaving `w` as it was, when `src` is not valid JSON.
 */
export function scanJson(src: Uint8Array, masks: MaskSet | null, w: ByteWriter): bool {
  if (!scan(src, masks)) return false;
  let start = 0;
  let end = src.length;
  while (start < end && isWs(<u32>src[start])) start++;
  while (end > start && isWs(<u32>src[end - 1])) end--;
  let from = start;
  for (let i = 0; i < ranges.length; i += 2) {
    const a = unchecked(ranges[i]);
    w.bytes(src, from, a - from);
    w.bytes(MASKED);
    from = unchecked(ranges[i + 1]);
  }
  w.bytes(src, from, end - from);
  return true;
}
