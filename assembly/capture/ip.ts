// The client's IP address: the first valid address in the headers proxies set (the Lua plugin's
// list and order), else the peer address. These headers are client-controlled, as in the Lua plugin.
import { HeaderMap } from "../runtime/headers";
import { utf8, skipBlanks, dropBlanks } from "../codec/bytes";

const IP_HEADERS: Array<Uint8Array> = [
  utf8("x-client-ip"), utf8("x-forwarded-for"), utf8("cf-connecting-ip"), utf8("fastly-client-ip"),
  utf8("true-client-ip"), utf8("x-real-ip"), utf8("x-cluster-client-ip"), utf8("x-forwarded"),
  utf8("forwarded-for"), utf8("forwarded"),
];

function isIPv4(b: Uint8Array, s: i32, e: i32): bool {
  let parts = 0;
  let i = s;
  while (i < e) {
    let n = 0;
    let digits = 0;
    while (i < e && b[i] >= 0x30 && b[i] <= 0x39) {
      n = n * 10 + (b[i] - 0x30);
      digits++;
      i++;
      if (digits > 3) return false;
    }
    if (digits == 0 || n > 255) return false;
    parts++;
    if (i < e) {
      if (b[i] != 0x2e || parts == 4) return false;
      i++;
      if (i == e) return false;
    }
  }
  return parts == 4;
}

function isHex(c: u8): bool {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

function isIPv6(b: Uint8Array, s: i32, e: i32): bool {
  if (e - s < 2 || e - s > 45) return false;
  let groups = 0;
  let doubleColon = false;
  let i = s;
  if (b[i] == 0x3a) {
    if (b[i + 1] != 0x3a) return false;
    doubleColon = true;
    i += 2;
    if (i == e) return true;
  }
  while (i < e) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
    let j = i;
    while (j < e && b[j] != 0x3a) j++;
    if (j == e && b.subarray(i, e).indexOf(0x2e) >= 0) {
      if (!isIPv4(b, i, e)) return false;
      groups += 2;
      break;
    }
    const len = j - i;
    if (len == 0 || len > 4) return false;
    for (let k = i; k < j; k++) if (!isHex(b[k])) return false;
    groups++;
    if (j == e) break;
    // j is ':'
    if (j + 1 < e && b[j + 1] == 0x3a) {
      if (doubleColon) return false;
      doubleColon = true;
      i = j + 2;
      if (i == e) break;
    } else {
      i = j + 1;
      if (i == e) return false;
    }
  }
  return doubleColon ? groups < 8 : groups == 8;
}

/** An address from one list element: `1.2.3.4`, `1.2.3.4:80`, `[v6]:80`, `v6`, `for="[v6]"`. */
function addressIn(b: Uint8Array, s: i32, e: i32): Uint8Array | null {
  // [s, e) lies inside b (firstAddress's bounds).
  s = skipBlanks(b.dataStart, s, e);
  e = dropBlanks(b.dataStart, s, e);
  // RFC 7239: for=…; other parameters are ignored.
  for (let i = s; i + 4 <= e; i++) {
    if ((b[i] | 0x20) == 0x66 && (b[i + 1] | 0x20) == 0x6f && (b[i + 2] | 0x20) == 0x72 && b[i + 3] == 0x3d) {
      s = i + 4;
      let j = s;
      while (j < e && b[j] != 0x3b) j++;
      e = j;
      break;
    }
  }
  if (e - s >= 2 && b[s] == 0x22 && b[e - 1] == 0x22) { s++; e--; }
  if (s < e && b[s] == 0x5b) {
    let close = s + 1;
    while (close < e && b[close] != 0x5d) close++;
    if (close == e) return null;
    return isIPv6(b, s + 1, close) ? b.slice(s + 1, close) : null;
  }
  if (isIPv4(b, s, e) || isIPv6(b, s, e)) return b.slice(s, e);
  // IPv4 with a port.
  let colon = -1;
  for (let i = s; i < e; i++) if (b[i] == 0x3a) { if (colon >= 0) return null; colon = i; }
  if (colon > 0 && isIPv4(b, s, colon)) return b.slice(s, colon);
  return null;
}

/** The leftmost valid address of a comma-separated header value. */
function firstAddress(v: Uint8Array): Uint8Array | null {
  let s = 0;
  const p = v.dataStart;
  for (let i = 0; i <= v.length; i++) {
    if (i == v.length || load<u8>(p + i) == 0x2c) {
      const a = addressIn(v, s, i);
      if (a !== null) return a;
      s = i + 1;
    }
  }
  return null;
}

export function clientIp(req: HeaderMap, peer: Uint8Array | null): Uint8Array | null {
  for (let h = 0; h < IP_HEADERS.length; h++) {
    const i = req.find(IP_HEADERS[h]);
    if (i < 0) continue;
    const a = firstAddress(req.value(i));
    if (a !== null) return a;
  }
  // Kong's source.address is a bare address; Envoy's carries the port.
  if (peer === null) return null;
  const a = firstAddress(peer);
  return a !== null ? a : peer;
}

export function isIpAddress(b: Uint8Array): bool {
  return isIPv4(b, 0, b.length) || isIPv6(b, 0, b.length);
}
