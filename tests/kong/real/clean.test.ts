// A clean run in a real Kong: varied traffic leaves error.log without an error, a trap or a crashed
// worker, with the default configuration and with `debug: true`; and a request past the 100-entry
// header map Kong's Wasm host hands a filter passes through whole while its event says what the
// filter was not given.
//
// Metrics: the configuration has no metrics option (kong/moesif.meta.json). The filter exports
// them by itself where the host implements them (Kong 3.8+, README "Counters"; before 3.8 the four
// metric functions trap), and the `debug: true` route adds the per-event log lines and the stats
// counters' line. "No trap line on 3.4–3.7" is the check that it never calls them there.
//
// Before Kong 3.8 (ngx_wasm_module before 3dbf52ae) a request whose body nginx cannot read in one go
// hangs with any proxy-wasm filter, the no-op one included: pinned below. So before 3.8 the
// traffic's request bodies stay small enough (under 64 KB) to reach nginx whole; from 3.8 a 300 KB
// one is sent too.
//
// One Kong, one worker, Kong's defaults but the request body buffer kong/kong.conf ships (100k, so
// that bodies up to the default request_max_body_size_limit stay in memory): a route per
// configuration (/default, /debug) and one with the no-op filter (/noop), each cutting its prefix
// (strip_path) so that the upstream sees the call's own path.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import zlib from "node:zlib";
import { Collector, MoesifEvent } from "../../collector/collector.ts";
import { startUpstream, Upstream } from "../../support/upstream.ts";
import { send, RawResponse } from "../../support/harness.ts";
import { startKong, Kong, BUILT } from "../launcher.ts";
import { filterLines } from "../logscan.ts";
import { versionAtLeast } from "../version.ts";
import { SKIP, KONG_BIN, KONG_VERSION, PROFILE, until } from "./suite.ts";

const CONFIGS: Record<string, Record<string, unknown>> = { default: {}, debug: { debug: true } };

const gzJson = zlib.gzipSync(JSON.stringify({ items: Array.from({ length: 50 }, (_, i) => ({ id: i, name: `item ${i}` })) }));
const bigJson = JSON.stringify({ rows: Array.from({ length: 1000 }, (_, i) => ({ id: i, text: "abcdefghijklmnopqrstuvwxyz" })) }); // 46 KB
const hugeText = Buffer.alloc(300 * 1024, "z"); // over request_max_body_size_limit and the 100k buffer
const largeResponse = Buffer.alloc(1024 * 1024, "r");

interface Call {
  name: string;
  method?: string;
  path: string;
  headers?: [string, string][];
  body?: Buffer | string;
  status: number;
  /** The first Kong version the call is sent to. */
  from?: string;
}

// Each call's path is unique, so that its event is found by its URI.
const CALLS: Call[] = [
  { name: "GET", path: "/items?limit=3", status: 200 },
  { name: "HEAD", method: "HEAD", path: "/items/head", status: 200 },
  { name: "JSON POST", method: "POST", path: "/items/post", headers: [["Content-Type", "application/json"]], body: '{"name":"widget","tags":["a","b"]}', status: 201 },
  { name: "gzip request body", method: "POST", path: "/items/gzip", headers: [["Content-Type", "application/json"], ["Content-Encoding", "gzip"]], body: gzJson, status: 201 },
  { name: "gzip response", path: "/gzip-response", status: 200 },
  { name: "46 KB JSON request body", method: "POST", path: "/items/big", headers: [["Content-Type", "application/json"]], body: bigJson, status: 201 },
  { name: "300 KB request body (over the limit, spilled to a file by nginx)", method: "POST", path: "/upload/huge", headers: [["Content-Type", "text/plain"]], body: hugeText, status: 201, from: "3.8.0" },
  { name: "1 MB chunked response", path: "/large-response", status: 200 },
  { name: "404 from the upstream", path: "/missing", status: 404 },
  { name: "DELETE without a body", method: "DELETE", path: "/items/7", status: 204 },
];

