// The ABI 0.2.1 exports. Each looks its context up and does nothing for an id it does not know:
// an unknown id is a host quirk to survive, not a reason to trap.
import { Action } from "./abi";
import { HttpContext, RootContext, roots, streams, createRoot } from "./context";
import { logWarn, hostAlloc } from "./host";

// The collector (gc.ts) runs only when asked, and asking is safe only where no object is held by a
// local alone: as a callback returns to the host. Every callback that allocates asks when it
// ends, and the collector says whether enough was allocated since its last run. The request path's
// callbacks collect only when memory needs it (large bodies): a collection there would be latency.
// Ticks come every few milliseconds, so they collect only when due like the others.
function collectIfDue(): void {
  if (__collect_due(false)) __collect();
}

function collectIfMemoryDue(): void {
  if (__collect_due(true)) __collect();
}

export function proxy_abi_version_0_2_1(): void {}

/** The host allocates the blocks it hands us (header maps, bodies, properties) with this. */
export function malloc(size: usize): usize {
  return hostAlloc(size);
}

export function proxy_on_context_create(contextId: u32, parentId: u32): void {
  if (parentId == 0) {
    createRoot(contextId);
    return;
  }
  if (!roots.has(parentId)) {
    logWarn("moesif: HTTP context " + contextId.toString() + " has unknown root " + parentId.toString());
    return;
  }
  streams.set(contextId, roots.get(parentId).newHttpContext(contextId));
}

function root(id: u32): RootContext | null {
  return roots.has(id) ? roots.get(id) : null;
}

function stream(id: u32): HttpContext | null {
  return streams.has(id) ? streams.get(id) : null;
}

export function proxy_on_vm_start(rootId: u32, configSize: u32): bool {
  const r = root(rootId);
  const ok = r !== null ? r.onVmStart(configSize) : true;
  collectIfDue();
  return ok;
}

export function proxy_on_configure(rootId: u32, configSize: u32): bool {
  const r = root(rootId);
  const ok = r !== null ? r.onConfigure(configSize) : true;
  collectIfDue();
  return ok;
}

export function proxy_on_tick(rootId: u32): void {
  // Also as the tick starts: a batch is one contiguous block of up to 2 MB, best carved from memory
  // the garbage of the requests since the last collection has given back.
  collectIfDue();
  const r = root(rootId);
  if (r !== null) r.onTick();
  collectIfDue();
}

export function proxy_on_http_call_response(rootId: u32, token: u32, headerCount: u32, bodySize: u32, trailerCount: u32): void {
  const r = root(rootId);
  if (r !== null) r.onHttpCallResponse(token, headerCount, bodySize, trailerCount);
  collectIfDue();
}

export function proxy_on_request_headers(id: u32, headerCount: u32, endOfStream: bool): u32 {
  const s = stream(id);
  const action = s !== null ? s.onRequestHeaders(headerCount, endOfStream) : Action.Continue;
  collectIfMemoryDue();
  return action;
}

export function proxy_on_request_body(id: u32, bodySize: u32, endOfStream: bool): u32 {
  const s = stream(id);
  const action = s !== null ? s.onRequestBody(bodySize, endOfStream) : Action.Continue;
  collectIfMemoryDue();
  return action;
}

export function proxy_on_response_headers(id: u32, headerCount: u32, endOfStream: bool): u32 {
  const s = stream(id);
  const action = s !== null ? s.onResponseHeaders(headerCount, endOfStream) : Action.Continue;
  collectIfMemoryDue();
  return action;
}

export function proxy_on_response_body(id: u32, bodySize: u32, endOfStream: bool): u32 {
  const s = stream(id);
  const action = s !== null ? s.onResponseBody(bodySize, endOfStream) : Action.Continue;
  collectIfMemoryDue();
  return action;
}

export function proxy_on_done(id: u32): bool {
  const s = stream(id);
  return s !== null ? s.onDone() : true;
}

export function proxy_on_log(id: u32): void {
  const s = stream(id);
  if (s !== null) s.onLog();
  collectIfDue();
}

export function proxy_on_delete(id: u32): void {
  const s = stream(id);
  if (s !== null) {
    s.onDelete();
    streams.delete(id);
    return;
  }
  const r = root(id);
  if (r !== null) {
    r.onDelete();
    roots.delete(id);
  }
}
