// proxy-wasm ABI 0.2.1 values (proxy-wasm/spec, abi-versions/v0.2.1) and Kong's view of the host
// functions: ngx_wasm_module's hfuncs table (src/common/proxy_wasm/ngx_proxy_wasm_host.c, where a
// function bound to ngx_proxy_wasm_hfuncs_nop links but traps). What differs by version: nwm.ts.

export const Status = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  InternalFailure: 10,
  Unimplemented: 12,
} as const;

export const MapType = { RequestHeaders: 0, RequestTrailers: 1, ResponseHeaders: 2, ResponseTrailers: 3, HttpCallResponseHeaders: 6, HttpCallResponseTrailers: 7 } as const;
export const BufferType = { RequestBody: 0, ResponseBody: 1, HttpCallResponseBody: 4, VmConfiguration: 6, PluginConfiguration: 7 } as const;
export const Action = { Continue: 0, Pause: 1 } as const;

export const LOG_LEVELS = ["debug", "debug", "info", "warn", "error", "crit"] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number] | "emerg" | "notice";

/** Host functions Kong links (module `env`) and implements; the four metric functions trap before 3.8 (nwm.ts). */
export const KONG_IMPLEMENTED = [
  "proxy_log",
  "proxy_get_current_time_nanoseconds",
  "proxy_set_effective_context",
  "proxy_set_tick_period_milliseconds",
  "proxy_get_buffer_bytes",
  "proxy_set_buffer_bytes",
  "proxy_get_header_map_pairs",
  "proxy_get_header_map_value",
  "proxy_set_header_map_pairs",
  "proxy_add_header_map_value",
  "proxy_replace_header_map_value",
  "proxy_remove_header_map_value",
  "proxy_get_property",
  "proxy_set_property",
  "proxy_continue_stream",
  "proxy_continue_request",
  "proxy_send_local_response",
  "proxy_http_call",
  "proxy_dispatch_http_call",
  "proxy_get_shared_data",
  "proxy_set_shared_data",
  "proxy_register_shared_queue",
  "proxy_enqueue_shared_queue",
  "proxy_dequeue_shared_queue",
  "proxy_define_metric",
  "proxy_get_metric",
  "proxy_record_metric",
  "proxy_increment_metric",
] as const;

/** Kong links these, and the call traps. */
export const KONG_TRAPPING_STUBS = [
  "proxy_get_log_level",
  "proxy_done",
  "proxy_continue_response",
  "proxy_close_stream",
  "proxy_get_status",
  "proxy_clear_route_cache",
  "proxy_resolve_shared_queue",
  "proxy_grpc_call",
  "proxy_grpc_stream",
  "proxy_grpc_send",
  "proxy_grpc_cancel",
  "proxy_grpc_close",
  "proxy_get_grpc_status",
] as const;

/** The ABI marker exports Kong recognises, first found wins. */
export const ABI_MARKERS = ["proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0", "proxy_abi_version_0_1_0"] as const;

/** Exports Kong requires; without them the filter does not load. */
export const REQUIRED_EXPORTS = ["memory", "proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure"] as const;

/** Phases from which Kong lets a filter dispatch an HTTP call. */
export const DISPATCH_PHASES = new Set(["request_headers", "request_body", "tick", "http_call_response", "foreign_function"]);

/** Kong truncates marshalled header maps to this many pairs. */
export const MAX_MAP_PAIRS = 100;
