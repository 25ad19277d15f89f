// The golden corpus (tests/golden/corpus.ts) in Kong's real proxy-wasm host: nginx + ngx_wasm_module
// at each Kong pin. Every case's event is compared, field by field, with the very event the Node
// host's golden test expects (tests/golden/expected.ts). Normalised, and only these: times and
// generated ids (as the Node run does), and what plain nginx has no equivalent of because Kong's Lua
// makes it (its response headers, its route and service properties). Cases whose `host` options
// emulate something a real nginx cannot do are skipped, each with its reason.
//
// One nginx per version: each case is a server block of its own (its filter configuration, its
// application id, so that its event is told apart by the batch's X-Moesif-Application-Id), all in
// one worker and one filter instance, as Kong runs many filter chains. The upstream answers as the
// case says (it learns the case from a header nginx adds). nginx runs with the directives of Kong's
// proxy template that change what a filter sees (nginx.ts, kongTemplate).
//
// Beside them, a server with the probe filter (tests/host/probe, log-phases): what each step is told
// (end_of_stream, sizes, what a body read returns) in the real host and in the Node host, call for
// call, the same.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import { buildCorpus, GoldenCase } from "../golden/corpus.ts";
import { expectedEvent, normalise, upstreamHandler, upstreamOf } from "../golden/expected.ts";
import { Collector, MoesifEvent } from "../collector/collector.ts";
import { startUpstream, Upstream } from "../support/upstream.ts";
import { send } from "../support/harness.ts";
import { startNginx, versionsUnderTest, pinOf, Nginx, ServerSpec } from "./nginx.ts";
import { KongWasmHost } from "../host/kong-host.ts";
import { startGateway, Gateway } from "../host/gateway.ts";

const cases = await buildCorpus();

/** Why a case cannot run in a real nginx, or null. */
function skipReason(c: GoldenCase): string | null {
  for (const key of Object.keys(c.host ?? {})) {
    if (key === "clientBodyBufferSize") continue; // nginx's own client_body_buffer_size (below)
    if (key === "clock") return "pins the host's clock (a Node host option): a real nginx's clock cannot be pinned";
    return `the Node host option ${key} has no nginx equivalent`;
  }
  return null;
}

/** Kong's Lua, not NWM, adds these (kong/runloop/handler.lua, header_filter): plain nginx has none. */
const KONG_LUA_RESPONSE_HEADERS = ["via", "x-kong-upstream-latency", "x-kong-proxy-latency"];

/** The expected event as the real host can produce it: without what only Kong's Lua provides. */
function expectedInNginx(c: GoldenCase, kong: string): Record<string, any> {
  const e = expectedEvent(c, kong) as Record<string, any>;
  for (const k of KONG_LUA_RESPONSE_HEADERS) delete e.response.headers[k];
  // kong.route_id / service_id / route_name / service_name are Kong's Lua property getters
  // (kong/runloop/wasm.lua): an nginx without Kong answers NotFound.
  if (e.metadata?.kong) {
    delete e.metadata.kong;
    if (Object.keys(e.metadata).length === 0) delete e.metadata;
  }
  return e;
}

/** Calls whose steps the probe logs, each answered by the upstream in a way nginx handles alike every time. */
const PROBE_CALLS: { path: string; method?: string; body?: string }[] = [
  { path: "/probe/chunked" },
  { path: "/probe/length", method: "POST", body: "0123456789" },
  { path: "/probe/length-in-two-writes" },
  { path: "/probe/no-content" },
];

function probeUpstream(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.sendDate = false;
  switch (req.url) {
    case "/probe/chunked": // no length: the chunk, then nginx's empty last buffer
      res.writeHead(200, { "content-type": "text/plain" });
      return void res.end("abcdef");
    case "/probe/length":
      res.writeHead(200, { "content-type": "text/plain", "content-length": "6" });
      return void res.end("abcdef");
    case "/probe/length-in-two-writes": // nginx's proxy buffer holds both: one piece
      res.writeHead(200, { "content-type": "text/plain", "content-length": "6" });
      res.write("abc");
      return void setTimeout(() => res.end("def"), 50);
    default:
      res.writeHead(204);
      return void res.end();
  }
}

/** The probe's lines about the steps of one call, without nginx's context suffixes. */
const PROBE_STEP = /^(request_headers|request_body|response_headers|response_body) /;

/** Every leaf where two events differ, as "path: actual ≠ expected". */
function differences(actual: unknown, expected: unknown, at = "event"): string[] {
  if (typeof actual === "object" && actual !== null && typeof expected === "object" && expected !== null && Array.isArray(actual) === Array.isArray(expected)) {
    const keys = new Set([...Object.keys(actual), ...Object.keys(expected)]);
    return [...keys].flatMap((k) => differences((actual as any)[k], (expected as any)[k], `${at}.${k}`));
  }
  return JSON.stringify(actual) === JSON.stringify(expected) ? [] : [`${at}: ${JSON.stringify(actual)} (real host) ≠ ${JSON.stringify(expected)} (expected)`];
}

