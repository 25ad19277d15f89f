// DEFLATE compression (RFC 1951) and its gzip wrapper (RFC 1952), for `enable_compression`.
// LZ77 over a 32 KB window with hash chains and lazy matching (the parameters of zlib's level 6),
// then per block the cheapest of dynamic Huffman, fixed Huffman or stored coding.
import { crc32, fixedLiteralLengths } from "./inflate";
import { copyOf } from "./bytes";

const WSIZE = 32768;
const WMASK = WSIZE - 1;
const HASH_BITS = 15;
const HASH_SIZE = 1 << HASH_BITS;
const MIN_MATCH = 3;
const MAX_MATCH = 258;
// zlib level 6: good_length 8, max_lazy 16, nice_length 128, max_chain 128.
const GOOD_LENGTH = 8;
const MAX_LAZY = 16;
const NICE_LENGTH = 128;
const MAX_CHAIN = 128;
/** Symbols per block before its trees are built and it is written out. */
const BLOCK_SYMBOLS = 16384;

const LBASE: StaticArray<u16> = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEXT: StaticArray<u8> = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DBASE: StaticArray<u16> = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DEXT: StaticArray<u8> = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CLORDER: StaticArray<u8> = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

// Length 3..258 → length code index 0..28; distance 1..32768 → distance code 0..29.
const LENGTH_CODE = new StaticArray<u8>(256);
const DIST_CODE = new StaticArray<u8>(512);
let tablesReady = false;

function initTables(): void {
  for (let code = 0; code < 29; code++) {
    const base = <i32>LBASE[code] - 3;
    const n = 1 << LEXT[code];
    for (let i = 0; i < n && base + i < 256; i++) unchecked(LENGTH_CODE[base + i] = <u8>code);
  }
  unchecked(LENGTH_CODE[255] = 28);
  for (let code = 0; code < 30; code++) {
    const base = <i32>DBASE[code] - 1;
    const n = 1 << DEXT[code];
    for (let i = 0; i < n; i++) {
      const d = base + i;
      if (d < 256) unchecked(DIST_CODE[d] = <u8>code);
      else unchecked(DIST_CODE[256 + (d >> 7)] = <u8>code);
    }
  }
  tablesReady = true;
}

@inline function distCode(dist: i32): i32 {
  const d = dist - 1;
  return <i32>(d < 256 ? unchecked(DIST_CODE[d]) : unchecked(DIST_CODE[256 + (d >> 7)]));
}

class BitWriter {
  buf: Uint8Array;
  len: i32 = 0;
  bits: u64 = 0;
  count: i32 = 0;

  constructor(capacity: i32) {
    this.buf = new Uint8Array(max(capacity, 64));
  }

  private ensure(n: i32): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length << 1;
    while (cap < this.len + n) cap <<= 1;
    const next = new Uint8Array(cap);
    memory.copy(next.dataStart, this.buf.dataStart, this.len);
    this.buf = next;
  }

  /** Writes `n` bits of `value`, least significant first. */
  put(value: u32, n: i32): void {
    this.bits |= <u64>value << this.count;
    this.count += n;
    if (this.count >= 32) {
      this.ensure(4);
      store<u32>(this.buf.dataStart + this.len, <u32>this.bits);
      this.len += 4;
      this.bits >>= 32;
      this.count -= 32;
    }
  }

  /** Pads to a byte boundary and flushes the bit buffer. */
  align(): void {
    this.ensure(8);
    while (this.count > 0) {
      store<u8>(this.buf.dataStart + this.len, <u8>this.bits);
      this.len++;
      this.bits >>= 8;
      this.count -= 8;
    }
    this.bits = 0;
    this.count = 0;
  }

  bytes(src: Uint8Array, start: i32, n: i32): void {
    this.ensure(n);
    memory.copy(this.buf.dataStart + this.len, src.dataStart + start, n);
    this.len += n;
  }
}

