// URL-encoded parameters (a query string, a form body): written with the values of masked names
// replaced, names compared URL-decoded; and whether a body is a form at all.
import { ByteWriter, hexVal } from "./bytes";

const MASK: string = "*****";

/** Whether the URL-encoded name src[s, e) decodes ('+' and %XX) to exactly `want`. */
function nameIs(src: Uint8Array, s: i32, e: i32, want: Uint8Array): bool {
  let o = 0;
  const n = want.length;
  let i = s;
  while (i < e) {
    let c = <u32>src[i];
    if (c == 0x2b) c = 0x20;
    else if (c == 0x25 && i + 2 < e) {
      const hi = hexVal(src[i + 1]);
      const lo = hexVal(src[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = <u32>((hi << 4) | lo);
        i += 2;
      }
    }
    if (o >= n || <u32>want[o] != c) return false;
    o++;
    i++;
  }
  return o == n;
}

function masked(src: Uint8Array, s: i32, e: i32, masks: Array<Uint8Array>): bool {
  for (let m = 0; m < masks.length; m++) if (nameIs(src, s, e, masks[m])) return true;
  return false;
}

/**
 * Writes `path` (path and query as the client sent them) with the value of every parameter named
 * in `masks` replaced by *****: every occurrence, empty values too, and only exact names
 * (compared URL-decoded), so `id` does not touch `user_id`.
 */
export function writeMaskedPath(w: ByteWriter, path: Uint8Array, masks: Array<Uint8Array>): void {
  const q = path.indexOf(0x3f);
  if (q < 0 || masks.length == 0) {
    w.bytes(path);
    return;
  }
  w.bytes(path, 0, q + 1);
  writeMaskedParams(w, path, q + 1, masks);
}

/**
 * Writes the `name=value&…` parameters of src[start, end) with the value of every parameter named
 * in `masks` (compared URL-decoded) replaced by *****: a query string, or a form body.
 */
export function writeMaskedParams(w: ByteWriter, src: Uint8Array, start: i32, masks: Array<Uint8Array>): void {
  let s = start;
  const n = src.length;
  while (s <= n) {
    let e = s;
    while (e < n && src[e] != 0x26) e++;
    // One parameter: [s, e)
    let eq = s;
    while (eq < e && src[eq] != 0x3d) eq++;
    if (e > s && masked(src, s, eq, masks)) {
      w.bytes(src, s, eq - s).byte(0x3d).ascii(MASK);
    } else {
      w.bytes(src, s, e - s);
    }
    if (e < n) w.byte(0x26);
    s = e + 1;
  }
}

/**
 * Whether a body is a form as browsers and HTTP clients serialise one (WHATWG URL, the
 * application/x-www-form-urlencoded serializer): only unreserved and sub-delimiter characters, with
 * every `%` starting an escape. Only then is each field's name certain; a JSON document sent with
 * a form content type (`curl -d`) is not one.
 */
export function isFormBody(b: Uint8Array): bool {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39)) continue;
    if (c == 0x25) {
      if (i + 2 >= b.length || hexVal(b[i + 1]) < 0 || hexVal(b[i + 2]) < 0) return false;
      i += 2;
      continue;
    }
    if (!isFormPunctuation(c)) return false;
  }
  return true;
}

/** - . _ ~ * + = & ! $ ' ( ) , ; : @ / */
function isFormPunctuation(c: u32): bool {
  switch (c) {
    case 0x2d: case 0x2e: case 0x5f: case 0x7e: case 0x2a: case 0x2b: case 0x3d: case 0x26: case 0x21:
    case 0x24: case 0x27: case 0x28: case 0x29: case 0x2c: case 0x3b: case 0x3a: case 0x40: case 0x2f:
      return true;
  }
  return false;
}
