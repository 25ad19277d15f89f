// In-process measurements: the built filters driven through the Kong-like host's callbacks with no
// network (dispatches are answered in-process), so what is measured is the filter and the host.
import zlib from "node:zlib";
import { readFileSync } from "node:fs";
import { SignJWT } from "jose";
import { KongWasmHost, RequestState } from "../tests/host/kong-host.ts";
import { Pair } from "../tests/host/maps.ts";

export const root = new URL("..", import.meta.url);
export const wasm = (name: string) => readFileSync(new URL(`build/${name}.wasm`, root));

/** The configuration the scenarios run with: two body masks and one header mask. */
export const BENCH_CONFIG = {
  application_id: "bench",
  api_endpoint: "http://collector.bench:8080",
  request_body_masks: ["password", "card_number"],
  response_body_masks: ["access_token"],
  request_header_masks: ["authorization"],
};

export interface Scenario {
  name: string;
  method: string;
  path: string;
  requestHeaders: Pair[];
  requestBody: Buffer | null;
  responseHeaders: Pair[];
  responseChunks: Buffer[];
}

const h = (k: string, v: string): Pair => [k, Buffer.from(v)];

/** The request headers a real client and Kong's auth plugins send (11 of them). */
function commonHeaders(extra: Pair[] = []): Pair[] {
  return [
    h("host", "api.example.com"), h("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"), h("accept", "application/json"),
    h("accept-encoding", "gzip, deflate, br"), h("accept-language", "en-US,en;q=0.9"), h("x-forwarded-for", "203.0.113.7, 10.0.0.2"),
    h("x-forwarded-proto", "https"), h("x-request-id", "6f1c2f0e-2a4b-4c55-9d3e-0e1f2a3b4c5d"), h("x-consumer-id", "c0ffee00-1234"),
    h("x-consumer-username", "acme-mobile"), h("connection", "keep-alive"), ...extra,
  ];
}

function responseHeaders(extra: Pair[] = []): Pair[] {
  return [h("content-type", "application/json; charset=utf-8"), h("date", "Wed, 25 Nov 2026 12:00:00 GMT"), h("cache-control", "no-cache"),
    h("x-kong-upstream-latency", "3"), h("x-kong-proxy-latency", "0"), h("via", "1.1 kong/3.9.1"), ...extra];
}

function jsonOfSize(bytes: number, secret: string): Buffer {
  const items: unknown[] = [];
  let doc = "";
  for (let i = 0; doc.length < bytes; i++) {
    items.push({ id: i, name: `item ${i}`, price: i * 1.25, tags: ["a", "b"], [secret]: `s-${i}` });
    doc = JSON.stringify({ items, total: items.length });
  }
  return Buffer.from(doc);
}

