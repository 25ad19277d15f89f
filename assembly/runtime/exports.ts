// The ABI 0.2.1 exports. Each looks its context up and does nothing for an id it does not know:
// an unknown id is a host quirk to survive, not a reason to trap.
import { Action } from "./abi";
import { HttpContext, RootContext, roots, streams, createRoot } from "./context";
import { logWarn, hostAlloc } from "./host";
import { collectionDue, resetPressure } from "./pressure";

// The runtime is AssemblyScript's "minimal" one: allocation without the incremental collector's
// bookkeeping, and a full collection only when asked. Asking is safe only where no object is held
// by a local alone, i.e. when a callback returns to the host: after every tick, after every
// COLLECT_EVERY requests logged, and after any callback once 2 MiB of large blocks were allocated.
const COLLECT_EVERY = 64;
let logged = 0;

function collect(): void {
  logged = 0;
  resetPressure();
  __collect();
}

function collectSometimes(): void {
  if (++logged >= COLLECT_EVERY) collect();
  else if (collectionDue()) collect();
}

function collectIfDue(): void {
  if (collectionDue()) collect();
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
  return r !== null ? r.onVmStart(configSize) : true;
}

export function proxy_on_configure(rootId: u32, configSize: u32): bool {
  const r = root(rootId);
  return r !== null ? r.onConfigure(configSize) : true;
}

export function proxy_on_tick(rootId: u32): void {
  const r = root(rootId);
  if (r !== null) r.onTick();
  collect();
}

export function proxy_on_http_call_response(rootId: u32, token: u32, headerCount: u32, bodySize: u32, trailerCount: u32): void {
  const r = root(rootId);
  if (r !== null) r.onHttpCallResponse(token, headerCount, bodySize, trailerCount);
}

export function proxy_on_request_headers(id: u32, headerCount: u32, endOfStream: bool): u32 {
  const s = stream(id);
  return s !== null ? s.onRequestHeaders(headerCount, endOfStream) : Action.Continue;
}

export function proxy_on_request_body(id: u32, bodySize: u32, endOfStream: bool): u32 {
  const s = stream(id);
  const action = s !== null ? s.onRequestBody(bodySize, endOfStream) : Action.Continue;
  collectIfDue();
  return action;
}

export function proxy_on_response_headers(id: u32, headerCount: u32, endOfStream: bool): u32 {
  const s = stream(id);
  return s !== null ? s.onResponseHeaders(headerCount, endOfStream) : Action.Continue;
}

export function proxy_on_response_body(id: u32, bodySize: u32, endOfStream: bool): u32 {
  const s = stream(id);
  const action = s !== null ? s.onResponseBody(bodySize, endOfStream) : Action.Continue;
  collectIfDue();
  return action;
}

export function proxy_on_done(id: u32): bool {
  const s = stream(id);
  return s !== null ? s.onDone() : true;
}

export function proxy_on_log(id: u32): void {
  const s = stream(id);
  if (s !== null) s.onLog();
  collectSometimes();
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
