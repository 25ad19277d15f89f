// The proxy-wasm header-map wire format: u32 count, count × (u32 key_len, u32 value_len), then each
// pair as key\0value\0, little-endian.

export type Pair = [string, Buffer];

/** The value of the first pair named `name` (any case), as nginx's lookups find it; null when none. */
export function firstValue(pairs: ReadonlyArray<Pair>, name: string): Buffer | null {
  const lower = name.toLowerCase();
  return pairs.find(([k]) => k.toLowerCase() === lower)?.[1] ?? null;
}

export function toBuffer(v: string | Buffer | Uint8Array): Buffer {
  if (typeof v === "string") return Buffer.from(v, "latin1");
  return Buffer.isBuffer(v) ? v : Buffer.from(v);
}

export function serializeMap(pairs: ReadonlyArray<readonly [string | Buffer, string | Buffer]>): Buffer {
  const keys = pairs.map(([k]) => toBuffer(k));
  const values = pairs.map(([, v]) => toBuffer(v));
  let size = 4 + pairs.length * 8;
  for (let i = 0; i < pairs.length; i++) size += keys[i].length + values[i].length + 2;
  const out = Buffer.alloc(size);
  out.writeUInt32LE(pairs.length, 0);
  let pos = 4 + pairs.length * 8;
  for (let i = 0; i < pairs.length; i++) {
    out.writeUInt32LE(keys[i].length, 4 + i * 8);
    out.writeUInt32LE(values[i].length, 8 + i * 8);
    keys[i].copy(out, pos);
    pos += keys[i].length + 1;
    values[i].copy(out, pos);
    pos += values[i].length + 1;
  }
  return out;
}

/** Parses a serialised map; null when malformed. Keys come back as latin1 strings (byte-exact). */
export function deserializeMap(buf: Buffer): Pair[] | null {
  if (buf.length === 0) return [];
  if (buf.length < 4) return null;
  const count = buf.readUInt32LE(0);
  if (4 + count * 8 > buf.length) return null;
  let pos = 4 + count * 8;
  const out: Pair[] = [];
  for (let i = 0; i < count; i++) {
    const kl = buf.readUInt32LE(4 + i * 8);
    const vl = buf.readUInt32LE(8 + i * 8);
    if (pos + kl + 1 + vl + 1 > buf.length) return null;
    const key = buf.subarray(pos, pos + kl).toString("latin1");
    pos += kl + 1;
    const value = Buffer.from(buf.subarray(pos, pos + vl));
    pos += vl + 1;
    out.push([key, value]);
  }
  return out;
}

/**
 * A header map laid out exactly as ngx_wasm_module writes it (src/common/proxy_wasm/
 * ngx_proxy_wasm_util.c, identical at every pin from 21732b18 to 9136e463):
 * ngx_proxy_wasm_pairs_size counts up to `max` list pairs, then extras while the running count is
 * below `max` (one extra always, even after `max` list pairs); ngx_proxy_wasm_pairs_marshal writes
 * min(list + extras, max) pairs, every extra first, then list pairs. `size` is what NWM asks the
 * filter's malloc for and reports as the map's length; `bytes` is what it writes there, which is
 * longer than `size` once extras it did not count displace shorter list pairs it did.
 */
export function marshalLikeNwm(list: Pair[], extras: Pair[], max: number): { size: number; bytes: Buffer } {
  const entry = ([k, v]: Pair) => 8 + Buffer.byteLength(k, "latin1") + 1 + v.length + 1;
  let size = 4;
  let n = 0;
  for (const p of list) {
    size += entry(p);
    n++;
    if (max && n >= max) break;
  }
  for (let i = 0; i < extras.length; i++, n++) {
    size += entry(extras[i]);
    if (max && n >= max) break;
  }
  let count = list.length + extras.length;
  if (max && count > max) count = max;
  const written = [...extras.slice(0, count), ...list.slice(0, Math.max(0, count - extras.length))];
  return { size, bytes: serializeMap(written) };
}