export async function scenarios(): Promise<Scenario[]> {
  const jwt = await new SignJWT({ sub: "user-42", org: { id: 7 }, scope: "read write" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(new TextEncoder().encode("bench-secret-of-at-least-32-bytes!!"));
  const small = Buffer.from(JSON.stringify({ id: 1, name: "item 1", price: 1.25 }));
  const reqJson = jsonOfSize(1024, "password");
  const resJson = jsonOfSize(2048, "access_token");
  const gz = zlib.gzipSync(jsonOfSize(8192, "access_token"));
  const upload = Buffer.alloc(150 * 1024, 0x61);
  const lenHeader = (n: number) => h("content-length", String(n));
  return [
    { name: "GET, no body", method: "GET", path: "/v1/items/1?fields=id,name", requestHeaders: commonHeaders(), requestBody: null,
      responseHeaders: responseHeaders([lenHeader(small.length)]), responseChunks: [small] },
    { name: "JSON POST 1 KB → 2 KB, 2 body masks, 1 header mask, JWT", method: "POST", path: "/v1/orders",
      requestHeaders: commonHeaders([h("content-type", "application/json"), lenHeader(reqJson.length), h("authorization", `Bearer ${jwt}`)]),
      requestBody: reqJson, responseHeaders: responseHeaders([lenHeader(resJson.length)]), responseChunks: [resJson] },
    { name: "Bearer JWT", method: "GET", path: "/v1/me", requestHeaders: commonHeaders([h("authorization", `Bearer ${jwt}`)]), requestBody: null,
      responseHeaders: responseHeaders([lenHeader(small.length)]), responseChunks: [small] },
    { name: "gzip'd 8 KB JSON response", method: "GET", path: "/v1/catalog", requestHeaders: commonHeaders(), requestBody: null,
      responseHeaders: responseHeaders([h("content-encoding", "gzip"), lenHeader(gz.length)]), responseChunks: [gz] },
    { name: "150 KB upload (over the limit)", method: "POST", path: "/v1/files",
      requestHeaders: commonHeaders([h("content-type", "application/octet-stream"), lenHeader(upload.length)]), requestBody: upload,
      responseHeaders: responseHeaders([lenHeader(small.length)]), responseChunks: [small] },
  ];
}

export function requestState(s: Scenario, i: number, startMs: number): RequestState {
  const q = s.path.indexOf("?");
  return {
    method: s.method, scheme: "https", requestUri: s.path, uri: q < 0 ? s.path : s.path.slice(0, q), args: q < 0 ? "" : s.path.slice(q + 1),
    serverName: "kong", serverPort: 8443, remoteAddr: "10.0.0.2", remotePort: 50000 + (i % 10000), protocol: "HTTP/1.1", startMs,
    requestHeaders: s.requestHeaders.map(([k, v]) => [k, v]), requestBody: s.requestBody,
    responseHeaders: s.responseHeaders.map(([k, v]) => [k, v]), responseChunk: null, status: 200,
    headersSent: false, responseStarted: false, bodyBytesSent: 0, connectionId: i,
    route: { id: "0c3b1f9e-route", name: "orders" }, service: { id: "a1b2c3d4-service", name: "orders-svc" },
  };
}

/**
 * Nanoseconds, summed over `requests`. *Ns is the wall time of the phase as the host sees it;
 * *WasmNs the part spent inside the filter's code, host functions excluded — the filter's own work.
 */
export interface PhaseCost {
  requestPathNs: number;
  requestPathWasmNs: number;
  requestPathHostNs: number;
  deferredNs: number;
  deferredWasmNs: number;
  deferredHostNs: number;
  requests: number;
}

/**
 * A host for benchmarks: timed host calls, dispatches answered in-process. Without a clock of the
 * caller's, each tick comes a batch_max_wait (1 s) after the last on the filter's clock, so that
 * whatever is queued may leave at every tick the benchmark runs.
 */
export function benchHost(name: "moesif" | "noop", config: object, answer = 201, clock?: () => number, bytes?: Buffer, rules: unknown[] = []): { host: KongWasmHost; batches: Buffer[] } {
  const batches: Buffer[] = [];
  let skewMs = 0;
  const host = new KongWasmHost(bytes ?? wasm(name), [{ name, config: JSON.stringify(config) }], {
    autoTick: false, timeHostCalls: true, clientBodyBufferSize: 1024 * 1024, clock: clock ?? (() => Date.now() + skewMs),
    dispatchStub: (call) => {
      const path = call.headers.find(([k]) => k === ":path")?.[1].toString() ?? "";
      if (path.endsWith("/v1/rules")) return { status: 200, headers: [["x-moesif-rules-tag", Buffer.from("r1")]], body: Buffer.from(JSON.stringify(rules)) };
      if (call.body.length > 0) batches.push(call.body);
      return { status: answer, headers: [["x-moesif-config-etag", Buffer.from("e1")]], body: Buffer.from(call.body.length > 0 ? "{}" : '{"sample_rate":100}') };
    },
  });
  host.start();
  if (!clock) {
    const tick = host.tickAll.bind(host);
    host.tickAll = () => {
      skewMs += 1000;
      tick();
    };
  }
  return { host, batches };
}

/**
 * Ticks until a tick sends nothing more: from Kong 3.7 a root has one call in flight at a time (the
 * config and rules fetches first), and dispatches here are answered at once.
 */
export async function drain(host: KongWasmHost): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const calls = host.calls.length;
    host.tickAll();
    await host.settle();
    if (host.calls.length === calls) return;
  }
}

/** Drives `n` calls of a scenario and splits the time into the request path and the deferred work. */
export async function measure(host: KongWasmHost, s: Scenario, n: number, tickEvery = 100): Promise<PhaseCost> {
  const cost: PhaseCost = { requestPathNs: 0, requestPathWasmNs: 0, requestPathHostNs: 0, deferredNs: 0, deferredWasmNs: 0, deferredHostNs: 0, requests: n };
  const now = process.hrtime.bigint;
  // Time inside wasm, minus the host functions it called.
  const own = () => host.wasmNs - host.hostNs;
  for (let i = 0; i < n; i++) {
    const state = requestState(s, i, Date.now());
    let o0 = own();
    let h0 = host.hostNs;
    let t0 = now();
    const stream = host.newStream(state);
    stream.requestHeaders();
    if (state.requestBody) stream.requestBody();
    stream.responseHeaders();
    state.headersSent = true;
    for (const chunk of s.responseChunks) stream.responseBody(chunk, false);
    stream.responseBody(null, true);
    let t1 = now();
    cost.requestPathNs += Number(t1 - t0);
    cost.requestPathWasmNs += Number(own() - o0);
    cost.requestPathHostNs += Number(host.hostNs - h0);
    o0 = own();
    h0 = host.hostNs;
    t0 = now();
    stream.finish();
    t1 = now();
    cost.deferredNs += Number(t1 - t0);
    cost.deferredWasmNs += Number(own() - o0);
    cost.deferredHostNs += Number(host.hostNs - h0);
    if ((i + 1) % tickEvery === 0 || i === n - 1) {
      // The tick and the dispatch answers are deferred work too.
      const r0 = host.rootNs;
      const w0 = own();
      const hh = host.hostNs;
      await drain(host);
      cost.deferredNs += Number(host.rootNs - r0);
      cost.deferredWasmNs += Number(own() - w0);
      cost.deferredHostNs += Number(host.hostNs - hh);
    }
  }
  if (host.traps.length > 0) throw new Error(`the filter trapped: ${host.traps[0].message}`);
  return cost;
}
