// Contexts as the host sees them: a root context per filter configuration (Kong: one per filter
// chain, several per instance) and an HTTP context per request, created under its root.
import { Action } from "./abi";

export class HttpContext {
  constructor(public readonly id: u32, public readonly rootId: u32) {}
  onRequestHeaders(headerCount: u32, endOfStream: bool): u32 { return Action.Continue; }
  onRequestBody(bodySize: u32, endOfStream: bool): u32 { return Action.Continue; }
  onResponseHeaders(headerCount: u32, endOfStream: bool): u32 { return Action.Continue; }
  onResponseBody(bodySize: u32, endOfStream: bool): u32 { return Action.Continue; }
  onDone(): bool { return true; }
  onLog(): void {}
  onDelete(): void {}
}

export class RootContext {
  constructor(public readonly id: u32) {}
  onVmStart(configSize: u32): bool { return true; }
  /** Must return true whatever the configuration: false stops nginx. */
  onConfigure(configSize: u32): bool { return true; }
  onTick(): void {}
  onHttpCallResponse(token: u32, headerCount: u32, bodySize: u32, trailerCount: u32): void {}
  onDelete(): void {}
  newHttpContext(id: u32): HttpContext { return new HttpContext(id, this.id); }
}

export type RootFactory = (id: u32) => RootContext;

let factory: RootFactory = (id: u32): RootContext => new RootContext(id);

/** Called from the filter's entry module; makes no host call, so it may run at start-up. */
export function setRootFactory(f: RootFactory): void {
  factory = f;
}

export const roots = new Map<u32, RootContext>();
export const streams = new Map<u32, HttpContext>();

export function createRoot(id: u32): RootContext {
  const root = factory(id);
  roots.set(id, root);
  return root;
}
