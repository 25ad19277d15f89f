// The walking skeleton end to end: real HTTP requests through the gateway running build/moesif.wasm
// the way Kong runs it, and the exact events the collector received.
import { test, describe, afterEach } from "node:test";
import assert from "node:assert/strict";
import { harness, Harness, send, logsAt, closeChecked, moesifWasm } from "../support/harness.ts";
import { KONG_IMPLEMENTED, KONG_TRAPPING_STUBS } from "../host/abi.ts";
import { linkProblems } from "../host/kong-host.ts";
import { FILTER_VERSION } from "../support/version.ts";
import selfsigned from "selfsigned";

let h: Harness | null = null;
afterEach(async () => {
  const done = h;
  h = null;
  await closeChecked(done);
});

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe("build/moesif.wasm as Kong loads it", () => {
  test("imports only host functions Kong implements, and no stub", () => {
    const mod = new WebAssembly.Module(moesifWasm());
    const imports = WebAssembly.Module.imports(mod);
    const implemented = new Set<string>(KONG_IMPLEMENTED);
    for (const imp of imports) {
      assert.equal(imp.module, "env", `${imp.module}.${imp.name}`);
      assert.ok(implemented.has(imp.name), `env.${imp.name} is not implemented by Kong`);
      assert.ok(!(KONG_TRAPPING_STUBS as readonly string[]).includes(imp.name), `env.${imp.name} traps in Kong`);
    }
    assert.deepEqual(linkProblems(mod), []);
  });

  test("exports the ABI 0.2.1 marker, malloc, memory and the callbacks", () => {
    const names = new Set(WebAssembly.Module.exports(new WebAssembly.Module(moesifWasm())).map((e) => e.name));
    for (const n of ["proxy_abi_version_0_2_1", "malloc", "memory", "_initialize", "proxy_on_context_create", "proxy_on_vm_start",
      "proxy_on_configure", "proxy_on_tick", "proxy_on_http_call_response", "proxy_on_request_headers", "proxy_on_request_body",
      "proxy_on_response_headers", "proxy_on_response_body", "proxy_on_done", "proxy_on_log", "proxy_on_delete"]) {
      assert.ok(names.has(n), `missing export ${n}`);
    }
    assert.ok(!names.has("_start"), "_start would run at instantiation; Kong needs _initialize");
  });
});

