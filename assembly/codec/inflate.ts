// Decompression for gzip'd and deflate'd bodies: RFC 1951 (DEFLATE) with the RFC 1952 (gzip) and
// RFC 1950 (zlib) wrappers. No AssemblyScript zlib exists, so this is our own, in the style of
// zlib's puff.c: canonical Huffman decoding from code-length counts.
//
// Output is bounded: past `maxOut` bytes decoding stops with TooLarge, so a decompression bomb
// costs at most maxOut bytes and the time to produce them. Corrupt input returns Corrupt; nothing
// here can read outside the input or trap. One inflater serves every body, and its tables are made
// once: a body of thousands of gzip members or tiny dynamic blocks allocates one output buffer
// (sized by the limit, not by the input) and nothing per member or per block.

import { uninitialised } from "./bytes";

export const enum InflateStatus { Ok = 0, TooLarge = 1, Corrupt = 2 }

export class InflateResult {
  constructor(public status: InflateStatus, public data: Uint8Array | null) {}
}

const MAXBITS = 15;
/** Codes up to this long decode with one table lookup; longer ones bit by bit. */
const FAST_BITS = 9;
const FAST_MASK: usize = (1 << FAST_BITS) - 1;

class Huffman {
  count: StaticArray<u16> = new StaticArray<u16>(MAXBITS + 1);
  symbol: StaticArray<u16>;
  /** Indexed by the next FAST_BITS input bits: (code length << 12) | symbol, or 0 for a longer code. */
  fast: StaticArray<u16> = new StaticArray<u16>(1 << FAST_BITS);
  constructor(n: i32) {
    this.symbol = new StaticArray<u16>(n);
  }
}

// Base lengths and extra bits for length codes 257..285, and distances 0..29 (RFC 1951 3.2.5).
const LBASE: StaticArray<u16> = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEXT: StaticArray<u8> = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DBASE: StaticArray<u16> = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DEXT: StaticArray<u8> = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
// Order of code-length code lengths in a dynamic block header.
const CLORDER: StaticArray<u8> = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

const OFFS = new StaticArray<u16>(MAXBITS + 1);

/**
 * Builds a canonical Huffman decoder from code lengths. Returns 0 for a complete code, a positive
 * number for an incomplete one, negative for an over-subscribed one (as puff.c does).
 */
function construct(h: Huffman, lengths: StaticArray<u8>, offset: i32, n: i32, fast: bool = true): i32 {
  for (let len = 0; len <= MAXBITS; len++) unchecked(h.count[len] = 0);
  for (let s = 0; s < n; s++) {
    const l = unchecked(lengths[offset + s]);
    unchecked(h.count[l] = unchecked(h.count[l]) + 1);
  }
  if (<i32>unchecked(h.count[0]) == n) return 0; // no codes: complete, but decoding will fail
  let left = 1;
  for (let len = 1; len <= MAXBITS; len++) {
    left <<= 1;
    left -= <i32>unchecked(h.count[len]);
    if (left < 0) return left;
  }
  const offs = OFFS;
  unchecked(offs[1] = 0);
  for (let len = 1; len < MAXBITS; len++) unchecked(offs[len + 1] = unchecked(offs[len]) + unchecked(h.count[len]));
  for (let s = 0; s < n; s++) {
    const l = unchecked(lengths[offset + s]);
    if (l != 0) {
      const o = unchecked(offs[l]);
      unchecked(h.symbol[o] = <u16>s);
      unchecked(offs[l] = o + 1);
    }
  }
  if (fast) buildFast(h);
  return left;
}

/** Fills the lookup table: every bit pattern that starts with a short code points to its symbol. */
function buildFast(h: Huffman): void {
  const fast = h.fast;
  for (let i = 0; i < (1 << FAST_BITS); i++) unchecked(fast[i] = 0);
  let code = 0;
  let index = 0;
  for (let len = 1; len <= FAST_BITS; len++) {
    const count = <i32>unchecked(h.count[len]);
    for (let k = 0; k < count; k++) {
      // Codes are sent most significant bit first, and read least significant first: reverse.
      let c = code + k;
      let rev = 0;
      for (let b = 0; b < len; b++) { rev = (rev << 1) | (c & 1); c >>= 1; }
      const entry = <u16>((len << 12) | <i32>unchecked(h.symbol[index + k]));
      for (let fill = rev; fill < (1 << FAST_BITS); fill += 1 << len) unchecked(fast[fill] = entry);
    }
    index += count;
    code = (code + count) << 1;
  }
}