for (const kong of versionsUnderTest()) describe(`golden corpus in nginx + ngx_wasm_module ${pinOf(kong)} (Kong ${kong})`, () => {
  let collector: Collector;
  let upstream: Upstream;
  let nginx: Nginx;
  const run = cases.map((c, i) => ({ c, i })).filter(({ c }) => skipReason(c) === null);
  const answers = new Map<number, { status: number; body: string }>();
  const appId = (i: number) => `golden-${i}`;

  before(async () => {
    collector = await new Collector().start();
    upstream = await startUpstream((req, body, res) => {
      if (req.url?.startsWith("/probe/")) return probeUpstream(req, res);
      upstreamHandler(cases[Number(req.headers["x-golden-case"])])(req, body, res);
    });
    nginx = await startNginx({
      kong, upstream: upstream.url, kongTemplate: true, filters: [],
      servers: run.map(({ c, i }): ServerSpec => ({
        filters: [{ config: { application_id: appId(i), api_endpoint: collector.url, batch_max_wait: 100, ...c.config } }],
        location: [
          `proxy_set_header X-Golden-Case ${i};`,
          ...(c.host?.clientBodyBufferSize ? [`client_body_buffer_size ${c.host.clientBodyBufferSize};`] : []),
        ],
      })).concat([{ filters: [{ wasm: "build/probe.wasm", name: "probe", config: "log-phases" }], location: [] }]),
    });
    for (const [k, { c, i }] of run.entries()) {
      const r = c.request ?? {};
      const res = await send(nginx.servers[k].url, { method: r.method, path: r.path, headers: r.headers, body: r.body });
      answers.set(i, { status: res.status, body: res.body.toString("utf8").slice(0, 200) });
    }
    // Every case's event (or a timeout, which the cases then report one by one).
    const end = Date.now() + 15000;
    while (Date.now() < end && new Set(collector.batches.map((b) => b.headers["x-moesif-application-id"])).size < run.length) {
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    await nginx?.stop();
    await upstream?.close();
    await collector?.close();
  });

  test("what each step is told (end_of_stream, sizes, body reads): the Node host says what the real host says", async () => {
    const probeUrl = nginx.servers[run.length].url;
    const real = () => nginx.log().split("\n").filter((l) => l.includes("probe: ")).map((l) => l.replace(/^.*?probe: /, "").replace(/( while |, client: ).*$/, ""));
    const host = new KongWasmHost(readFileSync("build/probe.wasm"), [{ name: "probe", config: "log-phases" }], { autoTick: false, kongVersion: kong });
    host.start();
    const gateway: Gateway = await startGateway({ host, upstream: upstream.url });
    const node = () => host.logs.filter((l) => l.source === "filter" && l.message.startsWith("probe: ")).map((l) => l.message.slice(7));
    const until = async (lines: () => string[], n: number) => {
      const end = Date.now() + 10000;
      while (lines().filter((l) => l === "delete").length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    };
    try {
      for (const [k, c] of PROBE_CALLS.entries()) {
        const from = [real().length, node().length];
        await send(probeUrl, { method: c.method, path: c.path, body: c.body });
        await send(gateway.url, { method: c.method, path: c.path, body: c.body });
        await until(real, k + 1);
        await until(node, k + 1);
        const steps = (lines: string[]) => lines.filter((l) => PROBE_STEP.test(l));
        assert.ok(steps(real().slice(from[0])).length >= 3, `${c.path}: the real host's probe lines\n${real().slice(from[0]).join("\n")}`);
        assert.deepEqual(steps(node().slice(from[1])), steps(real().slice(from[0])), `${c.path}: the Node host (actual) and the real host (expected)`);
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
      const why = () => `(nginx in ${nginx.dir}, kept with NWM_KEEP=1; error.log's bad lines:\n${nginx.badLines().join("\n")})`;
      const answer = answers.get(i);
      assert.equal(answer?.status, upstreamOf(c).status, `the client's status: ${JSON.stringify(answer)} ${why()}`);
      const events = eventsOf(i);
      assert.equal(events.length, 1, `one event ${why()}`);
      const diffs = differences(normalise(events[0], false), expectedInNginx(c, kong));
      assert.deepEqual(diffs, [], `the real host's event differs:\n${diffs.join("\n")}`);
      const raw = collector.batches.filter((b) => b.headers["x-moesif-application-id"] === appId(i)).map((b) => b.body.toString("utf8")).join("\n");
      for (const r of c.raw ?? []) assert.ok(raw.includes(r), `the batch does not contain ${r}\n${raw}`);
      // c.reads counts get_buffer_bytes calls, which only the Node host can count.
    });
  });

  test("every event fits the filter's own schema; error.log has no trap, crash or error but the spilled body's", () => {
    assert.deepEqual(collector.filterViolations.map((v) => v.problems), []);
    assert.deepEqual(collector.rejected, []);
    assert.equal(nginx.crashes(), 0, nginx.badLines().join("\n"));
    // NWM's own line for the body nginx wrote to a file (ngx_proxy_wasm_host.c:74-81 at 9136e463).
    const spilled = run.filter(({ c }) => c.host?.clientBodyBufferSize).length;
    const bad = nginx.badLines();
    assert.equal(bad.filter((l) => /\[error\].*cannot read request body buffered to file/.test(l)).length, spilled, bad.join("\n"));
    assert.deepEqual(bad.filter((l) => !/cannot read request body buffered to file/.test(l)), []);
  });
});