/** Heap order: lighter first, ties by node number (so the trees are the same on every run). */
@inline function less(a: i32, b: i32, w: StaticArray<u64>): bool {
  return unchecked(w[a]) < unchecked(w[b]) || (unchecked(w[a]) == unchecked(w[b]) && a < b);
}

/** Puts node `x` at the top of the 1-based heap of `size` nodes and sifts it down to its place. */
function siftDown(heap: StaticArray<i32>, size: i32, x: i32, weight: StaticArray<u64>): void {
  let k = 1;
  while (true) {
    let c = k << 1;
    if (c > size) break;
    if (c < size && less(unchecked(heap[c + 1]), unchecked(heap[c]), weight)) c++;
    if (!less(unchecked(heap[c]), x, weight)) break;
    unchecked(heap[k] = unchecked(heap[c]));
    k = c;
  }
  unchecked(heap[k] = x);
}

/** Code lengths for `freq`, no longer than `limit`, by Huffman's algorithm on a binary heap. */
function buildLengths(freq: StaticArray<u32>, n: i32, limit: i32, lengths: StaticArray<u8>): void {
  for (let i = 0; i < n; i++) unchecked(lengths[i] = 0);
  let used = 0;
  let last = -1;
  for (let i = 0; i < n; i++) if (unchecked(freq[i]) != 0) { used++; last = i; }
  // zlib's rule too: always at least two codes, so every decoder accepts the tree.
  if (used == 0) {
    unchecked(lengths[0] = 1);
    unchecked(lengths[1] = 1);
    return;
  }
  if (used == 1) {
    // A single code still needs a length of 1 (and a partner for a valid tree).
    unchecked(lengths[last] = 1);
    unchecked(lengths[last == 0 ? 1 : 0] = 1);
    return;
  }
  const f = new StaticArray<u32>(n);
  for (let i = 0; i < n; i++) unchecked(f[i] = unchecked(freq[i]));
  while (true) {
    // Nodes: 0..n-1 leaves, then internal nodes. weight and parent per node.
    const total = 2 * n;
    const weight = new StaticArray<u64>(total);
    const parent = new StaticArray<i32>(total);
    const heap = new StaticArray<i32>(n + 1);
    let size = 0;
    for (let i = 0; i < n; i++) {
      unchecked(parent[i] = -1);
      if (unchecked(f[i]) == 0) continue;
      unchecked(weight[i] = unchecked(f[i]));
      // sift up
      let k = ++size;
      while (k > 1 && less(i, unchecked(heap[k >> 1]), weight)) { unchecked(heap[k] = unchecked(heap[k >> 1])); k >>= 1; }
      unchecked(heap[k] = i);
    }
    let next = n;
    while (size > 1) {
      const a = unchecked(heap[1]);
      // Pop a, then replace the new top (b) with the node a+b.
      siftDown(heap, --size, unchecked(heap[size + 1]), weight);
      const b = unchecked(heap[1]);
      // replace top with the new node a+b
      unchecked(weight[next] = unchecked(weight[a]) + unchecked(weight[b]));
      unchecked(parent[next] = -1);
      unchecked(parent[a] = next);
      unchecked(parent[b] = next);
      siftDown(heap, size, next, weight);
      next++;
    }
    let longest = 0;
    for (let i = 0; i < n; i++) {
      if (unchecked(f[i]) == 0) continue;
      let depth = 0;
      let p = unchecked(parent[i]);
      while (p >= 0) { depth++; p = unchecked(parent[p]); }
      unchecked(lengths[i] = <u8>depth);
      if (depth > longest) longest = depth;
    }
    if (longest <= limit) return;
    // Too deep: flatten the distribution and build again (rare; costs a little ratio).
    for (let i = 0; i < n; i++) if (unchecked(f[i]) != 0) unchecked(f[i] = (unchecked(f[i]) >> 1) | 1);
  }
}