let fixedLen: Huffman | null = null;
let fixedDist: Huffman | null = null;

/** The code lengths of the fixed literal/length code (RFC 1951 3.2.6). */
export function fixedLiteralLengths(): StaticArray<u8> {
  const lengths = new StaticArray<u8>(288);
  for (let s = 0; s < 144; s++) unchecked(lengths[s] = 8);
  for (let s = 144; s < 256; s++) unchecked(lengths[s] = 9);
  for (let s = 256; s < 280; s++) unchecked(lengths[s] = 7);
  for (let s = 280; s < 288; s++) unchecked(lengths[s] = 8);
  return lengths;
}

function fixedTables(): void {
  if (fixedLen !== null) return;
  const lengths = fixedLiteralLengths();
  const l = new Huffman(288);
  construct(l, lengths, 0, 288);
  for (let s = 0; s < 30; s++) unchecked(lengths[s] = 5);
  const d = new Huffman(30);
  construct(d, lengths, 0, 30);
  fixedLen = l;
  fixedDist = d;
}

class Inflater {
  pos: i32 = 0;
  bitbuf: u32 = 0;
  bitcnt: i32 = 0;
  failed: bool = false;
  out: Uint8Array = EMPTY;
  outLen: i32 = 0;
  tooLarge: bool = false;
  private src: Uint8Array = EMPTY;
  private end: i32 = 0;
  private maxOut: i32 = 0;
  // A dynamic block's code lengths and codes, reused block after block.
  private lengths: StaticArray<u8> = new StaticArray<u8>(320);
  private clcode: Huffman = new Huffman(19);
  private lencode: Huffman = new Huffman(286);
  private distcode: Huffman = new Huffman(30);

  /** Starts a body: a fresh output buffer sized from the input, never past the limit. */
  begin(src: Uint8Array, maxOut: i32): void {
    this.src = src;
    this.maxOut = maxOut;
    const cap = min(max(64, src.length * 4), max(maxOut, 64));
    // Only bytes below outLen are ever read (a back-reference past them is corrupt): no zero fill.
    this.out = uninitialised(cap);
    this.outLen = 0;
    this.tooLarge = false;
  }

  /** Starts a DEFLATE stream at src[start, end); output goes on after what is there. */
  stream(start: i32, end: i32): void {
    this.pos = start;
    this.end = end;
    this.bitbuf = 0;
    this.bitcnt = 0;
    this.failed = false;
  }

  /** Loads whole input bytes into the bit buffer while there is room for them. */
  @inline private fill(): void {
    while (this.bitcnt <= 24 && this.pos < this.end) {
      this.bitbuf |= <u32>load<u8>(this.src.dataStart + this.pos) << this.bitcnt;
      this.pos++;
      this.bitcnt += 8;
    }
  }

  /** Back to a byte boundary: the partial byte's bits are dropped, whole bytes go back to the input. */
  private alignToByte(): void {
    this.pos -= this.bitcnt >> 3;
    this.bitbuf = 0;
    this.bitcnt = 0;
  }

  bits(need: i32): u32 {
    let val = this.bitbuf;
    while (this.bitcnt < need) {
      if (this.pos >= this.end) {
        this.failed = true;
        return 0;
      }
      val |= <u32>load<u8>(this.src.dataStart + this.pos) << this.bitcnt;
      this.pos++;
      this.bitcnt += 8;
    }
    this.bitbuf = need == 32 ? 0 : val >> need;
    this.bitcnt -= need;
    return need == 32 ? val : val & ((1 << need) - 1);
  }

  private room(n: i32): bool {
    const need = this.outLen + n;
    if (need > this.maxOut) {
      this.tooLarge = true;
      return false;
    }
    if (need > this.out.length) {
      let cap = this.out.length << 1;
      while (cap < need) cap <<= 1;
      cap = min(cap, this.maxOut);
      const next = uninitialised(cap);
      memory.copy(next.dataStart, this.out.dataStart, this.outLen);
      this.out = next;
    }
    return true;
  }

