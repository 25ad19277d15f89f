// The filter on every Kong version the test host copies (one per ngx_wasm_module pin): no trap
// whatever a client or upstream sends, metrics only where Kong implements them, header names in
// the case peers send them, and configuration Kong could never honour refused up front.
import { test, describe, afterEach } from "node:test";
import assert from "node:assert/strict";
import { harness, Harness, send, logsAt, closeChecked, assertHostClean } from "../support/harness.ts";
import { KONG_VERSIONS, versionAtLeast } from "../host/nwm.ts";

let h: Harness | null = null;
afterEach(async () => {
  const done = h;
  h = null;
  await closeChecked(done);
});

const short = (n: number, prefix = "h"): [string, string][] => Array.from({ length: n }, (_, i) => [`${prefix}${i}`, "v"]);

for (const kongVersion of KONG_VERSIONS) describe(`on Kong ${kongVersion}`, () => {
  test("97 to 150 short request headers and 100 short response headers: no trap, and the next 100 calls are exact", async () => {
    h = await harness({
      host: { kongVersion },
      upstream: (req, _body, res) => {
        res.sendDate = false;
        const many = req.url === "/many-response-headers";
        res.writeHead(200, ["Content-Type", "application/json", ...(many ? short(100, "r").flat() : [])]);
        res.end("{\"ok\":true}");
      },
    });
    for (const n of [97, 100, 120, 150]) {
      const r = await send(h.gateway.url, { path: `/many/${n}`, headers: short(n) });
      assert.equal(r.status, 200, `${n} headers`);
    }
    assert.equal((await send(h.gateway.url, { path: "/many-response-headers" })).status, 200);
    // Kong wrote past the blocks it asked for: the test host copies that, and the filter survived it.
    assert.ok(h.host.mapOverflows >= 4, `${h.host.mapOverflows} maps overflowed`);
    for (let i = 0; i < 100; i++) {
      const r = await send(h.gateway.url, { path: `/after/${i}`, headers: [["X-Call", String(i)]] });
      assert.equal(r.status, 200);
    }
    await h.flush();
    await h.flush();
    assertHostClean(h.host);
    const events = h.collector.events;
    assert.equal(events.length, 105);
    // The client sent Host and Connection besides ours: Kong hands over 96 of them.
    for (const [i, n] of [97, 100, 120, 150].entries()) {
      const e = events[i];
      assert.equal(e.request.uri, `http://api.example.com/many/${n}`);
      const names = Object.keys(e.request.headers!);
      assert.equal(names.length, 96 + 1, "96 headers and the transaction id the filter added");
      assert.deepEqual(names.slice(0, 3), ["host", "h0", "h1"]);
      assert.deepEqual(e.metadata, { capture: { request_headers: `truncated: 96 of ${n + 2} headers (Kong hands a filter at most 100, its own pseudo-headers included)` } });
    }
    const big = events[4];
    assert.equal(big.response.status, 200);
    assert.equal((big.response.headers as Record<string, string>)["content-type"], "application/json");
    assert.match(String((big.metadata as any)?.capture?.response_headers), /^truncated: \d+ of 10\d headers/);
    for (let i = 0; i < 100; i++) {
      const e = events[5 + i];
      assert.equal(e.request.uri, `http://api.example.com/after/${i}`);
      assert.deepEqual(e.request.headers, {
        host: "api.example.com", "x-call": String(i), connection: "close", "x-moesif-transaction-id": e.transaction_id,
      });
      assert.deepEqual(e.response.headers, {
        "content-type": "application/json", "transfer-encoding": "chunked", connection: "close",
        "x-kong-upstream-latency": (e.response.headers as Record<string, string>)["x-kong-upstream-latency"],
        "x-kong-proxy-latency": "0", via: `1.1 kong/${kongVersion}`, "x-moesif-transaction-id": e.transaction_id,
      });
      assert.deepEqual(e.response.body, { ok: true });
      assert.equal(e.metadata, undefined);
    }
  });

  test(`metrics ${versionAtLeast(kongVersion, "3.8.0") ? "are exported" : "are never called (they trap before Kong 3.8)"}`, async () => {
    h = await harness({ host: { kongVersion } });
    await h.flush(); // a tick before any request: the host is not known yet
    await send(h.gateway.url, { path: "/m" });
    await h.flush();
    await h.flush();
    assert.equal(h.collector.events.length, 1);
    if (versionAtLeast(kongVersion, "3.8.0")) {
      assert.equal(h.host.metrics.get("moesif_events_captured"), 1n);
      assert.equal(h.host.metrics.get("moesif_events_sent"), 1n);
    } else {
      assert.equal(h.host.metrics.size, 0);
    }
  });

  test(`Kong's route and service in every event (${versionAtLeast(kongVersion, "3.9.0") ? "ids and names" : versionAtLeast(kongVersion, "3.6.0") ? "ids: Kong has no names before 3.9" : "none: Kong gives filters none before 3.6"}), Kong's Lua asked only in on_request_headers`, async () => {
    const at36 = versionAtLeast(kongVersion, "3.6.0");
    const at39 = versionAtLeast(kongVersion, "3.9.0");
    h = await harness({ host: { kongVersion }, gateway: { route: { id: "r-1", name: "orders" }, service: { id: "s-1", name: "orders-api" } } });
    for (let i = 0; i < 3; i++) assert.equal((await send(h.gateway.url, { path: `/k/${i}` })).status, 200);
    await h.flush();
    const events = h.collector.events;
    assert.equal(events.length, 3);
    const kong = at36 ? { route_id: "r-1", service_id: "s-1", ...(at39 ? { route_name: "orders", service_name: "orders-api" } : {}) } : undefined;
    for (const e of events) assert.deepEqual((e.metadata as { kong?: unknown } | undefined)?.kong, kong);
    // Each request's getters once (ids, and names only where Kong has them), kong.version once per
    // instance; none outside the access phase, or closeChecked finds the crash the host recorded.
    const perRequest = at39 ? ["kong.route_id", "kong.service_id", "kong.route_name", "kong.service_name"] : at36 ? ["kong.route_id", "kong.service_id"] : [];
    const want = Object.fromEntries([...perRequest.map((k) => [k, 3]), ...(at36 ? [["kong.version", 1]] : [])]);
    assert.deepEqual(Object.fromEntries(h.host.kongLuaReads), want);
  });

  test("names in the client's own case: lower-cased in the event, repeats joined, masks and ids matched without case", async () => {
    h = await harness({ host: { kongVersion }, config: { application_id: "a", request_header_masks: ["x-secret"], user_id_header: "x-user" } });
    await send(h.gateway.url, {
      path: "/case",
      headers: [["X-Repeat", "a"], ["x-REPEAT", "b"], ["X-SECRET", "hide me"], ["X-User", "alice"]],
    });
    await h.flush();
    const [e] = h.collector.events;
    const headers = e.request.headers!;
    assert.equal(headers["x-repeat"], "a, b");
    assert.equal(headers["x-secret"], "*****");
    assert.equal(e.user_id, "alice");
    assert.ok(Object.keys(headers).every((k) => k === k.toLowerCase()));
    assert.ok(!JSON.stringify(h.collector.batches[0].events).includes("hide me"));
  });
});

describe("configuration Kong could never honour", () => {
  for (const endpoint of ["https://10.1.2.3", "https://127.0.0.1:8443/base", "https://[::1]:443"]) {
    test(`an https:// endpoint given as an IP address (${endpoint}) is refused: Kong's TLS needs a name for SNI`, async () => {
      h = await harness({ config: { application_id: "a", api_endpoint: endpoint } });
      const errors = logsAt(h.host, "error");
      assert.equal(errors.length, 1);
      assert.match(errors[0], /^moesif: invalid configuration: api_endpoint: an https:\/\/ endpoint needs a host name, not an IP address/);
      assert.equal((await send(h.gateway.url, { path: "/" })).status, 200, "traffic passes");
    });
  }

  test("http:// to an IP address is accepted (no TLS, no SNI)", async () => {
    h = await harness();
    assert.deepEqual(logsAt(h.host, "error"), []);
  });
});
