// The local collector must accept what Moesif accepts and refuse what Moesif refuses, or the
// filter's tests would prove nothing; what this filter promises beyond that is checked apart.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import http from "node:http";
import { Collector, filterEventProblems, lightIds } from "./collector.ts";
import { harness, send } from "../support/harness.ts";

const event = {
  request: { time: "2024-05-01T12:00:00.123Z", uri: "https://api.example.com/v1/items?limit=10", verb: "GET", headers: { accept: "*/*" } },
  response: { time: "2024-05-01T12:00:00.200Z", status: 200, headers: {} },
  direction: "Incoming",
  weight: 1,
};

function post(c: Collector, body: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(c.url + "/v1/events/batch", {
      method: "POST",
      headers: { "content-type": "application/json", "x-moesif-application-id": "app", ...headers },
    }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("collector", () => {
  let c: Collector;
  before(async () => {
    c = await new Collector({ applicationId: "app", appConfig: { sample_rate: 50 } }).start();
  });
  after(() => c.close());

  test("accepts a JSON array of events with 201 and a config ETag", async () => {
    const r = await post(c, JSON.stringify([event]));
    assert.equal(r.status, 201);
    assert.equal(r.headers["x-moesif-config-etag"], "etag-1");
    assert.deepEqual(c.events.at(-1), event);
  });

  test("accepts gzip and deflate bodies", async () => {
    const n = c.events.length;
    assert.equal((await post(c, zlib.gzipSync(JSON.stringify([event])), { "content-encoding": "gzip" })).status, 201);
    assert.equal((await post(c, zlib.deflateSync(JSON.stringify([event, event])), { "content-encoding": "deflate" })).status, 201);
    assert.equal(c.events.length, n + 3);
    assert.equal(c.batches.at(-1)!.rawBody[0], 0x78, "the raw body is kept as sent");
  });

  test("checks the application id", async () => {
    assert.equal((await post(c, "[]", { "x-moesif-application-id": "" })).status, 401);
    assert.equal((await post(c, "[]", { "x-moesif-application-id": "other" })).status, 401);
  });

  test("refuses, with 400, what Moesif refuses", async () => {
    const bad: [string, Buffer | string, Record<string, string>?][] = [
      ["not JSON", "{"],
      ["not an array", JSON.stringify(event)],
      ["no request", JSON.stringify([{ response: event.response }])],
      ["a request without a time", JSON.stringify([{ ...event, request: { uri: "https://a/", verb: "GET" } }])],
      ["a time that is not one", JSON.stringify([{ ...event, request: { ...event.request, time: "yesterday" } }])],
      ["invalid UTF-8", Buffer.concat([Buffer.from("[{\"x\":\""), Buffer.from([0xff]), Buffer.from("\"}]")])],
      ["gzip that is not gzip", "[]", { "content-encoding": "gzip" }],
    ];
    for (const [what, body, headers] of bad) {
      const r = await post(c, body, headers);
      assert.equal(r.status, 400, what);
    }
    assert.equal((await post(c, "[]", { "content-encoding": "br" })).status, 415);
  });

  test("accepts what Moesif accepts, and records it apart when this filter must not send it", async () => {
    const accepted: [string, unknown][] = [
      ["capitalised header names (Moesif's SDK tests send them)", { ...event, request: { ...event.request, headers: { Host: "a", "Content-Type": "application/json" } } }],
      ["header values that are numbers, booleans, null or arrays", { ...event, request: { ...event.request, headers: { a: 1, b: true, c: null, d: ["1", 2] } } }],
      ["null fields", { ...event, user_id: null, company_id: null, metadata: null, request: { ...event.request, api_version: null, body: null, transfer_encoding: null } }],
      ["no response (a timeout)", { request: event.request }],
      ["a response of nulls (moesifapi's models without one)", { ...event, response: { time: null, status: null, headers: null, body: null } }],
      ["a time without a zone", { ...event, request: { ...event.request, time: "2024-05-01T12:00:00.123" } }],
      ["a time with +00:00", { ...event, request: { ...event.request, time: "2024-05-01T12:00:00.123+00:00" } }],
      ["a time with microseconds", { ...event, request: { ...event.request, time: "2024-05-01T12:00:00.123456Z" } }],
      ["a time without a fraction", { ...event, request: { ...event.request, time: "2024-05-01T12:00:00Z" } }],
      ["an empty transfer_encoding", { ...event, request: { ...event.request, body: "x", transfer_encoding: "" } }],
      ["weight 0", { ...event, weight: 0 }],
      ["a relative uri", { ...event, request: { ...event.request, uri: "/v1/items" } }],
    ];
    for (const [what, e] of accepted) {
      const before = c.filterViolations.length;
      const r = await post(c, JSON.stringify([e]));
      assert.equal(r.status, 201, what);
      assert.deepEqual(c.events.at(-1), e, `${what}: recorded as received`);
      assert.equal(c.filterViolations.length, before + 1, `${what}: not an event this filter may send`);
    }
  });

  test("the filter's own schema refuses a deliberately wrong event and takes a right one", () => {
    assert.equal(filterEventProblems(event), null);
    for (const wrong of [
      { ...event, request: { ...event.request, headers: { Accept: "*/*" } } },
      { ...event, request: { ...event.request, time: "2024-05-01T12:00:00Z" } },
      { ...event, request: { ...event.request, body: {} } },
      { ...event, weight: 0 },
      { ...event, extra: 1 },
      { request: event.request, direction: "Incoming", weight: 1 },
    ]) {
      assert.notEqual(filterEventProblems(wrong), null, JSON.stringify(wrong));
    }
  });

  test("POST /v1/events takes one event", async () => {
    const r = await new Promise<number>((resolve, reject) => {
      const req = http.request(c.url + "/v1/events", { method: "POST", headers: { "content-type": "application/json", "x-moesif-application-id": "app" } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      req.end(JSON.stringify(event));
    });
    assert.equal(r, 201);
    assert.deepEqual(c.events.at(-1), event);
  });

  test("serves the application config", async () => {
    const r = await fetch(c.url + "/v1/config");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-moesif-config-etag"), "etag-1");
    assert.deepEqual(await r.json(), { sample_rate: 50 });
    assert.equal(c.configRequests, 1);
  });

  test("misbehaves on request: a status, a delay, a dropped connection, a hang", async () => {
    c.failNext({ status: 429, retryAfter: "7" });
    const r = await post(c, JSON.stringify([event]));
    assert.equal(r.status, 429);
    assert.equal(r.headers["retry-after"], "7");

    c.failNext({ delayMs: 150 });
    const t0 = Date.now();
    assert.equal((await post(c, JSON.stringify([event]))).status, 201);
    assert.ok(Date.now() - t0 >= 140);

    c.failNext({ drop: true });
    await assert.rejects(post(c, JSON.stringify([event])), /socket hang up|ECONNRESET/);

    c.failAll({ status: 503 });
    assert.equal((await post(c, "[]")).status, 503);
    assert.equal((await post(c, "[]")).status, 503);
    c.clear();
    assert.equal((await post(c, "[]")).status, 201);

    c.failNext({ hang: true });
    const hung = post(c, "[]");
    const outcome = await Promise.race([hung.then(() => "answered", () => "failed"), new Promise((r) => setTimeout(() => r("still waiting"), 200))]);
    assert.equal(outcome, "still waiting");
  });

  test("waitForEvents resolves as events arrive and times out otherwise", async () => {
    const n = c.events.length;
    setTimeout(() => void post(c, JSON.stringify([event])), 50);
    const got = await c.waitForEvents(n + 1, 2000);
    assert.equal(got.length, n + 1);
    await assert.rejects(c.waitForEvents(n + 100, 100), /waited 100 ms/);
  });
});

describe("light collector (load runs)", () => {
  test("reads the same transaction ids from the filter's batch as a JSON parse does, whatever the headers and bodies hold", async () => {
    // The patterns lightIds looks for, in places a client and an upstream control: escaped there.
    const tricky = '{"request":{ ,"transaction_id":"fake","direction":"Incoming"';
    const h = await harness({
      upstream: (_req, _body, res) => {
        res.writeHead(200, { "content-type": "text/plain", "x-echo": tricky });
        res.end(tricky);
      },
    });
    try {
      for (let i = 0; i < 5; i++) await send(h.gateway.url, { path: `/items/${i}`, headers: [["x-note", tricky], ["x-moesif-transaction-id", i === 2 ? "given-by-the-client" : ""]] });
      await h.flush();
      const raw = Buffer.concat(h.collector.batches.map((b) => b.body.subarray(1, -1)).flatMap((b, i) => (i ? [Buffer.from(","), b] : [b])));
      const batch = Buffer.concat([Buffer.from("["), raw, Buffer.from("]")]);
      const parsed = (JSON.parse(batch.toString()) as { transaction_id: string }[]).map((e) => e.transaction_id);
      assert.equal(parsed.length, 5);
      assert.ok(parsed.includes("given-by-the-client"));
      assert.deepEqual(lightIds(batch, true), parsed);
      // A batch that is not an array, or an event without its id, is refused.
      assert.equal(lightIds(batch.subarray(1), true), null);
      assert.equal(lightIds(Buffer.from(batch.toString().replace(/,"transaction_id":"[^"]*"/, "")), true), null);
      const one = Buffer.from(JSON.stringify(JSON.parse(batch.toString())[0]));
      assert.deepEqual(lightIds(one, false), [parsed[0]]);
    } finally {
      await h.close();
    }
  });
});