  private stored(): bool {
    this.alignToByte();
    if (this.pos + 4 > this.end) return false;
    const p = this.src.dataStart + this.pos;
    const len = <i32>load<u8>(p) | (<i32>load<u8>(p + 1) << 8);
    const nlen = <i32>load<u8>(p + 2) | (<i32>load<u8>(p + 3) << 8);
    if (len != (~nlen & 0xffff)) return false;
    this.pos += 4;
    if (this.pos + len > this.end) return false;
    if (!this.room(len)) return false;
    memory.copy(this.out.dataStart + this.outLen, this.src.dataStart + this.pos, len);
    this.outLen += len;
    this.pos += len;
    return true;
  }

  @inline private decode(h: Huffman): i32 {
    if (this.bitcnt < FAST_BITS) this.fill();
    // A table left empty (the code-length code) has only zeros: every lookup falls through.
    const e = <i32>unchecked(h.fast[this.bitbuf & <u32>FAST_MASK]);
    if (e != 0 && (e >> 12) <= this.bitcnt) {
      const len = e >> 12;
      this.bitbuf >>= len;
      this.bitcnt -= len;
      return e & 0xfff;
    }
    return this.decodeSlow(h);
  }

  /** A code longer than the lookup table (or one the input ends inside): bit by bit, as puff.c. */
  private decodeSlow(h: Huffman): i32 {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len <= MAXBITS; len++) {
      code |= <i32>this.bits(1);
      if (this.failed) return -1;
      const count = <i32>unchecked(h.count[len]);
      if (code - count < first) return <i32>unchecked(h.symbol[index + (code - first)]);
      index += count;
      first += count;
      first <<= 1;
      code <<= 1;
    }
    return -1;
  }

  /** Hands the bit reader's and the output's state from codes()'s locals back to the fields. */
  @inline private save(pos: i32, bitbuf: u32, bitcnt: i32, outLen: i32): void {
    this.pos = pos;
    this.bitbuf = bitbuf;
    this.bitcnt = bitcnt;
    this.outLen = outLen;
  }

  /**
   * A block's literals and matches, up to its end-of-block code. The bit buffer, the input position
   * and the output length live in locals here, handed to the fields only around the rare slow paths
   * (long codes, a full output buffer) and at the block's end: as fields, every symbol paid loads
   * and stores through `this`. A corrupt block returns without them: nothing reads them after it.
   */
  private codes(lencode: Huffman, distcode: Huffman): bool {
    const src = this.src.dataStart;
    const end = this.end;
    let pos = this.pos;
    let bitbuf = this.bitbuf;
    let bitcnt = this.bitcnt;
    let outLen = this.outLen;
    let out = this.out.dataStart;
    // Output below `room` needs no check: the smaller of the buffer's size and the limit.
    let room = min(this.out.length, this.maxOut);
    const lfast = changetype<usize>(lencode.fast);
    const dfast = changetype<usize>(distcode.fast);
    while (true) {
      // At least 25 bits in the buffer (unless the input ends): a literal/length code and its extra bits.
      while (bitcnt <= 24 && pos < end) {
        bitbuf |= <u32>load<u8>(src + pos) << bitcnt;
        pos++;
        bitcnt += 8;
      }
      let symbol: i32;
      const e = <i32>load<u16>(lfast + ((<usize>bitbuf & FAST_MASK) << 1));
      if (e != 0 && (e >> 12) <= bitcnt) {
        const n = e >> 12;
        bitbuf >>= n;
        bitcnt -= n;
        symbol = e & 0xfff;
      } else {
        this.save(pos, bitbuf, bitcnt, outLen);
        symbol = this.decodeSlow(lencode);
        if (symbol < 0) return false;
        pos = this.pos;
        bitbuf = this.bitbuf;
        bitcnt = this.bitcnt;
      }
      if (symbol < 256) {
        if (outLen >= room) {
          this.save(pos, bitbuf, bitcnt, outLen);
          if (!this.room(1)) return false;
          out = this.out.dataStart;
          room = min(this.out.length, this.maxOut);
        }
        store<u8>(out + outLen, <u8>symbol);
        outLen++;
        continue;
      }
      if (symbol == 256) {
        this.save(pos, bitbuf, bitcnt, outLen);
        return true;
      }
      const li = symbol - 257;
      if (li >= 29) return false;
      // The length's extra bits (at most 5) are already in the buffer: the refill above left at
      // least 25 bits and the code took at most 15 (decodeSlow reads more only once it is empty),
      // unless the input ended, when no refill could add any. Then the distance code and its extra
      // bits, each after a refill. An input that ends inside any of them is corrupt.
      const lext = <i32>unchecked(LEXT[li]);
      if (bitcnt < lext) return false;
      const len = <i32>unchecked(LBASE[li]) + <i32>(bitbuf & ((1 << lext) - 1));
      bitbuf >>= lext;
      bitcnt -= lext;
      while (bitcnt <= 24 && pos < end) {
        bitbuf |= <u32>load<u8>(src + pos) << bitcnt;
        pos++;
        bitcnt += 8;
      }
      let ds: i32;
      const d = <i32>load<u16>(dfast + ((<usize>bitbuf & FAST_MASK) << 1));
      if (d != 0 && (d >> 12) <= bitcnt) {
        const n = d >> 12;
        bitbuf >>= n;
        bitcnt -= n;
        ds = d & 0xfff;
      } else {
        this.save(pos, bitbuf, bitcnt, outLen);
        ds = this.decodeSlow(distcode);
        if (ds < 0) return false;
        pos = this.pos;
        bitbuf = this.bitbuf;
        bitcnt = this.bitcnt;
      }
      if (ds >= 30) return false;
      const dext = <i32>unchecked(DEXT[ds]);
      while (bitcnt <= 24 && pos < end) {
        bitbuf |= <u32>load<u8>(src + pos) << bitcnt;
        pos++;
        bitcnt += 8;
      }
      if (bitcnt < dext) return false;
      const dist = <i32>unchecked(DBASE[ds]) + <i32>(bitbuf & ((1 << dext) - 1));
      bitbuf >>= dext;
      bitcnt -= dext;
      if (dist > outLen) return false;
      if (outLen + len > room) {
        this.save(pos, bitbuf, bitcnt, outLen);
        if (!this.room(len)) return false;
        out = this.out.dataStart;
        room = min(this.out.length, this.maxOut);
      }
      const to = out + outLen;
      const from = to - dist;
      // Overlapping copies are how DEFLATE repeats runs: copy byte by byte when they overlap.
      if (dist >= len) {
        memory.copy(to, from, len);
      } else {
        for (let i = 0; i < len; i++) store<u8>(to + i, load<u8>(from + i));
      }
      outLen += len;
    }
    return false;
  }

  private fixed(): bool {
    fixedTables();
    return this.codes(fixedLen!, fixedDist!);
  }

  private dynamic(): bool {
    const nlen = <i32>this.bits(5) + 257;
    const ndist = <i32>this.bits(5) + 1;
    const ncode = <i32>this.bits(4) + 4;
    if (this.failed || nlen > 286 || ndist > 30) return false;
    const lengths = this.lengths;
    for (let i = 0; i < 19; i++) unchecked(lengths[i] = 0);
    for (let i = 0; i < ncode; i++) unchecked(lengths[unchecked(CLORDER[i])] = <u8>this.bits(3));
    if (this.failed) return false;
    const lencode = this.lencode;
    const distcode = this.distcode;
    // The code-length code must be complete. Its table is never filled for fast lookup: every
    // lookup falls through to bit-by-bit decoding.
    const clcode = this.clcode;
    if (construct(clcode, lengths, 0, 19, false) != 0) return false;
    let index = 0;
    while (index < nlen + ndist) {
      let symbol = this.decode(clcode);
      if (symbol < 0) return false;
      if (symbol < 16) {
        unchecked(lengths[index++] = <u8>symbol);
        continue;
      }
      let len: u8 = 0;
      if (symbol == 16) {
        if (index == 0) return false;
        len = unchecked(lengths[index - 1]);
        symbol = 3 + <i32>this.bits(2);
      } else if (symbol == 17) {
        symbol = 3 + <i32>this.bits(3);
      } else {
        symbol = 11 + <i32>this.bits(7);
      }
      if (this.failed || index + symbol > nlen + ndist) return false;
      while (symbol-- > 0) unchecked(lengths[index++] = len);
    }
    if (unchecked(lengths[256]) == 0) return false;
    // Incomplete codes are allowed only as a single code of length 1 (zlib's rule too).
    let err = construct(lencode, lengths, 0, nlen);
    if (err != 0 && (err < 0 || nlen != <i32>unchecked(lencode.count[0]) + <i32>unchecked(lencode.count[1]))) return false;
    err = construct(distcode, lengths, nlen, ndist);
    if (err != 0 && (err < 0 || ndist != <i32>unchecked(distcode.count[0]) + <i32>unchecked(distcode.count[1]))) return false;
    return this.codes(lencode, distcode);
  }

  /** Inflates one DEFLATE stream; afterwards `pos` is the first byte after it. */
  run(): InflateStatus {
    let last: u32 = 0;
    do {
      last = this.bits(1);
      const type = this.bits(2);
      if (this.failed) return InflateStatus.Corrupt;
      let ok: bool;
      if (type == 0) ok = this.stored();
      else if (type == 1) ok = this.fixed();
      else if (type == 2) ok = this.dynamic();
      else ok = false;
      if (!ok) return this.tooLarge ? InflateStatus.TooLarge : InflateStatus.Corrupt;
    } while (last == 0);
    // Drop the bits left in the last byte: what follows starts on a byte boundary.
    this.alignToByte();
    return InflateStatus.Ok;
  }

  /** The output so far: a view of the buffer begin() made for this body (the next body gets another). */
  result(): Uint8Array {
    return this.out.subarray(0, this.outLen);
  }

  /** Ends a body: the answer, with the inflater no longer holding the body or its output. */
  done(status: InflateStatus): InflateResult {
    const r = new InflateResult(status, status == InflateStatus.Ok ? this.result() : null);
    this.src = EMPTY;
    this.out = EMPTY;
    return r;
  }
}

