// What the host can do, which differs by Kong version in ways a filter cannot probe without risk.
// Each capability below names the ngx_wasm_module (NWM) source at the commit Kong pins that decides
// it. Properties answer only in a request, so the first request of an instance learns the host:
// `kong.version` (Kong's Lua, 3.6+); else `ngx.kong_version`, an nginx variable an operator of plain
// nginx with NWM may set to the Kong release whose NWM pin it runs (README: Compatibility); else an nginx with Kong's own variable `$kong_proxy_mode` (set in every proxied location of
// kong/templates/nginx_kong.lua, `set $kong_proxy_mode 'http'`: line 133 at 3.4.2, 154 at 3.5.0) is Kong
// 3.4/3.5, which has no kong.version; any other nginx (its variables answer, as `ngx.nginx_version`),
// and a version that does not parse, is a host that cannot be told: it gets the safe profile, as
// before the first request — no metric, no second call in flight, nothing read from an answer but
// its status. A host with no nginx variables at all is another proxy-wasm host (Envoy).
import { Status } from "./abi";
import { getProperty, propertyPath } from "./host";
import { HostProfile } from "./profile";

const KONG_VERSION = propertyPath("kong.version");
const KONG_VERSION_VAR = propertyPath("ngx.kong_version");
const KONG_PROXY_MODE = propertyPath("ngx.kong_proxy_mode");
const NGINX_VERSION = propertyPath("ngx.nginx_version");

/** An nginx whose Kong release is not known (or a version that does not parse): the safe profile. */
const UNKNOWN = -2;
/** Kong 3.4 or 3.5, known by its variables, not by a version. */
const KONG_3_5 = 305;

let learnt = false;
/** Kong's version as major * 100 + minor; -1 for a host that is not nginx; UNKNOWN for an nginx that cannot be told. */
let kong: i32 = UNKNOWN;

export function hostLearnt(): bool {
  return learnt;
}

/** Reads the host's identity, once per instance. Call it from an HTTP context. */
export function learnHost(): void {
  if (learnt) return;
  let v = getProperty(KONG_VERSION);
  if (v.status != Status.Ok) v = getProperty(KONG_VERSION_VAR);
  if (v.status == Status.Ok) {
    const parsed = parseMajorMinor(v.data!);
    kong = parsed >= 304 ? parsed : UNKNOWN;
  } else if (getProperty(KONG_PROXY_MODE).status == Status.Ok) {
    kong = KONG_3_5;
  } else {
    kong = getProperty(NGINX_VERSION).status == Status.Ok ? UNKNOWN : -1;
  }
  learnt = true;
}

/** What delivery may do with this host, as a value (the safe profile until the host is known). */
export function hostProfile(): HostProfile {
  const p = new HostProfile();
  p.known = learnt;
  p.parallelCalls = hostParallelCalls();
  p.readsAnswers = hostReadsAnswers();
  p.reportsFailures = hostReportsFailedCalls();
  p.dispatchesFromAnswers = hostDispatchesFromAnswers();
  p.metrics = hostHasMetrics();
  p.undeclared = learnt && kong == UNKNOWN;
  return p;
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

/**
 * proxy_define_metric and the others work (Kong 3.8+: before 96b4e27e they are bound to
 * ngx_proxy_wasm_hfuncs_nop, whose NYI traps; Envoy); false until the host is learnt.
 */
export function hostHasMetrics(): bool {
  return learnt && (kong == -1 || kong >= 308);
}

/**
 * A failed dispatch is answered with a callback (Kong 3.9+: 9136e463's ngx_http_proxy_wasm_dispatch_err
 * calls it; Envoy); false until the host is learnt.
 */
export function hostReportsFailedCalls(): bool {
  return learnt && (kong == -1 || kong >= 309);
}

/**
 * A root context's answer may be read beyond its `:status`: its other headers and its body. Kong 3.4
 * and 3.5 crash the worker (SIGSEGV): at 21732b18 every body read from a root dereferences the
 * request context a root has not (ngx_proxy_wasm_get_buffer_helper, src/common/proxy_wasm/
 * ngx_proxy_wasm_host.c:36-37), and at 3.4.0/3.4.1's prerelease-0.1.0 so does every header read but
 * `:status` (ngx_proxy_wasm_maps_get_map, ngx_proxy_wasm_maps.c:96-97); neither exposes `kong.version`,
 * so the two cannot be told apart. Fixed by 5553ae05 and ddec3322, which Kong 3.6 has.
 */
export function hostReadsAnswers(): bool {
  return learnt && (kong == -1 || kong >= 306);
}

/**
 * More than one call of a root context may be in flight at once. From Kong 3.7 NWM keeps the calls
 * of a context in a queue, and when one ends while another is pending it leaves that call's fake
 * request waiting for a resume that never comes (91d447ff: a success; 96b4e27e and 9136e463: any
 * end, src/http/proxy_wasm/ngx_http_proxy_wasm_dispatch.c, ngx_http_proxy_wasm_dispatch_resume_handler,
 * "more http dispatch calls pending"): a worker_connections slot and its memory are lost for good,
 * until the worker cannot accept clients. Before 3.7 each answer ends its own fake request.
 */
export function hostParallelCalls(): bool {
  return learnt && (kong == -1 || (kong >= 304 && kong < 307));
}

/**
 * A root context may dispatch from a call's answer without a leak. Every Kong pin accepts the call
 * (3.6+ list NGX_PROXY_WASM_STEP_DISPATCH_RESPONSE among the allowed steps) but then never ends the
 * answered call's fake request (at 21732b18 and a7087a37 `pwexec->call != call` after the callback
 * returns NGX_AGAIN; from 91d447ff the new call is pending): only Envoy.
 */
export function hostDispatchesFromAnswers(): bool {
  return learnt && kong == -1;
}

/** The host is Kong at or after `majorMinor` (306 for 3.6); false until the host is learnt. */
export function hostKongAtLeast(majorMinor: i32): bool {
  return learnt && kong >= majorMinor;
}
