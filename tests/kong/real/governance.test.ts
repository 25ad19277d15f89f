// Governance in a real Kong: a blocking
// rule answers the client from on_request_headers (a rule on the route) and from on_request_body (a
// rule on a body field), and the upstream never sees those calls. On Kong 3.4/3.5 the filter
// deliberately fetches no rules (reading an answer's body from a timer crashes the worker there:
// runtime/hostinfo.ts, hostReadsAnswers), so nothing is blocked and it says so once.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { Collector, MoesifEvent } from "../../collector/collector.ts";
import { startUpstream, Upstream } from "../../support/upstream.ts";
import { send, okJson, RawResponse } from "../../support/harness.ts";
import { startKong, Kong, BUILT } from "../launcher.ts";
import { filterLines } from "../logscan.ts";
import { SKIP, KONG_BIN, KONG_VERSION, PROFILE } from "./suite.ts";

type Rule = Record<string, unknown>;
const regex = (id: string, conditions: [string, string][], response: Record<string, unknown>): Rule => ({
  _id: id, name: id, type: "regex", block: true,
  regex_config: [{ conditions: conditions.map(([path, value]) => ({ path, value })) }],
  response,
});

const RULES = [
  regex("route", [["request.route", "^/blocked"]], { status: 403, headers: { "X-Reason": "closed" }, body: { blocked: "route" } }),
  regex("body", [["request.body.plan", "^free$"]], { status: 402, body: { blocked: "body" } }),
];

interface Call {
  name: string;
  method?: string;
  path: string;
  headers?: [string, string][];
  body?: string;
  /** The rule that blocks it where rules are loaded. */
  rule?: { id: string; status: number; body: string; headers?: Record<string, string> };
}

const json: [string, string][] = [["Content-Type", "application/json"]];
const CALLS: Call[] = [
  { name: "a rule on the route blocks from on_request_headers", path: "/blocked/orders?x=1", rule: { id: "route", status: 403, body: '{"blocked":"route"}', headers: { "x-reason": "closed" } } },
  { name: "a rule on a body field blocks from on_request_body", method: "POST", path: "/open/orders", headers: json, body: '{"plan":"free"}', rule: { id: "body", status: 402, body: '{"blocked":"body"}' } },
  { name: "a body that does not match goes through", method: "POST", path: "/open/other", headers: json, body: '{"plan":"pro"}' },
];

const WARM_UP = "/warm-up";
const OFF_WARNING = "governance rules from /v1/rules are off";

describe(`governance in Kong ${KONG_VERSION}`, { skip: SKIP }, () => {
  const rulesLoad = PROFILE.rulesLoad;
  let collector: Collector;
  let upstream: Upstream;
  let kong: Kong;
  const upstreamSaw: string[] = [];
  const eventOf = (path: string): MoesifEvent | undefined => collector.events.find((e) => e.request.uri === `http://api.example.com${path}`);

  before(async () => {
    collector = await new Collector().start();
    collector.rules = RULES;
    upstream = await startUpstream((req, body, res) => {
      upstreamSaw.push(req.url ?? "");
      okJson(req, body, res);
    });
    kong = await startKong({
      bin: KONG_BIN, version: KONG_VERSION, filters: [BUILT.moesif()],
      config: { services: [{ name: "gov", url: upstream.url, routes: [{ name: "gov", paths: ["/"], filters: [{ name: "moesif", config: { application_id: "gov", api_endpoint: collector.url, batch_max_wait: 100 } }] }] }] },
    });
    // The filter fetches /v1/config and /v1/rules only once a request has told it which host it is
    // in: one call first, then (where it loads rules) until the collector has served them.
    assert.equal((await send(kong.proxyUrl, { path: WARM_UP })).status, 200);
    await collector.waitForEvents(1, 15000);
    if (rulesLoad) {
      const end = Date.now() + 15000;
      while (collector.rulesRequests === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.ok(collector.rulesRequests >= 1, "the filter fetched /v1/rules");
      // Served is not yet applied (the answer is read in the next callback): a probe call, on a
      // path of its own, until the route rule answers it.
      for (let i = 0; i < 100; i++) {
        if ((await send(kong.proxyUrl, { path: `/blocked/probe-${i}` })).status === 403) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });

  after(async () => {
    await kong?.stop();
    await upstream?.close();
    await collector?.close();
  });

  const answers = new Map<string, RawResponse>();

  for (const c of CALLS) {
    const blocks = rulesLoad && c.rule !== undefined;
    test(`${c.name}${c.rule && !rulesLoad ? ": not on Kong 3.4/3.5, where no rules are loaded" : ""}`, async () => {
      const r = await send(kong.proxyUrl, { method: c.method, path: c.path, headers: c.headers, body: c.body });
      answers.set(c.path, r);
      const end = Date.now() + 15000;
      while (!eventOf(c.path) && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
      const e = eventOf(c.path);
      assert.ok(e, "the call's event");
      if (blocks) {
        const rule = c.rule!;
        assert.equal(r.status, rule.status);
        // nginx ends a local response's body with a line feed (ngx_http_wasm_flush_local_response).
        assert.equal(r.body.toString(), rule.body + "\n");
        assert.equal(r.headers["content-type"], "application/json");
        assert.equal(r.headers["x-moesif-transaction-id"], e.transaction_id);
        for (const [k, v] of Object.entries(rule.headers ?? {})) assert.equal(r.headers[k], v, k);
        assert.ok(!upstreamSaw.includes(c.path), "the upstream never saw the call");
        assert.equal(e.blocked_by, rule.id);
        assert.equal(e.response.status, rule.status);
        assert.deepEqual(e.response.body, JSON.parse(rule.body));
        // What the client got: the rule's headers, nginx's length (with the line feed), the
        // transaction id, and a Date; the rest (Server, Kong's own headers) is Kong's to add, and
        // the event says what the client got.
        const headers = { ...(e.response.headers as Record<string, string>) };
        assert.match(headers.date, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
        assert.equal(headers.date, r.headers.date);
        assert.equal(headers["content-type"], "application/json");
        assert.equal(headers["content-length"], String(rule.body.length + 1));
        assert.equal(headers["x-moesif-transaction-id"], e.transaction_id);
        for (const [k, v] of Object.entries(rule.headers ?? {})) assert.equal(headers[k], v, k);
        for (const [k, v] of Object.entries(headers)) if (k !== "connection") assert.equal(r.headers[k], v, `the client got ${k} as the event says`);
      } else {
        assert.equal(r.status, 200);
        assert.ok(upstreamSaw.includes(c.path), "the upstream saw the call");
        assert.equal(e.blocked_by, undefined);
        assert.deepEqual(e.response.body, { ok: true });
      }
    });
  }

  test(rulesLoad ? "rules and config were fetched; error.log is clean" : "Kong 3.4/3.5: no rules or config fetched, said once at warn; error.log is clean", async () => {
    const warned = filterLines(kong.log(), "warn").filter((l) => l.includes(OFF_WARNING));
    if (rulesLoad) {
      assert.ok(collector.rulesRequests >= 1);
      assert.ok(collector.configRequests >= 1);
      assert.deepEqual(warned, []);
    } else {
      assert.equal(collector.rulesRequests, 0);
      assert.equal(collector.configRequests, 0);
      assert.equal(warned.length, 1, warned.join("\n"));
      assert.ok(collector.events.every((e) => e.blocked_by === undefined));
    }
    assert.deepEqual(collector.filterViolations.map((v) => v.problems), []);
    assert.deepEqual(kong.workerExits(), []);
    assert.deepEqual(kong.badLines(), []);
  });
});