/** Canonical codes for `lengths`, bit-reversed for LSB-first output. */
function buildCodes(lengths: StaticArray<u8>, n: i32, codes: StaticArray<u16>): void {
  const count = new StaticArray<u16>(16);
  for (let i = 0; i < n; i++) unchecked(count[lengths[i]] = unchecked(count[lengths[i]]) + 1);
  unchecked(count[0] = 0);
  const next = new StaticArray<u32>(16);
  let code: u32 = 0;
  for (let len = 1; len <= 15; len++) {
    code = (code + unchecked(count[len - 1])) << 1;
    unchecked(next[len] = code);
  }
  for (let i = 0; i < n; i++) {
    const len = <i32>unchecked(lengths[i]);
    if (len == 0) continue;
    let c = unchecked(next[len]);
    unchecked(next[len] = c + 1);
    let r: u32 = 0;
    for (let k = 0; k < len; k++) { r = (r << 1) | (c & 1); c >>= 1; }
    unchecked(codes[i] = <u16>r);
  }
}

let fixedLitLen: StaticArray<u8> | null = null;
let fixedDistLen: StaticArray<u8> | null = null;
let fixedLitCode: StaticArray<u16> | null = null;
let fixedDistCode: StaticArray<u16> | null = null;

function fixed(): void {
  if (fixedLitLen !== null) return;
  const ll = fixedLiteralLengths();
  const dl = new StaticArray<u8>(30);
  for (let i = 0; i < 30; i++) unchecked(dl[i] = 5);
  const lc = new StaticArray<u16>(288);
  const dc = new StaticArray<u16>(30);
  buildCodes(ll, 288, lc);
  buildCodes(dl, 30, dc);
  fixedLitLen = ll;
  fixedDistLen = dl;
  fixedLitCode = lc;
  fixedDistCode = dc;
}

class Deflater {
  private src: Uint8Array;
  private out: BitWriter;
  private head: StaticArray<i32> = new StaticArray<i32>(HASH_SIZE);
  private prev: StaticArray<i32> = new StaticArray<i32>(WSIZE);
  // The current block's symbols: a literal (dist 0) or a match (length, dist).
  private symLen: StaticArray<u16> = new StaticArray<u16>(BLOCK_SYMBOLS);
  private symDist: StaticArray<u16> = new StaticArray<u16>(BLOCK_SYMBOLS);
  private nsym: i32 = 0;
  private blockStart: i32 = 0;
  private litFreq: StaticArray<u32> = new StaticArray<u32>(286);
  private distFreq: StaticArray<u32> = new StaticArray<u32>(30);

  constructor(src: Uint8Array, out: BitWriter) {
    this.src = src;
    this.out = out;
    for (let i = 0; i < HASH_SIZE; i++) unchecked(this.head[i] = -1);
  }

  @inline private hash(p: i32): i32 {
    const b = this.src.dataStart + p;
    const v = (<u32>load<u8>(b) << 16) | (<u32>load<u8>(b + 1) << 8) | <u32>load<u8>(b + 2);
    return <i32>((v * 0x9e3779b1) >> (32 - HASH_BITS));
  }

  @inline private insert(p: i32): i32 {
    const h = this.hash(p);
    const old = unchecked(this.head[h]);
    unchecked(this.prev[p & WMASK] = old);
    unchecked(this.head[h] = p);
    return old;
  }

