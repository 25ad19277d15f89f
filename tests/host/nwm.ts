// What differs between the Kong releases the test host copies: each Kong version selects the
// behaviour of the ngx_wasm_module (NWM) commit that release pins in its `.requirements` file.
// Every flag names the NWM source it was read from, at that pin, so the next reader can check it.
//
//   Kong 3.4.0, 3.4.1  NGX_WASM_MODULE=prerelease-0.1.0 (7aab2937)
//   Kong 3.4.2, 3.5.x  NGX_WASM_MODULE=21732b18fc46f409962ae77ddf01c713b568d078  (prerelease-0.1.1)
//   Kong 3.6.x         NGX_WASM_MODULE=a7087a37f0d423707366a694630f1e09f4c21728
//   Kong 3.7.x         NGX_WASM_MODULE=91d447ffd0e9bb08f11cc69d1aa9128ec36b4526
//   Kong 3.8.x         NGX_WASM_MODULE=96b4e27e10c63b07ed40ea88a91c22f23981db35
//   Kong 3.9.x         NGX_WASM_MODULE=9136e463a6f1d80755ce66c88c3ddecd0eb5e25d
//
// "3.4" in the version matrix means 3.4.2, the 3.4 patch release most run; 3.4.0 is modelled where
// it differs (a root's answer headers).

export interface NwmProfile {
  /** The Kong version asked for, e.g. "3.9.1". */
  kongVersion: string;
  /** The NWM commit that release pins. */
  pin: string;
  /**
   * proxy_define/increment/record/get_metric work. Before 3.8 they are bound to
   * ngx_proxy_wasm_hfuncs_nop, which returns NGX_WAVM_NYI: the call traps with "host trap (function
   * not yet implemented)" (src/common/proxy_wasm/ngx_proxy_wasm_host.c, the hfuncs table, and
   * src/wasm/vm/ngx_wavm_host.c, ngx_wavm_hfunc_trampoline). 96b4e27e implements them.
   */
  metrics: boolean;
  /** kong.* properties: Kong's own getters (kong/runloop/wasm.lua, properties.add_getter), from 3.6. */
  kongProperties: boolean;
  /** kong.route_name and kong.service_name: added to kong/runloop/wasm.lua in Kong 3.9.0. */
  routeServiceNames: boolean;
  /**
   * A failed dispatch calls on_http_call_response (with 0 headers, 0 body) and the response map has
   * `:dispatch_status` (ok on success). 9136e463: ngx_http_proxy_wasm_dispatch_err(call, 1) calls
   * invoke_on_http_dispatch_response (src/http/proxy_wasm/ngx_http_proxy_wasm_dispatch.c), and
   * ngx_proxy_wasm_maps_get_dispatch_status returns ngx_wasm_socket_tcp_status_strerror(sock->status)
   * (src/common/proxy_wasm/ngx_proxy_wasm_maps.c, src/common/ngx_wasm_socket_tcp.c). Earlier pins
   * only log the error and destroy the call.
   */
  dispatchFailureCallback: boolean;
  /**
   * set_tick_period from an HTTP context traps ("can only set tick_period in root context"); at
   * 21732b18 the call is ignored and answers Ok (ngx_proxy_wasm_hfuncs_set_tick_period).
   */
  tickFromHttpTraps: boolean;
  /** A period of 0 after one was set cancels the tick; before, any second call traps (same function). */
  tickCancel: boolean;
  /**
   * Header setters used after their step trap (ngx_proxy_wasm_hfuncs_set_header_check, first at
   * 91d447ff: "can only set request headers before response is produced", "can only set response
   * headers before \"on_response_body\""). Earlier pins log an error and answer Ok.
   */
  headerSettersTrapAfterStep: boolean;
  /**
   * Shim response headers are added to the response map only in the response steps and the log
   * (ngx_proxy_wasm_maps_get_all checks pwctx->step from 96b4e27e); earlier pins add them always.
   */
  shimsOnlyInResponseSteps: boolean;
  /**
   * After a trap in on_tick, no further tick is scheduled until a request creates a new instance:
   * at 21732b18 ngx_proxy_wasm_filter_tick_handler returns before ngx_add_timer when the step failed
   * (src/common/proxy_wasm/ngx_proxy_wasm_util.c); from a7087a37 it reschedules whatever happened.
   */
  ticksStopAfterTrap: boolean;
  /**
   * What reading a root context's dispatch answer does to the worker beyond its `:status`: "body" —
   * a body read crashes it (SIGSEGV: at 21732b18 ngx_proxy_wasm_get_buffer_helper does `rctx->r` with
   * the NULL request context of a root before it looks at the buffer type, src/common/proxy_wasm/
   * ngx_proxy_wasm_host.c:36-37; fixed by 5553ae05, in a7087a37); "headers" — at prerelease-0.1.0 every
   * map read but `:status` crashes too (ngx_proxy_wasm_maps_get_map, ngx_proxy_wasm_maps.c:96-97;
   * fixed by ddec3322, in 21732b18); null — both are safe.
   */
  rootAnswerCrash: "headers" | "body" | null;
  /**
   * When a root context's call ends and its fake request is never finalised: NWM gives every root call
   * a fake connection (ngx_http_wasm_create_fake_connection, a worker_connections slot) that only
   * ngx_http_wasm_finalize_fake_request frees, and it is not reached when the dispatch resume
   * handler returns NGX_AGAIN (src/http/proxy_wasm/ngx_http_proxy_wasm_dispatch.c). At every pin that
   * is the case for an answer whose callback dispatched again (21732b18, a7087a37: `pwexec->call !=
   * call`; later: the new call is pending). From 91d447ff the calls of a context are queued and a call
   * that ends while another is pending yields instead of finishing: "success" — only successes
   * (91d447ff, whose error path returns NGX_ERROR); "any" — successes and failures alike (96b4e27e,
   * 9136e463, the `done:` label's ngx_proxy_wasm_dispatch_calls_total check); null — an answer while
   * another call is pending finishes normally (before 91d447ff).
   */
  leakOnOverlap: "success" | "any" | null;
  /**
   * get_buffer_bytes with nothing to copy (an empty chunk, max 0) answers Ok and writes no pointer
   * ("eof", ngx_proxy_wasm_hfuncs_get_buffer from a7087a37); at 21732b18 it answers NotFound.
   */
  emptyBufferOk: boolean;
  /**
   * Body buffers are readable only in their steps, else the call traps (ngx_proxy_wasm_get_buffer_helper
   * from a7087a37: "can only get request body during ..."); 21732b18 has no such check.
   */
  bufferStepChecks: boolean;
  /**
   * end_of_stream given to on_request_headers and on_response_headers: 1 at 21732b18 and a7087a37
   * (NGX_HTTP_PROXY_WASM_EOF, defined 1 at src/http/proxy_wasm/ngx_http_proxy_wasm.c:9, passed at
   * :43 and :196), 0 from 91d447ff (:40 and :188, "eof: 0"). Seen in the real host with the probe
   * filter (the removed real-host suite, f66d8f6:tests/nwm/golden.test.ts).
   */
  headersEndOfStream: boolean;
}

