// The proxy-wasm header-map wire format: u32 count, count × (u32 key_len, u32 value_len), then each
// pair as key\0value\0, little-endian.

export type Pair = [string, Buffer];

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