  /** The longest match for position p among the chain starting at `cand`, better than `prevLen`. */
  private longest(p: i32, cand: i32, prevLen: i32): i32 {
    const n = this.src.length;
    const base = this.src.dataStart;
    const maxLen = min(MAX_MATCH, n - p);
    let best = prevLen;
    let chain = prevLen >= GOOD_LENGTH ? MAX_CHAIN >> 2 : MAX_CHAIN;
    this.matchDist = 0;
    const limit = p - WSIZE;
    while (cand >= 0 && cand > limit && chain-- > 0) {
      if (best < maxLen && load<u8>(base + cand + best) == load<u8>(base + p + best) && load<u8>(base + cand) == load<u8>(base + p)) {
        let len = 0;
        // Eight bytes at a time; the first differing byte is the lowest set bit of the XOR's (the
        // byte loop then stops at once on it, or finishes the last few bytes).
        while (len + 8 <= maxLen) {
          const x = load<u64>(base + cand + len) ^ load<u64>(base + p + len);
          if (x != 0) {
            len += <i32>(ctz(x) >> 3);
            break;
          }
          len += 8;
        }
        while (len < maxLen && load<u8>(base + cand + len) == load<u8>(base + p + len)) len++;
        if (len > best) {
          best = len;
          this.matchDist = p - cand;
          if (len >= NICE_LENGTH || len >= maxLen) break;
        }
      }
      const nextCand = unchecked(this.prev[cand & WMASK]);
      if (nextCand >= cand) break;
      cand = nextCand;
    }
    return best;
  }

  private matchDist: i32 = 0;

  private literal(c: u8): void {
    unchecked(this.symLen[this.nsym] = c);
    unchecked(this.symDist[this.nsym] = 0);
    this.nsym++;
    unchecked(this.litFreq[c] = unchecked(this.litFreq[c]) + 1);
  }

  private match(len: i32, dist: i32): void {
    unchecked(this.symLen[this.nsym] = <u16>len);
    unchecked(this.symDist[this.nsym] = <u16>dist);
    this.nsym++;
    const lc = 257 + <i32>unchecked(LENGTH_CODE[len - MIN_MATCH]);
    unchecked(this.litFreq[lc] = unchecked(this.litFreq[lc]) + 1);
    const dc = distCode(dist);
    unchecked(this.distFreq[dc] = unchecked(this.distFreq[dc]) + 1);
  }

  run(): void {
    const n = this.src.length;
    let p = 0;
    let prevLen = MIN_MATCH - 1;
    let prevDist = 0;
    let haveLiteral = false;
    while (p < n) {
      let len = MIN_MATCH - 1;
      let dist = 0;
      if (p + MIN_MATCH <= n) {
        const cand = this.insert(p);
        if (cand >= 0 && prevLen < MAX_LAZY) {
          len = this.longest(p, cand, MIN_MATCH - 1);
          dist = this.matchDist;
          if (len == MIN_MATCH && dist > 4096) len = MIN_MATCH - 1; // a far 3-byte match costs more than it saves
        }
      }
      if (prevLen >= MIN_MATCH && len <= prevLen) {
        // The match at p-1 is at least as good: emit it, and skip what it covers.
        this.match(prevLen, prevDist);
        const end = p - 1 + prevLen;
        p++;
        while (p < end) {
          if (p + MIN_MATCH <= n) this.insert(p);
          p++;
        }
        prevLen = MIN_MATCH - 1;
        haveLiteral = false;
      } else {
        if (haveLiteral) this.literal(load<u8>(this.src.dataStart + p - 1));
        prevLen = len;
        prevDist = dist;
        haveLiteral = true;
        p++;
      }
      if (this.nsym >= BLOCK_SYMBOLS - 2) this.flush(p - (haveLiteral ? 1 : 0), false);
    }
    // Near the end no match is searched, so what is pending is always a single literal.
    if (haveLiteral) this.literal(load<u8>(this.src.dataStart + n - 1));
    this.flush(n, true);
  }

