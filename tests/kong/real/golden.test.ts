// The golden corpus (tests/golden/corpus.ts) in a real Kong: every case's event, field by field,
// against the very event the Node host's golden test expects (tests/golden/expected.ts). What only
// Kong can decide is normalised, and only that: times and generated ids (as the Node run does), the
// values of the response headers Kong's Lua adds (below), and Kong's own route and service ids.
//
// One Kong, one worker: each case is a route of its own on the one service, with a filter chain
// holding that case's configuration and application id (so that its event is told apart by the
// batch's X-Moesif-Application-Id). The client's `X-Golden-Case: <i>` header picks the route (a
// route matches on headers: kong/db/schema/entities/routes.lua, `headers`) and tells the upstream
// which answer to give; it is taken out of the event before the comparison.
//
// Beside them, a route with the probe filter (tests/host/probe, log-phases): what each step is told
// (end_of_stream, sizes, what a body read returns) in Kong and in the Node host, call for call, the same.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import { buildCorpus, GoldenCase } from "../../golden/corpus.ts";
import { expectedEvent, normalise, upstreamHandler, upstreamOf } from "../../golden/expected.ts";
import { Collector, MoesifEvent } from "../../collector/collector.ts";
import { startUpstream, Upstream } from "../../support/upstream.ts";
import { send } from "../../support/harness.ts";
import { KongWasmHost } from "../../host/kong-host.ts";
import { startGateway, Gateway } from "../../host/gateway.ts";
import { startKong, Kong, BUILT } from "../launcher.ts";
import { uuidFor, RouteSpec } from "../declarative.ts";
import { SKIP, KONG_BIN, KONG_VERSION, PROFILE, until } from "./suite.ts";

const cases = await buildCorpus();
const CASE_HEADER = "x-golden-case";

/** Why a case cannot run in Kong, or null. */
function skipReason(c: GoldenCase): string | null {
  for (const key of Object.keys(c.host ?? {})) {
    if (key === "clock") return "pins the host's clock (a Node host option): a real Kong's clock cannot be pinned";
    if (key === "clientBodyBufferSize") return "needs its own client_body_buffer_size: Kong sets one for the whole node (nginx_http_client_body_buffer_size)";
    return `the Node host option ${key} has no Kong equivalent`;
  }
  return null;
}

/**
 * Response headers Kong's Lua adds in its header filter (kong/runloop/handler.lua at 3.9.3: Via,
 * "1.1 kong/<version>", lines 1551-1570; Server when the upstream sends none, 1573-1580;
 * X-Kong-Request-Id, 1597-1604, from 3.5; the latency headers), with the form each value takes.
 * Whether the filter sees them depends on the order of Kong's header filter and ngx_wasm_module's:
 * the Node host says it does (tests/golden/expected.ts), and this is where that is checked. Their values
 * depend on the release and the moment; where the event has one of the form, it is compared as
 * "<kong>", and an X-Kong-Request-Id the Node host does not make is taken out.
 */
const KONG_HEADERS: Record<string, RegExp> = {
  via: /kong\/\d+\.\d+/,
  server: /^kong\/\d+\.\d+/,
  "x-kong-upstream-latency": /^\d+$/,
  "x-kong-proxy-latency": /^\d+$/,
  "x-kong-request-id": /^[0-9a-f]{8,}$/,
};

const routeName = (i: number) => `golden-${i}`;
const SERVICE = "golden";

/** Kong's route and service, as the filter reports them (README "What it captures": ids 3.6+, names 3.9+). */
function kongMetadata(i: number): Record<string, string> | undefined {
  if (!PROFILE.routeIds) return undefined;
  const m: Record<string, string> = { route_id: uuidFor("route", routeName(i)), service_id: uuidFor("service", SERVICE) };
  if (PROFILE.routeNames) Object.assign(m, { route_name: routeName(i), service_name: SERVICE });
  return m;
}

function expectedInKong(c: GoldenCase, i: number): Record<string, any> {
  const e = expectedEvent(c, KONG_VERSION) as Record<string, any>;
  const kong = kongMetadata(i);
  const metadata = { ...(e.metadata ?? {}) };
  delete metadata.kong;
  if (kong) metadata.kong = kong;
  if (Object.keys(metadata).length) e.metadata = metadata;
  else delete e.metadata;
  for (const k of Object.keys(KONG_HEADERS)) if (e.response.headers[k] !== undefined) e.response.headers[k] = "<kong>";
  return e;
}

function actualInKong(event: MoesifEvent): Record<string, any> {
  const e = normalise(event, false);
  delete e.request.headers[CASE_HEADER];
  for (const [k, form] of Object.entries(KONG_HEADERS)) {
    const v = e.response.headers[k];
    if (typeof v === "string" && form.test(v)) e.response.headers[k] = "<kong>";
  }
  return e;
}

const PROBE_CALLS: { path: string; method?: string; body?: string }[] = [
  { path: "/probe/chunked" },
  { path: "/probe/length", method: "POST", body: "0123456789" },
  { path: "/probe/length-in-two-writes" },
  { path: "/probe/no-content" },
];

function probeUpstream(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.sendDate = false;
  switch (req.url) {
    case "/probe/chunked":
      res.writeHead(200, { "content-type": "text/plain" });
      return void res.end("abcdef");
    case "/probe/length":
      res.writeHead(200, { "content-type": "text/plain", "content-length": "6" });
      return void res.end("abcdef");
    case "/probe/length-in-two-writes":
      res.writeHead(200, { "content-type": "text/plain", "content-length": "6" });
      res.write("abc");
      return void setTimeout(() => res.end("def"), 50);
    default:
      res.writeHead(204);
      return void res.end();
  }
}

const PROBE_STEP = /^(request_headers|request_body|response_headers|response_body) /;