const EMPTY = new Uint8Array(0);

// A filter instance is single-threaded and inflating never re-enters: one inflater serves all.
const INFLATER = new Inflater();

/** Inflates raw DEFLATE data. */
export function inflateRaw(src: Uint8Array, maxOut: i32): InflateResult {
  const inf = INFLATER;
  inf.begin(src, maxOut);
  inf.stream(0, src.length);
  return inf.done(inf.run());
}

// CRC-32 eight bytes at a time ("slicing by 8"): eight 256-entry tables (8 KB of memory, none of
// the module), made on first use. It runs over every gzip'd body inflated and every batch gzip'd.
const CRC_TABLE = new StaticArray<u32>(2048);
let crcReady = false;

export function crc32(data: Uint8Array, start: i32 = 0, len: i32 = -1, crc: u32 = 0): u32 {
  const t = CRC_TABLE;
  if (!crcReady) {
    for (let n: u32 = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
      unchecked(t[n] = c);
    }
    for (let n = 0; n < 256; n++) {
      for (let k = 1; k < 8; k++) {
        const prev = unchecked(t[(k - 1) * 256 + n]);
        unchecked(t[k * 256 + n] = (prev >> 8) ^ unchecked(t[prev & 0xff]));
      }
    }
    crcReady = true;
  }
  if (len < 0) len = data.length - start;
  let c = ~crc;
  const base = data.dataStart + start;
  let i = 0;
  for (; i + 8 <= len; i += 8) {
    c ^= load<u32>(base + i);
    const hi = load<u32>(base + i + 4);
    c = unchecked(t[1792 + (c & 0xff)]) ^ unchecked(t[1536 + ((c >> 8) & 0xff)]) ^ unchecked(t[1280 + ((c >> 16) & 0xff)]) ^ unchecked(t[1024 + (c >> 24)]) ^
      unchecked(t[768 + (hi & 0xff)]) ^ unchecked(t[512 + ((hi >> 8) & 0xff)]) ^ unchecked(t[256 + ((hi >> 16) & 0xff)]) ^ unchecked(t[hi >> 24]);
  }
  for (; i < len; i++) c = unchecked(t[(c ^ load<u8>(base + i)) & 0xff]) ^ (c >> 8);
  return ~c;
}