  /** Writes the block of symbols gathered so far, covering src[blockStart, end). */
  private flush(end: i32, last: bool): void {
    const out = this.out;
    unchecked(this.litFreq[256] = 1);
    const litLen = new StaticArray<u8>(286);
    const distLen = new StaticArray<u8>(30);
    buildLengths(this.litFreq, 286, 15, litLen);
    buildLengths(this.distFreq, 30, 15, distLen);
    let nlit = 286;
    while (nlit > 257 && unchecked(litLen[nlit - 1]) == 0) nlit--;
    let ndist = 30;
    while (ndist > 1 && unchecked(distLen[ndist - 1]) == 0) ndist--;

    // Run-length code the two length lists (RFC 1951 3.2.7).
    const all = new StaticArray<u8>(nlit + ndist);
    for (let i = 0; i < nlit; i++) unchecked(all[i] = unchecked(litLen[i]));
    for (let i = 0; i < ndist; i++) unchecked(all[nlit + i] = unchecked(distLen[i]));
    const rle = new StaticArray<u8>(nlit + ndist);
    const rleExtra = new StaticArray<u8>(nlit + ndist);
    let nrle = 0;
    const clFreq = new StaticArray<u32>(19);
    let i = 0;
    const total = nlit + ndist;
    while (i < total) {
      const v = unchecked(all[i]);
      let run = 1;
      while (i + run < total && unchecked(all[i + run]) == v) run++;
      if (v == 0 && run >= 3) {
        const r = min(run, 138);
        if (r <= 10) { unchecked(rle[nrle] = 17); unchecked(rleExtra[nrle++] = <u8>(r - 3)); }
        else { unchecked(rle[nrle] = 18); unchecked(rleExtra[nrle++] = <u8>(r - 11)); }
        unchecked(clFreq[rle[nrle - 1]] = unchecked(clFreq[rle[nrle - 1]]) + 1);
        i += r;
      } else if (v != 0 && run >= 4) {
        unchecked(rle[nrle++] = v);
        unchecked(clFreq[v] = unchecked(clFreq[v]) + 1);
        const r = min(run - 1, 6);
        unchecked(rle[nrle] = 16);
        unchecked(rleExtra[nrle++] = <u8>(r - 3));
        unchecked(clFreq[16] = unchecked(clFreq[16]) + 1);
        i += 1 + r;
      } else {
        unchecked(rle[nrle++] = v);
        unchecked(clFreq[v] = unchecked(clFreq[v]) + 1);
        i++;
      }
    }
    const clLen = new StaticArray<u8>(19);
    buildLengths(clFreq, 19, 7, clLen);
    let ncl = 19;
    while (ncl > 4 && unchecked(clLen[unchecked(CLORDER[ncl - 1])]) == 0) ncl--;

    // Cost of each coding, in bits, to pick the cheapest.
    let dynBits: u64 = 14 + 3 * <u64>ncl;
    for (let k = 0; k < nrle; k++) {
      const s = unchecked(rle[k]);
      dynBits += unchecked(clLen[s]) + (s == 16 ? 2 : s == 17 ? 3 : s == 18 ? 7 : 0);
    }
    fixed();
    let fixBits: u64 = 0;
    let dataDyn: u64 = 0;
    for (let s = 0; s < 286; s++) {
      const f = <u64>unchecked(this.litFreq[s]);
      if (f == 0) continue;
      const extra = s > 256 ? <u64>unchecked(LEXT[s - 257]) : 0;
      dataDyn += f * (<u64>unchecked(litLen[s]) + extra);
      fixBits += f * (<u64>unchecked(fixedLitLen![s]) + extra);
    }
    for (let s = 0; s < 30; s++) {
      const f = <u64>unchecked(this.distFreq[s]);
      if (f == 0) continue;
      dataDyn += f * (<u64>unchecked(distLen[s]) + <u64>unchecked(DEXT[s]));
      fixBits += f * (5 + <u64>unchecked(DEXT[s]));
    }
    dynBits += dataDyn;
    const storedLen = end - this.blockStart;
    const storedBits: u64 = (<u64>storedLen + 5 * (<u64>(storedLen / 65535) + 1)) * 8 + 7;

    if (storedBits <= dynBits && storedBits <= fixBits) {
      this.stored(end, last);
    } else if (fixBits <= dynBits) {
      out.put(last ? 1 : 0, 1);
      out.put(1, 2);
      this.symbols(fixedLitLen!, fixedLitCode!, fixedDistLen!, fixedDistCode!);
    } else {
      out.put(last ? 1 : 0, 1);
      out.put(2, 2);
      out.put(<u32>(nlit - 257), 5);
      out.put(<u32>(ndist - 1), 5);
      out.put(<u32>(ncl - 4), 4);
      for (let k = 0; k < ncl; k++) out.put(unchecked(clLen[unchecked(CLORDER[k])]), 3);
      const clCode = new StaticArray<u16>(19);
      buildCodes(clLen, 19, clCode);
      for (let k = 0; k < nrle; k++) {
        const s = unchecked(rle[k]);
        out.put(unchecked(clCode[s]), unchecked(clLen[s]));
        if (s == 16) out.put(unchecked(rleExtra[k]), 2);
        else if (s == 17) out.put(unchecked(rleExtra[k]), 3);
        else if (s == 18) out.put(unchecked(rleExtra[k]), 7);
      }
      const litCode = new StaticArray<u16>(286);
      const distCodeT = new StaticArray<u16>(30);
      buildCodes(litLen, 286, litCode);
      buildCodes(distLen, 30, distCodeT);
      this.symbols(litLen, litCode, distLen, distCodeT);
    }
    this.nsym = 0;
    this.blockStart = end;
    for (let k = 0; k < 286; k++) unchecked(this.litFreq[k] = 0);
    for (let k = 0; k < 30; k++) unchecked(this.distFreq[k] = 0);
  }

