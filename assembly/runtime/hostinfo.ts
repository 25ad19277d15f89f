// What the host can do, which differs by Kong version in ways a filter cannot probe without risk:
// before Kong 3.8 the metric functions link but trap when called, and before 3.9 a failed dispatch
// is never called back. Properties answer only in a request, so the first request of an instance
// learns the host: `kong.version` (Kong 3.6+); an nginx without it (its variables answer, as
// `ngx.nginx_version`) is Kong 3.4/3.5; a host with neither is another proxy-wasm host (Envoy),
// which implements metrics and calls back on failures. Until then, nothing risky is assumed.
import { Status } from "./abi";
import { getProperty, propertyPath } from "./host";

const KONG_VERSION = propertyPath("kong.version");
const NGINX_VERSION = propertyPath("ngx.nginx_version");

let learnt = false;
/** Kong's version as major * 100 + minor; 0 for Kong before 3.6; -1 for a host that is not Kong. */
let kong: i32 = 0;

export function hostLearnt(): bool {
  return learnt;
}

/** Reads the host's identity, once per instance. Call it from an HTTP context. */
export function learnHost(): void {
  if (learnt) return;
  const v = getProperty(KONG_VERSION);
  if (v.status == Status.Ok) {
    kong = parseMajorMinor(v.data!);
  } else {
    const nginx = getProperty(NGINX_VERSION);
    kong = nginx.status == Status.Ok ? 0 : -1;
  }
  learnt = true;
}

/** "3.9.1" or "3.8.1.0" → 309 / 308; 0 when it does not start with two numbers. */
export function parseMajorMinor(b: Uint8Array): i32 {
  let major = 0;
  let minor = 0;
  let part = 0;
  let digits = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c >= 0x30 && c <= 0x39) {
      if (++digits > 4) return 0;
      if (part == 0) major = major * 10 + (c - 0x30);
      else minor = minor * 10 + (c - 0x30);
    } else if (c == 0x2e && digits > 0 && part == 0) {
      part = 1;
      digits = 0;
    } else {
      break;
    }
  }
  return part == 1 && digits > 0 ? major * 100 + minor : 0;
}

/** proxy_define_metric and the others work (Kong 3.8+, Envoy); false until the host is learnt. */
export function hostHasMetrics(): bool {
  return learnt && (kong < 0 || kong >= 308);
}

/** A failed dispatch is answered with a callback (Kong 3.9+, Envoy); false until the host is learnt. */
export function hostReportsFailedCalls(): bool {
  return learnt && (kong < 0 || kong >= 309);
}
