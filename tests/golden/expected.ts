// The golden corpus's expectations, shared by the Node host's run (golden.test.ts) and the real
// Kong's (tests/kong/real/golden.test.ts): how the upstream answers each case, and the exact event the
// collector must receive, with what changes from run to run normalised.
import assert from "node:assert/strict";
import { Handler } from "../support/upstream.ts";
import { GoldenCase } from "./corpus.ts";
import { versionAtLeast } from "../host/nwm.ts";

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DEFAULT_UPSTREAM = { status: 200, headers: [["Content-Type", "application/json"]] as [string, string][], chunks: ['{"ok":true}'] as (Buffer | string)[], chunked: false };

export function upstreamOf(c: GoldenCase) {
  return { ...DEFAULT_UPSTREAM, ...c.upstream };
}

export function upstreamHandler(c: GoldenCase): Handler {
  const u = upstreamOf(c);
  return (_req, _body, res) => {
    res.sendDate = false;
    const flat: string[] = [];
    for (const [k, v] of u.headers) flat.push(k, v);
    const total = u.chunks.reduce((n, x) => n + Buffer.byteLength(x), 0);
    if (!u.chunked && u.chunks.length > 0) flat.push("Content-Length", String(total));
    res.writeHead(u.status, flat);
    // Chunks leave a few ms apart, so the gateway sees them as separate body_filter calls.
    const chunks = [...u.chunks];
    const next = () => {
      const chunk = chunks.shift();
      if (chunk === undefined) return res.end();
      res.write(chunk);
      setTimeout(next, 5);
    };
    next();
  };
}

function setHeader(map: Record<string, string>, name: string, value: string) {
  const k = name.toLowerCase();
  map[k] = map[k] === undefined ? value : `${map[k]}, ${value}`;
}

function patch(map: Record<string, string>, p: Record<string, string | null> | undefined) {
  for (const [k, v] of Object.entries(p ?? {})) {
    if (v === null) delete map[k];
    else map[k] = v;
  }
}

export function expectedEvent(c: GoldenCase, kongVersion: string): Record<string, unknown> {
  const e = c.expect;
  const u = upstreamOf(c);
  const txid = e.transaction_id === undefined ? "<txid>" : e.transaction_id;

  const reqHeaders: Record<string, string> = {};
  const given = c.request?.headers ?? [];
  if (!given.some(([k]) => k.toLowerCase() === "host")) reqHeaders.host = "api.example.com";
  for (const [k, v] of given) setHeader(reqHeaders, k, v.toString());
  const reqBody = c.request?.body;
  if (reqBody !== undefined && !given.some(([k]) => k.toLowerCase() === "content-length")) {
    reqHeaders["content-length"] = String(Buffer.byteLength(reqBody));
  }
  reqHeaders.connection = "close";
  if (txid !== null && !given.some(([k]) => k.toLowerCase() === "x-moesif-transaction-id")) reqHeaders["x-moesif-transaction-id"] = txid;
  patch(reqHeaders, e.requestHeaders);

  const resHeaders: Record<string, string> = {};
  for (const [k, v] of u.headers) setHeader(resHeaders, k, v);
  const total = u.chunks.reduce((n, x) => n + Buffer.byteLength(x), 0);
  // nginx's own headers, which Kong's map carries as shims: the length, or chunked when there is
  // none, a 204 included (NWM's shim runs before nginx clears a 204's length: kong-host.ts,
  // shimHeaders); Connection as nginx decided it (the test client asks to close). No Server or Date:
  // Kong passes the upstream's (proxy_pass_header), and nginx's proxy module marks them present
  // but empty when the upstream sends none, so neither nginx nor NWM adds its own.
  if (!u.chunked && u.chunks.length > 0) resHeaders["content-length"] = String(total);
  else resHeaders["transfer-encoding"] = "chunked";
  resHeaders.connection = "close";
  resHeaders["x-kong-upstream-latency"] = "<ms>";
  resHeaders["x-kong-proxy-latency"] = "0";
  resHeaders.via = `1.1 kong/${kongVersion}`;
  if (txid !== null) resHeaders["x-moesif-transaction-id"] = txid;
  patch(resHeaders, e.responseHeaders);

  const isDefaultBody = Buffer.concat(u.chunks.map((x) => Buffer.from(x))).toString() === '{"ok":true}' && /json/.test(resHeaders["content-type"] ?? "");
  const responseBody = e.responseBody !== undefined ? e.responseBody : isDefaultBody ? { body: { ok: true }, transfer_encoding: "json" } : null;

  const request: Record<string, unknown> = {
    time: e.requestTime ?? "<time>",
    uri: e.uri ?? `http://api.example.com${c.request?.path ?? "/"}`,
    verb: e.verb ?? c.request?.method ?? "GET",
  };
  if (e.api_version !== undefined) request.api_version = e.api_version;
  const ip = e.ip_address === undefined ? "127.0.0.1" : e.ip_address;
  if (ip !== null) request.ip_address = ip;
  request.headers = reqHeaders;
  if (e.requestBody) Object.assign(request, e.requestBody);

  const response: Record<string, unknown> = { time: e.responseTime ?? "<time>", status: e.status ?? u.status, headers: resHeaders };
  if (responseBody) Object.assign(response, responseBody);

  const event: Record<string, unknown> = { request, response };
  for (const k of ["user_id", "company_id", "session_token"] as const) if (e[k] !== undefined) event[k] = e[k];
  if (txid !== null) event.transaction_id = txid;
  event.direction = "Incoming";
  event.weight = 1;
  const metadata = structuredClone(e.metadata ?? {}) as Record<string, any>;
  // Kong provides route and service ids from 3.6 and their names from 3.9.
  if (metadata.kong) {
    if (!versionAtLeast(kongVersion, "3.9.0")) {
      delete metadata.kong.route_name;
      delete metadata.kong.service_name;
    }
    if (!versionAtLeast(kongVersion, "3.6.0")) delete metadata.kong;
  }
  if (Object.keys(metadata).length > 0) event.metadata = metadata;
  return event;
}

/** Replaces what changes from run to run: unpinned times, the upstream latency, a generated id. */
export function normalise(event: any, pinnedTime: boolean): any {
  const e = structuredClone(event);
  for (const side of [e.request, e.response]) {
    assert.match(side.time, ISO);
    if (!pinnedTime) side.time = "<time>";
  }
  if (e.response.headers["x-kong-upstream-latency"] !== undefined) {
    assert.match(e.response.headers["x-kong-upstream-latency"], /^\d+$/);
    e.response.headers["x-kong-upstream-latency"] = "<ms>";
  }
  if (typeof e.transaction_id === "string" && UUID.test(e.transaction_id)) {
    const id = e.transaction_id;
    e.transaction_id = "<txid>";
    for (const h of [e.request.headers, e.response.headers]) if (h["x-moesif-transaction-id"] === id) h["x-moesif-transaction-id"] = "<txid>";
  }
  return e;
}
