// One place that assembles what the integration tests need: the built filter in the Kong-like host,
// the gateway in front of a real upstream, and the local collector it ships to.
import http from "node:http";
import { readFileSync } from "node:fs";
import { KongWasmHost, FilterSpec, HostOptions } from "../host/kong-host.ts";
import { startGateway, Gateway, GatewayOptions } from "../host/gateway.ts";
import { Collector, CollectorOptions } from "../collector/collector.ts";
import { startUpstream, Upstream, Handler } from "./upstream.ts";

export const WASM_PATH = new URL("../../build/moesif.wasm", import.meta.url);
export const moesifWasm = () => readFileSync(WASM_PATH);

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Sends exactly these header bytes (Node writes header strings as latin1). */
export function send(url: string, opts: { method?: string; path?: string; headers?: [string, string | Buffer][]; body?: Buffer | string } = {}): Promise<RawResponse> {
  const flat: string[] = [];
  const given = opts.headers ?? [];
  const has = (name: string) => given.some(([k]) => k.toLowerCase() === name);
  // HTTP/1.1 requires Host (nginx, like Node, answers 400 without it).
  if (!has("host")) flat.push("Host", "api.example.com");
  for (const [k, v] of given) flat.push(k, typeof v === "string" ? v : v.toString("latin1"));
  // A known Content-Length (rather than chunked) keeps the request the test describes exact.
  if (opts.body !== undefined && !has("content-length") && !has("transfer-encoding")) flat.push("Content-Length", String(Buffer.byteLength(opts.body)));
  return new Promise((resolve, reject) => {
    const req = http.request(url + (opts.path ?? "/"), { method: opts.method ?? "GET", headers: flat, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

export interface Harness {
  host: KongWasmHost;
  gateway: Gateway;
  collector: Collector;
  upstream: Upstream;
  /** Upstream requests seen, in order. */
  upstreamSeen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }[];
  /**
   * Ticks every root and waits for the dispatches to be answered, again while a tick still sends
   * something (from Kong 3.7 a root has one call in flight at a time: the config fetch, then a
   * batch). Where the harness keeps the time (no host.clock given), it first moves it on by
   * batch_max_wait, so a partial batch may leave.
   */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** The filter configuration; an object is sent as JSON text with api_endpoint pointing at the collector. */
  config?: Record<string, unknown> | string;
  /** Several filter chains (each its own root context), given the collector's URL; overrides `config`. */
  filters?: (collectorUrl: string) => FilterSpec[];
  upstream?: Handler;
  host?: HostOptions;
  collector?: CollectorOptions;
  gateway?: Partial<GatewayOptions>;
}

export const okJson: Handler = (_req, _body, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end("{\"ok\":true}");
};

export async function harness(opts: HarnessOptions = {}): Promise<Harness> {
  const collector = await new Collector(opts.collector).start();
  const upstreamSeen: Harness["upstreamSeen"] = [];
  const handler = opts.upstream ?? okJson;
  const upstream = await startUpstream((req, body, res) => {
    upstreamSeen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    handler(req, body, res);
  });
  const config = opts.config ?? { application_id: "test-app-id" };
  const filters = opts.filters?.(collector.url) ?? [{
    name: "moesif",
    config: typeof config === "string" ? config : JSON.stringify({ api_endpoint: collector.url, ...config }),
  }];
  // Unless the test keeps the time itself, the harness does: the wall clock, which flush() moves
  // on by batch_max_wait, as long as a partial batch may wait, so that whatever is queued leaves.
  let skewMs = 0;
  const clock = opts.host?.clock ?? (() => Date.now() + skewMs);
  const wait = typeof config === "object" && typeof config.batch_max_wait === "number" ? config.batch_max_wait : 1000;
  const host = new KongWasmHost(moesifWasm(), filters, { autoTick: false, ...opts.host, clock });
  host.start();
  const gateway = await startGateway({ host, upstream: upstream.url, clock, ...opts.gateway });
  return {
    host, gateway, collector, upstream, upstreamSeen,
    async flush() {
      await gateway.idle();
      if (!opts.host?.clock) skewMs += wait;
      await tickUntilIdle(host);
    },
    async close() {
      host.stop();
      await gateway.close();
      await upstream.close();
      await collector.close();
    },
  };
}

/**
 * Ticks every root and waits for the answers, again while a tick still sends something (from Kong
 * 3.7 a root has one call in flight at a time); `between` runs before each tick (a fake clock's step).
 */
export async function tickUntilIdle(host: KongWasmHost, between: () => void = () => {}, rounds = 10): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const calls = host.calls.length;
    between();
    host.tickAll();
    await host.settle();
    if (host.calls.length === calls) break;
  }
}

/**
 * One call first, so that the filter learns which host it is in and (Kong 3.6+) loads its config
 * and rules, which it fetches only then; then the harness forgets it: calls, batches, events and
 * upstream calls start from here. `advance` moves a test's fake clock on by batch_max_wait, so that
 * the next partial batch may leave at once.
 */
export async function warmUp(h: Harness, advance: () => void = () => {}): Promise<void> {
  const r = await send(h.gateway.url, { path: "/warm-up" });
  if (r.status !== 200) throw new Error(`the warm-up call got ${r.status}`);
  await h.flush();
  if (h.collector.events.length !== 1) throw new Error(`the warm-up call gave ${h.collector.events.length} events`);
  advance();
  h.host.calls.splice(0);
  h.collector.events.splice(0);
  h.collector.batches.splice(0);
  h.upstreamSeen.splice(0);
}

/** No trap, no worker crash, no leaked fake request: what every test of the filter holds. */
export function assertHostClean(host: KongWasmHost): void {
  if (host.traps.length > 0) throw new Error(`the filter trapped: ${host.traps[0].message}`);
  if (host.crashes.length > 0) throw new Error(`the filter made NWM crash the worker (Kong ${host.kongVersion}): ${host.crashes[0].message}`);
  if (host.leaks.length > 0) throw new Error(`the filter made NWM leak ${host.leaks.length} fake requests (Kong ${host.kongVersion}): call ${host.leaks[0].token}: ${host.leaks[0].why}`);
}

/** Log lines of one level (from the filter and the host). */
export function logsAt(host: KongWasmHost, level: string): string[] {
  return host.logs.filter((l) => l.level === level).map((l) => l.message);
}

/**
 * Ends a test's harness: the filter must never have trapped, crashed the worker or made NWM leak a
 * connection, and every event it sent must be one this filter promises (filter-event.schema.json),
 * whatever the test did.
 */
export async function closeChecked(h: Harness | null): Promise<void> {
  if (!h) return;
  try {
    assertHostClean(h.host);
    const v = h.collector.filterViolations[0];
    if (v) throw new Error(`the filter sent an event outside its schema: ${v.problems}\n${JSON.stringify(v.event)}`);
  } finally {
    await h.close();
  }
}
