// One pass over a body's bytes validates it as JSON (RFC 8259, UTF-8) and finds the value of every
// masked key, at any depth and inside arrays; the body is then copied into the event as it was sent
// (big integers keep every digit, [] stays [], escapes and spacing stay), each masked value replaced
// by "*****" — a few block copies, not a re-encoding. Nothing is decoded into strings, and nesting is
// tracked on an explicit stack, so a hostile body cannot exhaust the call stack.
import { ByteWriter, hexVal, utf8Sequence, JSON_BYTE } from "./bytes";

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

const EMPTY_SCRATCH = new Uint8Array(0);
const OBJECT: u8 = 1;
const ARRAY: u8 = 2;

@inline function isWs(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

class Scanner {
  pos: i32 = 0;
  private base: usize = 0;
  private end: i32 = 0;
  private stack: Uint8Array = new Uint8Array(32);
  depth: i32 = 0;
  // While >= 0, we are inside a masked value (which still gets validated) that began at maskStart.
  private maskDepth: i32 = -1;
  private maskStart: i32 = 0;
  /** Masked values found, as [start, end) pairs of offsets into the body. */
  ranges: Array<i32> = [];
  private scratch: Uint8Array = EMPTY_SCRATCH;
  private src: Uint8Array = EMPTY_SCRATCH;
  private masks: MaskSet | null = null;
  /** Whether the string scanned last had a backslash escape in it. */
  private lastEscaped: bool = false;

  /** Readies the (reused) scanner for another document. */
  reset(src: Uint8Array, masks: MaskSet | null): void {
    this.src = src;
    this.masks = masks;
    this.base = src.dataStart;
    this.end = src.length;
    this.pos = 0;
    this.depth = 0;
    this.maskDepth = -1;
    this.ranges.length = 0;
  }

  @inline private at(i: i32): u32 {
    return <u32>load<u8>(this.base + i);
  }

  @inline private skipWs(): void {
    let p = this.pos;
    const end = this.end;
    const base = this.base;
    while (p < end) {
      const c = <u32>load<u8>(base + p);
      // Most tokens are not preceded by whitespace: one comparison decides.
      if (c > 0x20 || !isWs(c)) break;
      p++;
    }
    this.pos = p;
  }

  @inline private get inMasked(): bool {
    return this.maskDepth >= 0;
  }

  private push(kind: u8): void {
    if (this.depth == this.stack.length) {
      const next = new Uint8Array(this.stack.length << 1);
      next.set(this.stack);
      this.stack = next;
    }
    unchecked(this.stack[this.depth++] = kind);
  }

  /** Scans a string starting at its opening quote; returns the index after the closing quote, or -1. */
  private string(): i32 {
    this.lastEscaped = false;
    let i = this.pos + 1;
    const end = this.end;
    while (i < end) {
      const c = this.at(i);
      const kind = load<u8>(JSON_BYTE + c);
      if (kind == 0 || kind == 5) { i++; continue; }
      if (kind == 1) return i + 1;
      if (kind == 2) {
        this.lastEscaped = true;
        if (i + 1 >= end) return -1;
        const e = this.at(i + 1);
        if (e == 0x75) {
          if (i + 6 > end) return -1;
          for (let k = 2; k < 6; k++) if (hexVal(this.at(i + k)) < 0) return -1;
          i += 6;
        } else if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
          i += 2;
        } else return -1;
        continue;
      }
      if (kind == 3) return -1;
      // UTF-8: the collector parses events as strict UTF-8, so invalid bytes make the body non-JSON.
      const n = utf8Sequence(this.base, i, end);
      if (n < 0) return -1;
      i += n;
    }
    return -1;
  }

  private number(): i32 {
    let i = this.pos;
    const end = this.end;
    if (i < end && this.at(i) == 0x2d) i++;
    if (i >= end) return -1;
    if (this.at(i) == 0x30) i++;
    else if (isDigit(this.at(i))) { while (i < end && isDigit(this.at(i))) i++; }
    else return -1;
    if (i < end && this.at(i) == 0x2e) {
      i++;
      if (i >= end || !isDigit(this.at(i))) return -1;
      while (i < end && isDigit(this.at(i))) i++;
    }
    if (i < end && (this.at(i) | 0x20) == 0x65) {
      i++;
      if (i < end && (this.at(i) == 0x2b || this.at(i) == 0x2d)) i++;
      if (i >= end || !isDigit(this.at(i))) return -1;
      while (i < end && isDigit(this.at(i))) i++;
    }
    return i;
  }

  private literal(word: string): i32 {
    const n = word.length;
    if (this.pos + n > this.end) return -1;
    for (let k = 0; k < n; k++) if (this.at(this.pos + k) != <u32>word.charCodeAt(k)) return -1;
    return this.pos + n;
  }

  /** Whether the key token [start, stop) (with quotes) names a masked field. */
  private keyMasked(start: i32, stop: i32): bool {
    const masks = this.masks;
    if (masks === null || masks.empty || this.inMasked) return false;
    const inner = start + 1;
    const len = stop - 1 - inner;
    // string() noted whether this key had an escape; without one its bytes are its name.
    if (!this.lastEscaped) return masks.mayHave(len) && masks.has(this.src, inner, len);
    // Rare: the key has escapes ("pass\u0077ord"); compare its decoded UTF-8 form.
    const decoded = this.unescape(inner, len);
    return decoded !== null && masks.has(decoded, 0, decoded.length);
  }

  private unescape(start: i32, len: i32): Uint8Array | null {
    if (this.scratch.length < len) this.scratch = new Uint8Array(len);
    const out = this.scratch;
    let o = 0;
    let i = start;
    const stop = start + len;
    while (i < stop) {
      const c = this.at(i);
      if (c != 0x5c) { out[o++] = <u8>c; i++; continue; }
      const e = this.at(i + 1);
      if (e != 0x75) {
        out[o++] = <u8>(e == 0x62 ? 8 : e == 0x66 ? 12 : e == 0x6e ? 10 : e == 0x72 ? 13 : e == 0x74 ? 9 : e);
        i += 2;
        continue;
      }
      let cp = (hexVal(this.at(i + 2)) << 12) | (hexVal(this.at(i + 3)) << 8) | (hexVal(this.at(i + 4)) << 4) | hexVal(this.at(i + 5));
      i += 6;
      if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= stop && this.at(i) == 0x5c && this.at(i + 1) == 0x75) {
        const lo = (hexVal(this.at(i + 2)) << 12) | (hexVal(this.at(i + 3)) << 8) | (hexVal(this.at(i + 4)) << 4) | hexVal(this.at(i + 5));
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

  /** Runs the whole document. */
  run(): bool {
    this.skipWs();
    let wantValue = true;
    while (true) {
      if (wantValue) {
        if (this.pos >= this.end) return false;
        const c = this.at(this.pos);
        if (c == 0x7b || c == 0x5b) {
          this.push(c == 0x7b ? OBJECT : ARRAY);
          this.pos++;
          this.skipWs();
          const close: u32 = c == 0x7b ? 0x7d : 0x5d;
          if (this.pos < this.end && this.at(this.pos) == close) {
            this.depth--;
            this.pos++;
          } else if (c == 0x7b) {
            if (!this.key()) return false;
            continue;
          } else {
            continue;
          }
        } else {
          let stop: i32;
          if (c == 0x22) stop = this.string();
          else if (c == 0x2d || isDigit(c)) stop = this.number();
          else if (c == 0x74) stop = this.literal("true");
          else if (c == 0x66) stop = this.literal("false");
          else if (c == 0x6e) stop = this.literal("null");
          else return false;
          if (stop < 0) return false;
          this.pos = stop;
        }
      }
      // A value just ended.
      if (this.maskDepth >= 0 && this.depth == this.maskDepth) {
        this.ranges.push(this.maskStart);
        this.ranges.push(this.pos);
        this.maskDepth = -1;
      }
      this.skipWs();
      if (this.depth == 0) return this.pos == this.end;
      if (this.pos >= this.end) return false;
      const top = unchecked(this.stack[this.depth - 1]);
      const c = this.at(this.pos);
      this.pos++;
      if (c == 0x2c) {
        this.skipWs();
        if (top == OBJECT) {
          if (!this.key()) return false;
        }
        wantValue = true;
        continue;
      }
      if ((top == OBJECT && c == 0x7d) || (top == ARRAY && c == 0x5d)) {
        this.depth--;
        wantValue = false;
        continue;
      }
      return false;
    }
    return false;
  }

  /** Reads `"key" :` and arranges for the value to be masked when the key says so. */
  private key(): bool {
    if (this.pos >= this.end || this.at(this.pos) != 0x22) return false;
    const stop = this.string();
    if (stop < 0) return false;
    const masked = this.keyMasked(this.pos, stop);
    this.pos = stop;
    this.skipWs();
    if (this.pos >= this.end || this.at(this.pos) != 0x3a) return false;
    this.pos++;
    this.skipWs();
    if (masked) {
      this.maskStart = this.pos;
      this.maskDepth = this.depth;
    }
    return true;
  }
}

const SCANNER = new Scanner();

/**
 * Validates `src` as one JSON document and appends it to `w` (without the whitespace around it),
 * masked. Returns false, leaving `w` as it was, when `src` is not valid JSON.
 */
export function scanJson(src: Uint8Array, masks: MaskSet | null, w: ByteWriter): bool {
  // One scanner serves every body: a filter instance is single-threaded and scanJson is not re-entered.
  const s = SCANNER;
  s.reset(src, masks);
  if (!s.run()) return false;
  let start = 0;
  let end = src.length;
  while (start < end && isWs(<u32>src[start])) start++;
  while (end > start && isWs(<u32>src[end - 1])) end--;
  const ranges = s.ranges;
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