function differences(actual: unknown, expected: unknown, at = "event"): string[] {
  if (typeof actual === "object" && actual !== null && typeof expected === "object" && expected !== null && Array.isArray(actual) === Array.isArray(expected)) {
    const keys = new Set([...Object.keys(actual), ...Object.keys(expected)]);
    return [...keys].flatMap((k) => differences((actual as any)[k], (expected as any)[k], `${at}.${k}`));
  }
  return JSON.stringify(actual) === JSON.stringify(expected) ? [] : [`${at}: ${JSON.stringify(actual)} (Kong) ≠ ${JSON.stringify(expected)} (expected)`];
}

describe(`golden corpus in Kong ${KONG_VERSION}`, { skip: SKIP }, () => {
  let collector: Collector;
  let upstream: Upstream;
  let kong: Kong;
  const run = cases.map((c, i) => ({ c, i })).filter(({ c }) => skipReason(c) === null);
  const answers = new Map<number, { status: number; body: string }>();
  const appId = (i: number) => `golden-${i}`;

  before(async () => {
    collector = await new Collector().start();
    upstream = await startUpstream((req, body, res) => {
      if (req.url?.startsWith("/probe/")) return probeUpstream(req, res);
      upstreamHandler(cases[Number(req.headers[CASE_HEADER])])(req, body, res);
    });
    const routes: RouteSpec[] = run.map(({ c, i }) => ({
      name: routeName(i), paths: ["/"], headers: { [CASE_HEADER]: [String(i)] },
      filters: [{ name: "moesif", config: { application_id: appId(i), api_endpoint: collector.url, batch_max_wait: 100, ...c.config } }],
    }));
    routes.push({ name: "probe", paths: ["/probe/"], filters: [{ name: "probe", config: "log-phases" }] });
    kong = await startKong({
      bin: KONG_BIN, version: KONG_VERSION, filters: [BUILT.moesif(), BUILT.probe()],
      config: { services: [{ name: SERVICE, url: upstream.url, routes }] },
    });
    for (const { c, i } of run) {
      const r = c.request ?? {};
      const res = await send(kong.proxyUrl, { method: r.method, path: r.path, headers: [...(r.headers ?? []), [CASE_HEADER, String(i)]], body: r.body });
      answers.set(i, { status: res.status, body: res.body.toString("utf8").slice(0, 200) });
    }
    await until(() => new Set(collector.batches.map((b) => b.headers["x-moesif-application-id"])).size >= run.length, 15000);
  });

  after(async () => {
    await kong?.stop();
    await upstream?.close();
    await collector?.close();
  });

  test("what each step is told (end_of_stream, sizes, body reads): the Node host says what Kong says", async () => {
    const real = () => kong.log().split("\n").filter((l) => l.includes("probe: ")).map((l) => l.replace(/^.*?probe: /, "").replace(/( while |, client: ).*$/, ""));
    const host = new KongWasmHost(readFileSync("build/probe.wasm"), [{ name: "probe", config: "log-phases" }], { autoTick: false, kongVersion: KONG_VERSION });
    host.start();
    const gateway: Gateway = await startGateway({ host, upstream: upstream.url });
    const node = () => host.logs.filter((l) => l.source === "filter" && l.message.startsWith("probe: ")).map((l) => l.message.slice(7));
    const deletes = (lines: () => string[], n: number) => until(() => lines().filter((l) => l === "delete").length >= n, 10000, 20);
    try {
      for (const [k, c] of PROBE_CALLS.entries()) {
        const from = [real().length, node().length];
        await send(kong.proxyUrl, { method: c.method, path: c.path, body: c.body });
        await send(gateway.url, { method: c.method, path: c.path, body: c.body });
        await deletes(real, k + 1);
        await deletes(node, k + 1);
        const steps = (lines: string[]) => lines.filter((l) => PROBE_STEP.test(l));
        assert.ok(steps(real().slice(from[0])).length >= 3, `${c.path}: Kong's probe lines\n${real().slice(from[0]).join("\n")}`);
        assert.deepEqual(steps(node().slice(from[1])), steps(real().slice(from[0])), `${c.path}: the Node host (actual) and Kong (expected)`);
      }
    } finally {
      host.stop();
      await gateway.close();
    }
  });

  const eventsOf = (i: number): MoesifEvent[] => collector.batches.filter((b) => b.headers["x-moesif-application-id"] === appId(i)).flatMap((b) => b.events);

  cases.forEach((c, i) => {
    const skip = skipReason(c);
    test(c.name, skip ? { skip } : {}, () => {
      const why = () => `(Kong in ${kong.dir}, kept with KONG_KEEP=1; error.log's bad lines:\n${kong.badLines().join("\n")})`;
      const answer = answers.get(i);
      assert.equal(answer?.status, upstreamOf(c).status, `the client's status: ${JSON.stringify(answer)} ${why()}`);
      const events = eventsOf(i);
      assert.equal(events.length, 1, `one event ${why()}`);
      const diffs = differences(actualInKong(events[0]), expectedInKong(c, i));
      assert.deepEqual(diffs, [], `Kong's event differs:\n${diffs.join("\n")}`);
      const raw = collector.batches.filter((b) => b.headers["x-moesif-application-id"] === appId(i)).map((b) => b.body.toString("utf8")).join("\n");
      for (const r of c.raw ?? []) assert.ok(raw.includes(r), `the batch does not contain ${r}\n${raw}`);
    });
  });

  test("every event fits the filter's own schema; error.log has no error, trap or crashed worker", () => {
    assert.deepEqual(collector.filterViolations.map((v) => v.problems), []);
    assert.deepEqual(collector.rejected, []);
    assert.deepEqual(kong.workerExits(), []);
    assert.deepEqual(kong.badLines(), []);
  });
});