describe("one API call becomes one Moesif event", () => {
  test("a GET with a query: the event, byte for byte", async () => {
    h = await harness();
    const before = Date.now();
    const res = await send(h.gateway.url, { path: "/v1/items?limit=10&q=a%20b", headers: [["Host", "api.example.com"], ["Accept", "application/json"], ["X-Trace", "t-1"]] });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), "{\"ok\":true}");
    await h.flush();
    const after = Date.now();

    assert.equal(h.collector.batches.length, 1);
    const batch = h.collector.batches[0];
    const [event] = batch.events;
    assert.match(event.request.time, ISO);
    assert.match(event.response.time, ISO);
    const reqMs = Date.parse(event.request.time);
    const resMs = Date.parse(event.response.time);
    assert.ok(reqMs >= before - 1 && reqMs <= resMs && resMs <= after + 1, "times are in order and within the test");
    const latency = (event.response.headers as Record<string, string>)["x-kong-upstream-latency"];
    const date = (event.response.headers as Record<string, string>)["date"];
    const txid = event.transaction_id as string;
    assert.match(txid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const expected = `[{"request":{"time":"${event.request.time}","uri":"http://api.example.com/v1/items?limit=10&q=a%20b","verb":"GET",` +
      `"ip_address":"127.0.0.1","headers":{"host":"api.example.com","accept":"application/json","x-trace":"t-1","connection":"close",` +
      `"x-moesif-transaction-id":"${txid}"}},` +
      // Kong's map puts nginx's own headers (its "shims": type, framing, connection) first.
      `"response":{"time":"${event.response.time}","status":200,"headers":{"content-type":"application/json",` +
      `"transfer-encoding":"chunked","connection":"close","date":"${date}","x-kong-upstream-latency":"${latency}","x-kong-proxy-latency":"0","via":"1.1 kong/3.9.1",` +
      `"x-moesif-transaction-id":"${txid}"},"body":{"ok":true},"transfer_encoding":"json"},` +
      `"transaction_id":"${txid}","direction":"Incoming","weight":1}]`;
    // The client and the upstream saw the same id.
    assert.equal(res.headers["x-moesif-transaction-id"], txid);
    assert.equal(h.upstreamSeen[0].headers["x-moesif-transaction-id"], txid);
    assert.equal(batch.body.toString("utf8"), expected);
  });

  test("the batch is POSTed to /v1/events/batch with Moesif's headers", async () => {
    h = await harness({ config: { application_id: "app-123" }, collector: { applicationId: "app-123" } });
    await send(h.gateway.url, { path: "/" });
    await h.flush();
    const batch = h.collector.batches[0];
    assert.ok(batch, "no batch arrived");
    const call = h.host.calls.find((c) => c.headers.some(([k, v]) => k === ":path" && v.toString() === "/v1/events/batch"))!;
    const headers = Object.fromEntries(call.headers.map(([k, v]) => [k, v.toString()]));
    assert.equal(call.upstream, `127.0.0.1:${h.collector.port}`);
    assert.equal(headers[":method"], "POST");
    assert.equal(headers[":path"], "/v1/events/batch");
    assert.equal(headers[":authority"], `127.0.0.1:${h.collector.port}`);
    assert.equal(headers[":scheme"], "http");
    assert.equal(batch.headers["content-type"], "application/json");
    assert.equal(batch.headers["x-moesif-application-id"], "app-123");
    assert.equal(batch.headers["user-agent"], `moesif-kong-wasm/${FILTER_VERSION}`);
    assert.equal(batch.headers.host, `127.0.0.1:${h.collector.port}`);
  });

  test("nothing is sent before a tick, and a tick sends what is queued", async () => {
    h = await harness();
    await send(h.gateway.url, { path: "/a" });
    await h.gateway.idle();
    assert.equal(h.collector.events.length, 0);
    assert.equal(h.host.calls.length, 0);
    await h.flush();
    assert.equal(h.collector.events.length, 1);
  });

  test("batch_size splits the queue into batches", async () => {
    h = await harness({ config: { application_id: "a", batch_size: 2 } });
    for (let i = 0; i < 5; i++) await send(h.gateway.url, { path: `/n/${i}` });
    await h.flush();
    assert.deepEqual(h.collector.batches.map((b) => b.events.length), [2, 2, 1]);
    assert.deepEqual(h.collector.events.map((e) => new URL(e.request.uri).pathname), ["/n/0", "/n/1", "/n/2", "/n/3", "/n/4"]);
  });

  test("POST with a body and response status pass through; the event records verb and status", async () => {
    h = await harness({ upstream: (_req, _body, res) => { res.writeHead(201, { "content-type": "text/plain" }); res.end("made"); } });
    const res = await send(h.gateway.url, { method: "POST", path: "/items", headers: [["Content-Type", "application/json"]], body: "{\"a\":1}" });
    assert.equal(res.status, 201);
    assert.equal(h.upstreamSeen[0].body.toString(), "{\"a\":1}");
    await h.flush();
    const [e] = h.collector.events;
    assert.equal(e.request.verb, "POST");
    assert.equal(e.response.status, 201);
    assert.equal(e.request.headers?.["content-type"], "application/json");
  });

  test("an upstream error is still an event (Kong's 502)", async () => {
    h = await harness();
    await h.upstream.close();
    const res = await send(h.gateway.url, { path: "/down" });
    assert.equal(res.status, 502);
    await h.flush();
    assert.equal(h.collector.events[0].response.status, 502);
  });

  test("two filter chains (two root contexts in one instance) each send their own events", async () => {
    h = await harness({
      filters: (collector) => [
        { name: "moesif", config: JSON.stringify({ application_id: "app-A", api_endpoint: collector }) },
        { name: "moesif", config: JSON.stringify({ application_id: "app-B", api_endpoint: collector, batch_size: 1 }) },
      ],
    });
    assert.equal(h.host.rootIds.length, 2);
    assert.notEqual(h.host.rootIds[0], h.host.rootIds[1]);
    await send(h.gateway.url, { path: "/both" });
    await h.flush();
    const ids = h.collector.batches.map((b) => b.headers["x-moesif-application-id"]).sort();
    assert.deepEqual(ids, ["app-A", "app-B"]);
    assert.equal(h.collector.events.length, 2);
  });
});