  private symbols(litLen: StaticArray<u8>, litCode: StaticArray<u16>, distLen: StaticArray<u8>, distCodes: StaticArray<u16>): void {
    const out = this.out;
    for (let k = 0; k < this.nsym; k++) {
      const dist = <i32>unchecked(this.symDist[k]);
      const v = <i32>unchecked(this.symLen[k]);
      if (dist == 0) {
        out.put(unchecked(litCode[v]), unchecked(litLen[v]));
        continue;
      }
      const li = <i32>unchecked(LENGTH_CODE[v - MIN_MATCH]);
      out.put(unchecked(litCode[257 + li]), unchecked(litLen[257 + li]));
      const le = <i32>unchecked(LEXT[li]);
      if (le > 0) out.put(<u32>(v - <i32>unchecked(LBASE[li])), le);
      const dc = distCode(dist);
      out.put(unchecked(distCodes[dc]), unchecked(distLen[dc]));
      const de = <i32>unchecked(DEXT[dc]);
      if (de > 0) out.put(<u32>(dist - <i32>unchecked(DBASE[dc])), de);
    }
    out.put(unchecked(litCode[256]), unchecked(litLen[256]));
  }

  private stored(end: i32, last: bool): void {
    const out = this.out;
    let p = this.blockStart;
    do {
      const n = min(65535, end - p);
      const final = last && p + n >= end;
      out.put(final ? 1 : 0, 1);
      out.put(0, 2);
      out.align();
      out.put(<u32>n, 16);
      out.put(<u32>(~n & 0xffff), 16);
      out.align();
      out.bytes(this.src, p, n);
      p += n;
    } while (p < end);
  }
}

/** Compresses `src` as raw DEFLATE. */
export function deflateRaw(src: Uint8Array): Uint8Array {
  if (!tablesReady) initTables();
  const out = new BitWriter(src.length / 3 + 64);
  new Deflater(src, out).run();
  out.align();
  return copyOf(out.buf.dataStart, out.len);
}

/** Compresses `src` as one gzip member (no name, no timestamp: the same input gives the same bytes). */
export function gzip(src: Uint8Array): Uint8Array {
  const body = deflateRaw(src);
  const out = new Uint8Array(10 + body.length + 8);
  out[0] = 0x1f;
  out[1] = 0x8b;
  out[2] = 8;
  out[9] = 255; // OS unknown
  out.set(body, 10);
  const crc = crc32(src);
  const p = out.dataStart + 10 + body.length;
  store<u32>(p, crc);
  store<u32>(p + 4, <u32>src.length);
  return out;
}