const PINS: [string, string][] = [
  ["3.9.0", "9136e463a6f1d80755ce66c88c3ddecd0eb5e25d"],
  ["3.8.0", "96b4e27e10c63b07ed40ea88a91c22f23981db35"],
  ["3.7.0", "91d447ffd0e9bb08f11cc69d1aa9128ec36b4526"],
  ["3.6.0", "a7087a37f0d423707366a694630f1e09f4c21728"],
  ["3.4.2", "21732b18fc46f409962ae77ddf01c713b568d078"],
  ["3.4.0", "7aab2937"],
];

/** The versions the version matrix runs: one per distinct NWM pin (3.5 pins what 3.4.2 pins). */
export const KONG_VERSIONS = ["3.4.2", "3.6.1", "3.7.1", "3.8.0", "3.9.1"] as const;

export function versionAtLeast(v: string, want: string): boolean {
  const a = v.split(".").map(Number);
  const b = want.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

export function nwmProfile(kongVersion: string): NwmProfile {
  if (!versionAtLeast(kongVersion, "3.4.0")) throw new Error(`Kong ${kongVersion} has no WebAssembly support (3.4 is the first)`);
  const at = (v: string) => versionAtLeast(kongVersion, v);
  return {
    kongVersion,
    pin: PINS.find(([v]) => at(v))![1],
    metrics: at("3.8.0"),
    kongProperties: at("3.6.0"),
    routeServiceNames: at("3.9.0"),
    dispatchFailureCallback: at("3.9.0"),
    tickFromHttpTraps: at("3.6.0"),
    tickCancel: at("3.8.0"),
    headerSettersTrapAfterStep: at("3.7.0"),
    shimsOnlyInResponseSteps: at("3.8.0"),
    ticksStopAfterTrap: !at("3.6.0"),
    rootAnswerCrash: at("3.6.0") ? null : at("3.4.2") ? "body" : "headers",
    leakOnOverlap: at("3.8.0") ? "any" : at("3.7.0") ? "success" : null,
    emptyBufferOk: at("3.6.0"),
    bufferStepChecks: at("3.6.0"),
    headersEndOfStream: !at("3.7.0"),
  };
}