const upstreamHandler = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => {
  const url = req.url ?? "/";
  const json = (status: number, value: unknown) => {
    const text = JSON.stringify(value);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(req.method === "HEAD" ? undefined : text);
  };
  if (url === "/gzip-response") {
    res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip", "content-length": gzJson.length });
    return res.end(gzJson);
  }
  if (url === "/large-response") {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    for (let i = 0; i < largeResponse.length; i += 64 * 1024) res.write(largeResponse.subarray(i, i + 64 * 1024));
    return res.end();
  }
  if (url === "/many-response-headers") {
    res.writeHead(200, ["Content-Type", "application/json", ...Array.from({ length: 100 }, (_, i) => [`r${i}`, "v"]).flat()]);
    return res.end('{"ok":true}');
  }
  if (url === "/missing") return json(404, { error: "not found" });
  if (req.method === "DELETE") {
    res.writeHead(204);
    return res.end();
  }
  if (req.method === "POST") return json(201, { received: body.length });
  return json(200, { ok: true, path: url });
};

const short = (n: number, prefix = "h"): [string, string][] => Array.from({ length: n }, (_, i) => [`${prefix}${i}`, "v"]);

const kong = KONG_VERSION;
describe(`a clean run in Kong ${KONG_VERSION}`, { skip: SKIP }, () => {
  let collector: Collector;
  let upstream: Upstream;
  let gw: Kong;
  const seen: { url: string; headers: http.IncomingHttpHeaders }[] = [];
  const calls = CALLS.filter((c) => !c.from || versionAtLeast(kong, c.from));
  const byApp = (app: string): MoesifEvent[] => collector.batches.filter((b) => b.headers["x-moesif-application-id"] === app).flatMap((b) => b.events);
  const urlOf = (name: string) => `${gw.proxyUrl}/${name}`;

  before(async () => {
    collector = await new Collector().start();
    upstream = await startUpstream((req, body, res) => {
      seen.push({ url: req.url ?? "", headers: req.headers });
      upstreamHandler(req, body, res);
    });
    gw = await startKong({
      bin: KONG_BIN, version: KONG_VERSION, filters: [BUILT.moesif(), BUILT.noop()],
      extra: { nginx_http_client_body_buffer_size: "100k" },
      config: {
        services: [{
          name: "clean", url: upstream.url,
          routes: [
            ...Object.entries(CONFIGS).map(([name, config]) => ({
              name, paths: [`/${name}`], strip_path: true,
              filters: [{ name: "moesif", config: { application_id: `clean-${name}`, api_endpoint: collector.url, batch_max_wait: 100, ...config } }],
            })),
            { name: "noop", paths: ["/noop"], strip_path: true, filters: [{ name: "noop" }] },
          ],
        }],
      },
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
    await collector?.close();
  });

  test("GET, HEAD, JSON and gzip bodies, large bodies both ways, 404 and 204: every call answered and captured, with either configuration", async () => {
    const names = Object.keys(CONFIGS);
    for (const [k, name] of names.entries()) {
      for (const c of calls) {
        const r: RawResponse = await send(urlOf(name), { method: c.method, path: c.path, headers: c.headers, body: c.body });
        assert.equal(r.status, c.status, `${name}: ${c.name}`);
        if (c.path === "/large-response") assert.equal(r.body.length, largeResponse.length, "the whole response reached the client");
      }
    }
    await collector.waitForEvents(names.length * calls.length, 15000);
    for (const name of names) {
      const events = byApp(`clean-${name}`);
      assert.deepEqual(events.map((e) => new URL(e.request.uri).pathname + new URL(e.request.uri).search).sort(), calls.map((c) => `/${name}${c.path}`).sort(), name);
      const post = events.find((e) => e.request.uri.endsWith("/items/post"))!;
      assert.deepEqual(post.request.body, { name: "widget", tags: ["a", "b"] });
      const gz = events.find((e) => e.request.uri.endsWith("/items/gzip"))!;
      assert.equal((gz.request.body as any)?.items?.length, 50, "the gzip'd request body, decompressed");
      const gzr = events.find((e) => e.request.uri.endsWith("/gzip-response"))!;
      assert.equal((gzr.response.body as any)?.items?.length, 50, "the gzip'd response body, decompressed");
      const big = events.find((e) => e.request.uri.endsWith("/items/big"))!;
      assert.equal((big.request.body as any)?.rows?.length, 1000, "the 46 KB body, read from memory");
      const huge = events.find((e) => e.request.uri.endsWith("/upload/huge"));
      if (huge) {
        assert.equal(huge.request.body, undefined);
        assert.match(String((huge.metadata as any)?.capture?.request_body), /^not captured: the body \(307200 bytes\) is over request_max_body_size_limit/);
      }
    }
    assert.deepEqual(collector.rejected, []);
    assert.deepEqual(collector.filterViolations.map((v) => v.problems), []);
    if (!PROFILE.rulesLoad) {
      // Said once per filter configuration (root context): two here.
      assert.equal(filterLines(gw.log(), "warn").filter((l) => l.includes("governance rules from /v1/rules are off")).length, names.length);
    }
    assert.ok(filterLines(gw.log(), "info").some((l) => /moesif: /.test(l)), "debug: true logs at info");
  });

  test("120 request headers pass through whole; the event has the 96 NWM hands over and says so", async () => {
    const before = byApp("clean-default").length;
    const r = await send(urlOf("default"), { path: "/many/120", headers: short(120) });
    assert.equal(r.status, 200);
    const up = seen.find((s) => s.url === "/many/120");
    assert.ok(up, "the upstream got the call");
    for (let i = 0; i < 120; i++) assert.equal(up.headers[`h${i}`], "v", `the upstream got h${i}`);
    assert.equal((await send(urlOf("default"), { path: "/many-response-headers" })).status, 200);
    await until(() => byApp("clean-default").length >= before + 2, 15000);
    const events = byApp("clean-default");
    const e = events.find((x) => x.request.uri.endsWith("/many/120"))!;
    assert.ok(e, "the event of the 120-header call");
    // The client sent Host and Connection besides h0…h119: 122, of which the map Kong's Wasm host
    // (ngx_wasm_module) hands over holds 96 (100 entries, its 4 pseudo-headers first; it logs the cut).
    const names = Object.keys(e.request.headers!);
    assert.equal(names.length, 96 + 1, "96 headers and the transaction id the filter added");
    assert.deepEqual(names.slice(0, 3), ["host", "h0", "h1"]);
    assert.deepEqual(e.metadata, { capture: { request_headers: "truncated: 96 of 122 headers (Kong hands a filter at most 100, its own pseudo-headers included)" } });
    const many = events.find((x) => x.request.uri.endsWith("/many-response-headers"))!;
    assert.ok(many, "the event of the 100-response-header call");
    assert.equal(many.response.status, 200);
    assert.equal((many.response.headers as Record<string, string>)["content-type"], "application/json");
    assert.match(String((many.metadata as any)?.capture?.response_headers), /^truncated: \d+ of 10\d headers/);
    assert.ok(gw.log().includes("marshalled map truncated to 100 elements"), "Kong's Wasm host says what it cut (at warn)");
  });

  const fixed = PROFILE.lateBodyAnswered;
  test(fixed ? "a request body that reaches nginx in two goes is answered"
    : "a request body that reaches nginx in two goes hangs the request, with the no-op filter too (NWM before 3dbf52ae)", async () => {
    // The head and half the body, then the rest 200 ms later: nginx's first read of the body ends
    // in EAGAIN. Before 3dbf52ae (NWM 96b4e27e, Kong 3.8) the content phase is never resumed after
    // it; ngx_http_wasm_content (src/http/ngx_http_wasm_module.c) gained the req_body_waited path there.
    const split = (prefix: string) => new Promise<string>((resolve) => {
      const s = net.connect(gw.proxyPort, "127.0.0.1", () => {
        s.write(`POST /${prefix}/split HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: text/plain\r\nContent-Length: 200\r\nConnection: close\r\n\r\n` + "x".repeat(100));
        setTimeout(() => s.write("y".repeat(100)), 200);
      });
      let answer = "";
      s.on("data", (d) => (answer += d));
      s.on("end", () => resolve(answer.split("\r\n")[0]));
      s.on("error", () => resolve("error"));
      // A hang is a hang: 3 s is only how long this waits to call it one.
      setTimeout(() => (s.destroy(), resolve("no answer")), fixed ? 15000 : 3000);
    });
    const [moesif, noop] = await Promise.all([split("default"), split("noop")]);
    if (fixed) {
      assert.equal(moesif, "HTTP/1.1 201 Created");
      assert.equal(noop, "HTTP/1.1 201 Created");
    } else {
      assert.equal(noop, "no answer", "Kong's Wasm host itself: the no-op filter hangs too");
      assert.equal(moesif, "no answer");
    }
  });

  test("error.log: no error, no trap, no crashed worker", async () => {
    // A few ticks more, so that what the last batches' answers did is in the log too.
    await new Promise((res) => setTimeout(res, 300));
    assert.deepEqual(gw.workerExits(), []);
    assert.deepEqual(gw.badLines(), []);
  });
});