describe("hostile input never traps and still yields an event", () => {
  test("150 request headers: Kong hands over 100 pairs (4 of them pseudo-headers)", async () => {
    h = await harness({ config: { application_id: "a", disable_transaction_id: true } });
    const headers: [string, string][] = [["Host", "h.example"]];
    for (let i = 0; i < 149; i++) headers.push([`X-Many-${i}`, `v${i}`]);
    const res = await send(h.gateway.url, { path: "/many", headers });
    assert.equal(res.status, 200);
    await h.flush();
    const [e] = h.collector.events;
    assert.equal(Object.keys(e.request.headers!).length, 96);
    assert.equal(e.request.headers!["x-many-94"], "v94");
    assert.equal(e.request.headers!["x-many-95"], undefined);
  });

  test("header values that are not UTF-8 arrive as valid JSON with U+FFFD", async () => {
    h = await harness();
    const raw = Buffer.from([0x61, 0xff, 0xfe, 0x62, 0xc3]);
    const latin = Buffer.from("café", "latin1");
    const res = await send(h.gateway.url, { path: "/bytes", headers: [["X-Raw", raw], ["X-Latin", latin]] });
    assert.equal(res.status, 200);
    await h.flush();
    const [e] = h.collector.events;
    assert.equal(e.request.headers!["x-raw"], "a\uFFFD\uFFFDb\uFFFD");
    assert.equal(e.request.headers!["x-latin"], "caf\uFFFD");
  });

  test("an empty body", async () => {
    h = await harness({ upstream: (_req, _body, res) => { res.writeHead(204); res.end(); } });
    const res = await send(h.gateway.url, { method: "POST", path: "/empty", headers: [["Content-Length", "0"]], body: "" });
    assert.equal(res.status, 204);
    await h.flush();
    assert.equal(h.collector.events.length, 1);
    assert.equal(h.collector.events[0].response.status, 204);
  });

  test("repeated headers are joined with \", \"", async () => {
    h = await harness();
    await send(h.gateway.url, { path: "/", headers: [["Accept", "a/1"], ["X-Other", "o"], ["accept", "a/2"]] });
    await h.flush();
    assert.equal(h.collector.events[0].request.headers!.accept, "a/1, a/2");
  });
});

describe("bad configuration: one clear error line, traffic passes untouched", () => {
  const cases: [string, string][] = [
    ["{}", "application_id: is required"],
    ["not json", "configuration is not valid JSON"],
    ["{\"application_id\": 5}", "application_id: must be a string"],
    ["", "configuration is empty"],
    ["{\"application_id\":\"a\",\"batch_size\":\"big\"}", "batch_size: must be a number"],
  ];
  for (const [config, message] of cases) {
    test(`config ${JSON.stringify(config)}`, async () => {
      h = await harness({ config });
      const errors = logsAt(h.host, "error");
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.ok(errors[0].startsWith("moesif: invalid configuration: "), errors[0]);
      assert.ok(errors[0].includes(message), errors[0]);
      assert.ok(errors[0].endsWith("filter disabled, traffic passes untouched"), errors[0]);
      const res = await send(h.gateway.url, { method: "POST", path: "/still/works?x=1", body: "payload" });
      assert.equal(res.status, 200);
      assert.equal(h.upstreamSeen.length, 1);
      assert.equal(h.upstreamSeen[0].url, "/still/works?x=1");
      assert.equal(h.upstreamSeen[0].body.toString(), "payload");
      await h.flush();
      assert.equal(h.host.calls.length, 0, "a disabled filter sends nothing");
      assert.equal(h.host.tickPeriod(h.host.rootIds[0]), 0);
    });
  }

  test("unknown fields are errors, as in moesif.meta.json (a misspelt mask must not leak)", async () => {
    h = await harness({ config: { application_id: "a", request_body_mask: ["password"] } });
    assert.deepEqual(logsAt(h.host, "error"), ["moesif: invalid configuration: request_body_mask: is not a field of this filter; filter disabled, traffic passes untouched"]);
    const res = await send(h.gateway.url, { path: "/" });
    assert.equal(res.status, 200);
  });
});

