// The proxy-wasm header-map codec. A map arrives as one block of UTF-8 bytes:
//   u32 count, count × (u32 key_len, u32 value_len), then each pair as key\0value\0 (little-endian).
// Decoding keeps that block and an offset table instead of making two strings per header: most
// headers only pass through into the event, so they stay UTF-8 bytes end to end.

export class HeaderMap {
  // 4 u32 per pair: key start, key length, value start, value length (offsets into `data`).
  private offsets: StaticArray<u32>;

  constructor(readonly data: Uint8Array, readonly count: i32, offsets: StaticArray<u32>) {
    this.offsets = offsets;
  }

  /** The empty map (shared: it is never written to). */
  static empty(): HeaderMap {
    return EMPTY_MAP;
  }

  @inline keyStart(i: i32): u32 { return unchecked(this.offsets[i << 2]); }
  @inline keyLength(i: i32): u32 { return unchecked(this.offsets[(i << 2) + 1]); }
  @inline valueStart(i: i32): u32 { return unchecked(this.offsets[(i << 2) + 2]); }
  @inline valueLength(i: i32): u32 { return unchecked(this.offsets[(i << 2) + 3]); }

  /** Index of the first pair whose key equals `lowerName` ignoring ASCII case, or -1. */
  find(lowerName: Uint8Array, from: i32 = 0): i32 {
    const n = <u32>lowerName.length;
    for (let i = max(from, 0); i < this.count; i++) {
      if (this.keyLength(i) != n) continue;
      if (equalsLowered(this.data, this.keyStart(i), lowerName)) return i;
    }
    return -1;
  }

  /** The value of pair i: a view into the map's block, not a copy (nothing writes to it). */
  value(i: i32): Uint8Array {
    const s = <i32>this.valueStart(i);
    return this.data.subarray(s, s + <i32>this.valueLength(i));
  }

  key(i: i32): Uint8Array {
    const s = <i32>this.keyStart(i);
    return this.data.slice(s, s + <i32>this.keyLength(i));
  }
}

const EMPTY_MAP = new HeaderMap(new Uint8Array(0), 0, new StaticArray<u32>(0));

/** True when data[at .. at+lower.length) equals `lower` once ASCII upper case is folded. */
export function equalsLowered(data: Uint8Array, at: u32, lower: Uint8Array): bool {
  const n = lower.length;
  if (<u64>at + <u64>n > <u64>data.length) return false;
  const base = data.dataStart + at;
  const other = lower.dataStart;
  for (let j = 0; j < n; j++) {
    let c = load<u8>(base + j);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c != load<u8>(other + j)) return false;
  }
  return true;
}

/**
 * Decodes a serialised map. Returns null when the bytes are not a well-formed map (the count or a
 * length points past the end, or a terminator is missing): a host bug, but never a reason to trap.
 */
export function decodeHeaderMap(data: Uint8Array): HeaderMap | null {
  const len = <u32>data.length;
  if (len == 0) return HeaderMap.empty();
  if (len < 4) return null;
  const base = data.dataStart;
  const count = load<u32>(base);
  if (<u64>count * 8 + 4 > <u64>len) return null;
  const offsets = new StaticArray<u32>(<i32>count << 2);
  let pos: u64 = 4 + <u64>count * 8;
  for (let i: u32 = 0; i < count; i++) {
    const klen = load<u32>(base + 4 + i * 8);
    const vlen = load<u32>(base + 8 + i * 8);
    const end = pos + <u64>klen + 1 + <u64>vlen + 1;
    if (end > <u64>len) return null;
    const k = <u32>pos;
    const v = k + klen + 1;
    if (load<u8>(base + k + klen) != 0 || load<u8>(base + v + vlen) != 0) return null;
    unchecked(offsets[i << 2] = k);
    unchecked(offsets[(i << 2) + 1] = klen);
    unchecked(offsets[(i << 2) + 2] = v);
    unchecked(offsets[(i << 2) + 3] = vlen);
    pos = end;
  }
  return new HeaderMap(data, <i32>count, offsets);
}

/** How many bytes the serialised map at `ptr` really spans, or 0 when it does not fit in `limit`. */
export function mapExtent(ptr: usize, limit: u32): u32 {
  if (limit < 4) return 0;
  const count = load<u32>(ptr);
  let end: u64 = 4 + <u64>count * 8;
  if (end > <u64>limit) return 0;
  for (let i: u32 = 0; i < count; i++) {
    end += <u64>load<u32>(ptr + 4 + i * 8) + <u64>load<u32>(ptr + 8 + i * 8) + 2;
    if (end > <u64>limit) return 0;
  }
  return <u32>end;
}

/** Serialises pairs (keys[i], values[i]) into the map format the host reads. */
export function encodeHeaderMap(keys: Array<Uint8Array>, values: Array<Uint8Array>): Uint8Array {
  const n = min(keys.length, values.length);
  let size = 4 + n * 8;
  for (let i = 0; i < n; i++) size += keys[i].length + values[i].length + 2;
  const out = new Uint8Array(size);
  const base = out.dataStart;
  store<u32>(base, n);
  let pos = 4 + n * 8;
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    const v = values[i];
    store<u32>(base + 4 + i * 8, k.length);
    store<u32>(base + 8 + i * 8, v.length);
    memory.copy(base + pos, k.dataStart, k.length);
    pos += k.length;
    store<u8>(base + pos, 0);
    pos++;
    memory.copy(base + pos, v.dataStart, v.length);
    pos += v.length;
    store<u8>(base + pos, 0);
    pos++;
  }
  return out;
}
