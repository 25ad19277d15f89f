// When a call that was never answered is presumed lost. Before Kong 3.9 a failed call is never
// called back, so the sender must decide by itself, and a call it gave up on too soon would be
// answered late: its batch sent twice, and where one call at a time is allowed (3.7/3.8) a late
// answer while the next call is out loses that call's fake connection. So the presumption is the
// most NWM's timers let a call run, at the pins Kong 3.7–3.9 use (91d447ff, 96b4e27e, 9136e463):
//  - the dispatch's timeout argument is each step's timeout: ngx_http_proxy_wasm_dispatch sets
//    sock->read_timeout, send_timeout and connect_timeout to it (src/http/proxy_wasm/
//    ngx_http_proxy_wasm_dispatch.c:367-369 at 91d447ff, :368-370 at 96b4e27e, :423-425 at
//    9136e463), and ngx_wasm_socket_tcp_connect falls back to the configured ones only when it is 0
//    (src/common/ngx_wasm_socket_tcp.c:291-301 at 91d447ff, :277-287 at 96b4e27e, :307-317 at 9136e463);
//  - each step arms its timer anew: connect (ngx_add_timer(c->write, sock->connect_timeout),
//    ngx_wasm_socket_tcp.c:595 / :616 / :652), the TLS handshake with the connect timeout (:644 /
//    :665 / :701, only with TLS), every send wait (:913 / :941 / :984) and every read wait (:1168 /
//    :1196 / :1197) — so a body that trickles can outlive any fixed sum;
//  - before them, name resolution, unless the target is an IP address (ngx_wasm_socket_tcp_init:
//    an address ngx_parse_url reads is used with "no resolving"), under resolver_timeout (30 s).
// A call is presumed lost after: the resolver (when it resolves), connect, TLS (https), one send
// wait per 64 KiB of body (at least one), the answer's headers and its body, and a second more. With
// the default timeouts (5 s) and batch_size (500 events of ~1 KB), that is every timer a call can
// meet unless the collector drains less than 64 KiB in 5 s (README: what can still happen).
// From 3.9 (and on Envoy) the host reports every failure: a call is given up only when it has said
// nothing for 10 minutes, which no working host does.
const RESOLVER_TIMEOUT_MS: i64 = 30000;
const SEND_WAIT_BYTES: i64 = 64 * 1024;
/** The answer's headers and its body: a read wait each. */
const READ_WAITS: i64 = 2;
export const LOST_CALL_MARGIN_MS: i64 = 1000;
export const LOST_CALL_CAP_MS: i64 = 600000;
/**
 * The timeout given to a fetch (GET /v1/config, /v1/rules: a small request, a small answer): at
 * most this per step, so that where one call at a time is allowed a fetch that hangs frees the
 * place sooner than a batch would (NWM honours the argument per step, above).
 */
export const FETCH_TIMEOUT_MS: i64 = 2000;

/** How long after it left a call with a `bodyBytes` body is presumed lost (see above). */
export function presumeLostMs(reportsFailures: bool, timeoutMs: i64, bodyBytes: i64, tls: bool, resolves: bool): i64 {
  if (reportsFailures) return LOST_CALL_CAP_MS;
  const sendWaits: i64 = bodyBytes <= 0 ? 1 : (bodyBytes + SEND_WAIT_BYTES - 1) / SEND_WAIT_BYTES;
  return (resolves ? RESOLVER_TIMEOUT_MS : 0) + (1 + (tls ? 1 : 0) + sendWaits + READ_WAITS) * timeoutMs + LOST_CALL_MARGIN_MS;
}
