// The Host a client sent, as the event's URI uses it.

/** The host without the scheme's default port (`example.com:443` → `example.com` for https). */
export function hostWithoutDefaultPort(host: Uint8Array, https: bool): Uint8Array {
  const port = https ? ":443" : ":80";
  const n = port.length;
  if (host.length <= n) return host;
  for (let i = 0; i < n; i++) if (<u32>host[host.length - n + i] != <u32>port.charCodeAt(i)) return host;
  return host.subarray(0, host.length - n);
}

/** Whether a Host value can stand in a URL: a name or [IPv6] with an optional port, nothing else. */
export function isHostValue(v: Uint8Array): bool {
  if (v.length == 0 || v.length > 255) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
      c == 0x2d || c == 0x2e || c == 0x3a || c == 0x5b || c == 0x5d || c == 0x5f;
    if (!ok) return false;
  }
  return true;
}