export function adler32(data: Uint8Array): u32 {
  let a: u32 = 1;
  let b: u32 = 0;
  const base = data.dataStart;
  const n = data.length;
  let i = 0;
  while (i < n) {
    const stop = min(i + 5552, n);
    for (; i < stop; i++) {
      a += load<u8>(base + i);
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return (b << 16) | a;
}

/**
 * Inflates gzip (RFC 1952), members concatenated into one output, each checked against its CRC-32
 * and size. After a complete member, bytes that do not start another (the magic 1f 8b) are trailing
 * padding and ignored, however many (gzip(1) does the same; zlib ignores trailing zeros); bytes
 * that do start one must make a whole valid member.
 */
export function gunzip(src: Uint8Array, maxOut: i32): InflateResult {
  const n = src.length;
  if (n == 0) return new InflateResult(InflateStatus.Corrupt, null);
  const inf = INFLATER;
  inf.begin(src, maxOut);
  let pos = 0;
  let members = 0;
  while (pos < n) {
    const p = src.dataStart + pos;
    const magic = pos + 2 <= n && load<u8>(p) == 0x1f && load<u8>(p + 1) == 0x8b;
    if (!magic && members > 0) break;
    if (!magic || pos + 18 > n || load<u8>(p + 2) != 8) return inf.done(InflateStatus.Corrupt);
    const flags = load<u8>(p + 3);
    if (flags & 0xe0) return inf.done(InflateStatus.Corrupt);
    pos += 10;
    if (flags & 4) {
      if (pos + 2 > n) return inf.done(InflateStatus.Corrupt);
      pos += 2 + (<i32>src[pos] | (<i32>src[pos + 1] << 8));
    }
    if (flags & 8) { while (pos < n && src[pos] != 0) pos++; pos++; }
    if (flags & 16) { while (pos < n && src[pos] != 0) pos++; pos++; }
    if (flags & 2) pos += 2;
    if (pos >= n) return inf.done(InflateStatus.Corrupt);
    const from = inf.outLen;
    inf.stream(pos, n);
    const st = inf.run();
    if (st != InflateStatus.Ok) return inf.done(st);
    pos = inf.pos;
    if (pos + 8 > n) return inf.done(InflateStatus.Corrupt);
    const length = inf.outLen - from;
    const q = src.dataStart + pos;
    const crc = <u32>load<u8>(q) | (<u32>load<u8>(q + 1) << 8) | (<u32>load<u8>(q + 2) << 16) | (<u32>load<u8>(q + 3) << 24);
    const size = <u32>load<u8>(q + 4) | (<u32>load<u8>(q + 5) << 8) | (<u32>load<u8>(q + 6) << 16) | (<u32>load<u8>(q + 7) << 24);
    if (crc != crc32(inf.out, from, length) || size != <u32>length) return inf.done(InflateStatus.Corrupt);
    pos += 8;
    members++;
  }
  return inf.done(InflateStatus.Ok);
}

/** Inflates a zlib stream (RFC 1950) and checks its Adler-32. Preset dictionaries are refused. */
export function zlibInflate(src: Uint8Array, maxOut: i32): InflateResult {
  if (!isZlibHeader(src)) return new InflateResult(InflateStatus.Corrupt, null);
  const inf = INFLATER;
  inf.begin(src, maxOut);
  inf.stream(2, src.length);
  const st = inf.run();
  if (st != InflateStatus.Ok) return inf.done(st);
  const out = inf.result();
  const p = inf.pos;
  if (p + 4 > src.length) return inf.done(InflateStatus.Corrupt);
  const want = (<u32>src[p] << 24) | (<u32>src[p + 1] << 16) | (<u32>src[p + 2] << 8) | <u32>src[p + 3];
  if (want != adler32(out)) return inf.done(InflateStatus.Corrupt);
  return inf.done(InflateStatus.Ok);
}

function isZlibHeader(src: Uint8Array): bool {
  if (src.length < 2) return false;
  const cmf = <u32>src[0];
  const flg = <u32>src[1];
  return (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0 && (flg & 0x20) == 0;
}

/**
 * "Content-Encoding: deflate" means a zlib stream, but some servers send raw DEFLATE; like browsers,
 * try zlib when the header says so, else raw.
 */
export function inflateDeflateEncoding(src: Uint8Array, maxOut: i32): InflateResult {
  if (isZlibHeader(src)) {
    const r = zlibInflate(src, maxOut);
    if (r.status != InflateStatus.Corrupt) return r;
  }
  return inflateRaw(src, maxOut);
}