describe("debug and collector answers", () => {
  test("debug logs each queued event and each batch", async () => {
    h = await harness({ config: { application_id: "a", debug: true } });
    await send(h.gateway.url, { path: "/" });
    await h.flush();
    const info = logsAt(h.host, "info");
    assert.ok(info.some((l) => /^moesif: queued event \(\d+ bytes\), 1 in queue$/.test(l)), info.join("\n"));
    assert.ok(info.some((l) => /^moesif: sent a batch of 1 events/.test(l)));
    assert.ok(info.some((l) => /^moesif: collector accepted 1 events \(201\)$/.test(l)));
  });

  test("without debug, a healthy run logs nothing but the start-up line", async () => {
    h = await harness();
    await send(h.gateway.url, { path: "/" });
    await h.flush();
    const filterLines = h.host.logs.filter((l) => l.source === "filter").map((l) => l.message);
    assert.equal(filterLines.length, 1);
    assert.match(filterLines[0], /^moesif: filter \S+ configured for 127\.0\.0\.1:\d+ \(batch_size 500, event_queue_size 10000, event_queue_bytes 4194304\)$/);
  });

  test("a refused batch is counted and reported, not silently lost", async () => {
    h = await harness();
    h.collector.failNext({ status: 400 });
    await send(h.gateway.url, { path: "/" });
    await h.flush();
    assert.equal(h.collector.events.length, 0);
    assert.deepEqual(logsAt(h.host, "error"), ["moesif: collector refused a batch of 1 events with status 400; dropped (1 rejected so far)"]);
  });
});

describe("TLS to the collector", () => {
  // A certificate for "localhost" (the default SAN matches the common name), made fresh for the run.
  const pems = selfsigned.generate([{ name: "commonName", value: "localhost" }], { keyType: "ec" });

  test("an https api_endpoint is sent over TLS, with SNI and Host from the endpoint", async () => {
    const { cert, private: key } = await pems;
    h = await harness({ collector: { tls: { key, cert } }, host: { dispatchCa: cert } });
    await send(h.gateway.url, { path: "/tls" });
    await h.flush();
    assert.equal(h.collector.events.length, 1);
    const batch = h.collector.batches[0];
    assert.equal(batch.servername, "localhost");
    assert.equal(batch.headers.host, `localhost:${h.collector.port}`);
    for (const call of h.host.calls) {
      const headers = Object.fromEntries(call.headers.map(([k, v]) => [k, v.toString()]));
      assert.equal(headers[":scheme"], "https");
      assert.equal(call.upstream, `localhost:${h.collector.port}`);
    }
  });

  test("a certificate Kong does not trust fails the call, which is reported", async () => {
    const { cert, private: key } = await pems;
    h = await harness({ collector: { tls: { key, cert } } });
    await send(h.gateway.url, { path: "/tls" });
    await h.flush();
    assert.equal(h.collector.events.length, 0);
    assert.ok(h.host.logs.some((l) => l.source === "host" && /^dispatch failed: tcp socket - tls certificate verify error/.test(l.message)));
    assert.ok(logsAt(h.host, "warn").some((l) => /^moesif: collector could not be reached \(tls handshake failure\); a batch of 1 events will be retried in \d+ ms \(attempt 2\)$/.test(l)),
      logsAt(h.host, "warn").join("\n"));
  });
});
