import { asciiLower, decimal } from "../codec/bytes";

// Where batches go. Kong's dispatch wants `host:port` (it cannot take a URL), plus `:authority` for
// Host and SNI and `:scheme: https` for TLS; the path prefix of api_endpoint is kept.

export class Endpoint {
  scheme: string = "https";
  host: string = "api.moesif.net";
  port: i32 = 443;
  basePath: string = "";

  /** `host:port`, the upstream argument of proxy_http_call. */
  get upstream(): string {
    return this.host + ":" + this.port.toString();
  }

  /** Host header value: the port only when it is not the scheme's default. */
  get authority(): string {
    const dflt = this.scheme == "https" ? 443 : 80;
    return this.port == dflt ? this.host : this.host + ":" + this.port.toString();
  }
}

function isDigits(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function isHostChar(c: i32): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
    "._~%!$&'()*+,;=-".indexOf(String.fromCharCode(c)) >= 0;
}

/**
 * Whether a host is an IP address as nginx reads one (ngx_inet_addr: four decimal octets; or a
 * bracketed IPv6 literal). Kong derives TLS SNI from the host and refuses an IP address there
 * ("could not derive tls sni"), so an https:// endpoint given this way can never be reached.
 */
export function isIpLiteral(host: string): bool {
  if (host.startsWith("[")) return true;
  const parts = host.split(".");
  if (parts.length != 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!isDigits(p) || p.length > 3 || decimal(p) > 255) return false;
  }
  return true;
}

/** Parses an http(s) URL; null when it is not one this filter can send to. */
export function parseEndpoint(url: string): Endpoint | null {
  const e = new Endpoint();
  let rest: string;
  const lower = asciiLower(url);
  if (lower.startsWith("https://")) { e.scheme = "https"; e.port = 443; rest = url.substring(8); }
  else if (lower.startsWith("http://")) { e.scheme = "http"; e.port = 80; rest = url.substring(7); }
  else return null;

  let slash = rest.indexOf("/");
  const q = rest.indexOf("?");
  if (q >= 0) return null;
  if (rest.indexOf("#") >= 0) return null;
  let hostport = slash < 0 ? rest : rest.substring(0, slash);
  let path = slash < 0 ? "" : rest.substring(slash);
  while (path.endsWith("/")) path = path.substring(0, path.length - 1);
  if (hostport.indexOf("@") >= 0) return null;

  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) <= 0x20) return null;
  let host: string;
  let portText = "";
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    if (close < 2) return null;
    host = hostport.substring(0, close + 1);
    for (let i = 1; i < close; i++) {
      const c = host.charCodeAt(i);
      if (!((c >= 0x30 && c <= 0x3a) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c == 0x2e)) return null;
    }
    const after = hostport.substring(close + 1);
    if (after.length > 0) {
      if (!after.startsWith(":")) return null;
      portText = after.substring(1);
    }
  } else {
    const colon = hostport.lastIndexOf(":");
    host = colon < 0 ? hostport : hostport.substring(0, colon);
    if (colon >= 0) portText = hostport.substring(colon + 1);
  }
  if (host.length == 0 || host.length > 255) return null;
  if (!host.startsWith("[")) {
    // RFC 3986 reg-name characters (as moesif.meta.json's pattern allows them).
    for (let i = 0; i < host.length; i++) if (!isHostChar(host.charCodeAt(i))) return null;
  }
  if (portText.length > 0 || hostport.endsWith(":")) {
    if (!isDigits(portText) || portText.length > 5 || portText.startsWith("0")) return null;
    const p = decimal(portText);
    if (p < 1 || p > 65535) return null;
    e.port = p;
  }
  e.host = asciiLower(host);
  e.basePath = path;
  return e;
}
