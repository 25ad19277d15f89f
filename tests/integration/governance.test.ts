// Governance: Moesif's rules, fetched from the collector, applied by the filter before the upstream
// sees a call. Each corpus case is a rule set, cohorts, a request, and exactly what the client gets
// and what the event says. Then the fetch faults, and blocking on every Kong version.
import { test, describe, afterEach } from "node:test";
import assert from "node:assert/strict";
import { harness, Harness, send, logsAt, closeChecked, RawResponse } from "../support/harness.ts";
import { KONG_VERSIONS, versionAtLeast } from "../host/nwm.ts";
import { MoesifEvent } from "../collector/collector.ts";

let h: Harness | null = null;
afterEach(async () => {
  const done = h;
  h = null;
  await closeChecked(done);
});

class FakeClock {
  ms = Date.UTC(2026, 0, 1, 12, 0, 0);
  now = () => this.ms;
}

type Rule = Record<string, unknown>;
const regex = (id: string, conditions: [string, string][][], response: Record<string, unknown> | null, block = true): Rule => ({
  _id: id, name: id, type: "regex", block,
  regex_config: conditions.map((g) => ({ conditions: g.map(([path, value]) => ({ path, value })) })),
  ...(response ? { response } : {}),
});
const cohortRule = (type: "user" | "company", id: string, extra: Rule, response: Record<string, unknown>): Rule => ({
  _id: id, name: id, type, block: true, applied_to: "matching", applied_to_unidentified: false, regex_config: [], response, ...extra,
});

interface Case {
  name: string;
  rules: unknown;
  cohorts?: Record<string, unknown>;
  config?: Record<string, unknown>;
  request: { method?: string; path?: string; headers?: [string, string][]; body?: string };
  /** The client's answer when a rule blocks; undefined: the call reaches the upstream. */
  blocked?: { status: number; body: string; headers?: Record<string, string>; by: string };
  /** Headers a non-blocking rule adds to the upstream's response. */
  added?: Record<string, string>;
  event?: Partial<Record<"user_id" | "company_id", string>>;
  warns?: RegExp[];
}

const QUOTA = { status: 429, headers: { "X-Quota-Limit": "{{1}}" }, body: { error: "{{1}} calls used on plan {{0}}" } };

const CASES: Case[] = [
  {
    name: "a regex rule on route and verb blocks; the upstream is never called",
    rules: [regex("r1", [[["request.route", "^/v2/"], ["request.verb", "^(POST|PUT)$"]]], { status: 403, headers: { "X-Reason": "v2 writes closed" }, body: { error: "closed" } })],
    request: { method: "POST", path: "/v2/orders?x=1", headers: [["Content-Type", "application/json"]], body: "{}" },
    blocked: { status: 403, body: '{"error":"closed"}', headers: { "x-reason": "v2 writes closed" }, by: "r1" },
  },
  {
    name: "the route has no query string: a rule on it does not see one",
    rules: [regex("r1", [[["request.route", "x=1"]]], { status: 403, body: {} })],
    request: { path: "/v2/orders?x=1" },
  },
  {
    name: "a user rule for its cohort, with merge values that need JSON escaping",
    rules: [cohortRule("user", "u1", { variables: [{ name: "0", path: "metadata.plan" }, { name: "1", path: "metadata.quota" }] }, QUOTA)],
    cohorts: { user_rules: { alice: [{ rules: "u1", values: { "0": "Free \"basic\"\\\n€", "1": 10000 } }] } },
    request: { headers: [["X-User", "alice"]] },
    config: { user_id_header: "x-user" },
    blocked: { status: 429, body: JSON.stringify({ error: "10000 calls used on plan Free \"basic\"\\\n€" }), headers: { "x-quota-limit": "10000" }, by: "u1" },
    event: { user_id: "alice" },
  },
  {
    name: "a user outside the cohort passes a matching rule",
    rules: [cohortRule("user", "u1", {}, QUOTA)],
    cohorts: { user_rules: { alice: [{ rules: "u1" }] } },
    request: { headers: [["X-User", "bob"]] },
    config: { user_id_header: "x-user" },
    event: { user_id: "bob" },
  },
  {
    name: "not_matching blocks those outside the cohort, merge tags without values become UNKNOWN or their default",
    rules: [cohortRule("user", "u2", { applied_to: "not_matching" }, { status: 402, body: { plan: "{{0}}", tier: "{{tier|free}}" } })],
    cohorts: { user_rules: { alice: [{ rules: "u2" }] } },
    request: { headers: [["X-User", "bob"]] },
    config: { user_id_header: "x-user" },
    blocked: { status: 402, body: '{"plan":"UNKNOWN","tier":"free"}', by: "u2" },
  },
  {
    name: "applied_to_unidentified: a call with no user is blocked by it",
    rules: [cohortRule("user", "anon", { applied_to_unidentified: true }, { status: 401, body: { error: "sign in" } })],
    request: {},
    blocked: { status: 401, body: '{"error":"sign in"}', by: "anon" },
  },
  {
    name: "a company rule, by the company header",
    rules: [cohortRule("company", "c1", {}, { status: 403, body: "suspended" })],
    cohorts: { company_rules: { acme: [{ rules: "c1" }] } },
    config: { company_id_header: "x-tenant" },
    request: { headers: [["X-Tenant", "acme"]] },
    blocked: { status: 403, body: '"suspended"', by: "c1" },
    event: { company_id: "acme" },
  },
  {
    name: "two blocking regex rules: the first in /v1/rules order wins",
    rules: [regex("first", [], { status: 418, body: { by: "first" } }), regex("second", [], { status: 419, body: { by: "second" } })],
    request: {},
    blocked: { status: 418, body: '{"by":"first"}', by: "first" },
  },
  {
    name: "user over company over regex; every matched rule's headers, the higher precedence winning a clash",
    rules: [
      regex("rx", [], { status: 400, headers: { "X-From": "regex", "X-Regex": "1" }, body: {} }),
      cohortRule("company", "co", {}, { status: 401, headers: { "X-From": "company", "X-Company": "1" }, body: {} }),
      cohortRule("user", "us", {}, { status: 402, headers: { "X-From": "user" }, body: { who: "user" } }),
    ],
    cohorts: { user_rules: { alice: [{ rules: "us" }] }, company_rules: { acme: [{ rules: "co" }] } },
    config: { user_id_header: "x-user", company_id_header: "x-tenant" },
    request: { headers: [["X-User", "alice"], ["X-Tenant", "acme"]] },
    blocked: { status: 402, body: '{"who":"user"}', headers: { "x-from": "user", "x-company": "1", "x-regex": "1" }, by: "us" },
  },
  {
    name: "a body field (dotted into nested objects) decides, from on_request_body, before the upstream",
    rules: [regex("body", [[["request.body.order.plan", "^free$"]]], { status: 402, body: { error: "upgrade" } })],
    request: { method: "POST", headers: [["Content-Type", "application/json"]], body: '{"order":{"plan":"free"}}' },
    blocked: { status: 402, body: '{"error":"upgrade"}', by: "body" },
  },
  {
    name: "a body field that does not match lets the call through",
    rules: [regex("body", [[["request.body.order.plan", "^free$"]]], { status: 402, body: {} })],
    request: { method: "POST", headers: [["Content-Type", "application/json"]], body: '{"order":{"plan":"pro"}}' },
  },
  {
    name: "GraphQL: an application/graphql body is the query",
    rules: [regex("gql", [[["request.body.query", "^\\s*mutation"]]], { status: 403, body: { error: "read only" } })],
    request: { method: "POST", headers: [["Content-Type", "application/graphql"]], body: "mutation { drop }" },
    blocked: { status: 403, body: '{"error":"read only"}', by: "gql" },
  },
  {
    name: "GraphQL in JSON: operationName",
    rules: [regex("op", [[["request.body.operationName", "^Export$"]]], { status: 403, body: {} })],
    request: { method: "POST", headers: [["Content-Type", "application/json"]], body: '{"query":"{ x }","operationName":"Export"}' },
    blocked: { status: 403, body: "{}", by: "op" },
  },
  {
    name: "a non-blocking rule adds its headers to the upstream's response",
    rules: [regex("dep", [[["request.route", "^/v1/"]]], { status: 200, headers: { Deprecation: "true", Sunset: "2027-01-01" }, body: {} }, false)],
    request: { path: "/v1/items" },
    added: { deprecation: "true", sunset: "2027-01-01" },
  },
  {
    name: "headers (any case) and the client address as the event reports it",
    rules: [regex("hd", [[["request.headers.x-api-version", "^1$"], ["request.ip_address", "^203\\.0\\.113\\.9$"]]], { status: 410, body: { gone: true } })],
    request: { headers: [["X-API-Version", "1"], ["X-Forwarded-For", "203.0.113.9, 10.0.0.1"]] },
    blocked: { status: 410, body: '{"gone":true}', by: "hd" },
  },
  {
    name: "a pattern that does not compile makes its condition false (logged)",
    rules: [regex("bad", [[["request.route", "(unclosed"]]], { status: 403, body: {} })],
    request: { path: "/unclosed" },
    warns: [/governance rule bad: pattern "\(unclosed" does not compile/],
  },
  {
    name: "a malformed rule is skipped (logged), the others apply",
    rules: [{ _id: "broken", type: "regex", regex_config: "not an array" }, 17, regex("ok", [], { status: 451, body: {} })],
    request: {},
    blocked: { status: 451, body: "{}", by: "ok" },
    warns: [/governance rule 0 of \/v1\/rules is malformed and skipped/, /governance rule 1 of \/v1\/rules is malformed and skipped/],
  },
  {
    name: "response.* cannot be known before the upstream answers: never a match",
    rules: [regex("resp", [[["response.status", "200"]]], { status: 403, body: {} })],
    request: {},
  },
  {
    name: "a blocking rule without a usable status is skipped (logged); the next blocking rule wins",
    rules: [regex("nostatus", [], { body: { a: 1 } }), regex("next", [], { status: 409, body: { b: 2 } })],
    request: {},
    blocked: { status: 409, body: '{"b":2}', by: "next" },
    warns: [/governance rule nostatus blocks but has no usable response.status/],
  },
  {
    name: "disable_governance: no rules fetched, nothing blocked",
    rules: [regex("all", [], { status: 403, body: {} })],
    config: { disable_governance: true },
    request: {},
  },
];

const WARM_UP = "/warm-up";

/**
 * A harness whose filter has its rules: the filter fetches /v1/config and /v1/rules only once a
 * request has told it which host it runs in, so one call to WARM_UP (before any rule, so never
 * blocked) comes first; `events` leaves its event out.
 */
async function setup(c: Pick<Case, "rules" | "cohorts" | "config">, kongVersion?: string, clock?: FakeClock): Promise<Harness> {
  const hh = await harness({ config: { application_id: "gov", ...c.config }, host: { kongVersion, clock: clock?.now } });
  hh.collector.rules = c.rules;
  hh.collector.appConfig = { sample_rate: 100, ...c.cohorts };
  assert.equal((await send(hh.gateway.url, { path: WARM_UP })).status, 200);
  await hh.flush(); // the host is known: the ticks fetch /v1/config and /v1/rules (and send the warm-up's event)
  return hh;
}

/** The events and upstream calls of the test's own calls (the warm-up's left out). */
const events = (hh: Harness) => hh.collector.events.filter((e) => !e.request.uri.endsWith(WARM_UP));
const upstreamCalls = (hh: Harness) => hh.upstreamSeen.filter((u) => u.url !== WARM_UP).length;

function checkBlocked(c: Case, r: RawResponse, hh: Harness, e: MoesifEvent) {
  const b = c.blocked!;
  assert.equal(r.status, b.status);
  // nginx ends a local response's body with a line feed.
  assert.equal(r.body.toString(), b.body + "\n");
  assert.equal(r.headers["content-type"], "application/json");
  assert.equal(r.headers["x-moesif-transaction-id"], e.transaction_id);
  for (const [k, v] of Object.entries(b.headers ?? {})) assert.equal(r.headers[k], v, k);
  assert.equal(upstreamCalls(hh), 0, "the upstream never saw the call");
  assert.equal(e.blocked_by, b.by);
  assert.equal(e.response.status, b.status);
  assert.deepEqual(e.response.body, JSON.parse(b.body));
  assert.equal((e.response.headers as Record<string, string>)["content-type"], "application/json");
  for (const [k, v] of Object.entries(b.headers ?? {})) assert.equal((e.response.headers as Record<string, string>)[k], v, `event ${k}`);
  // NWM's header filter adds Server and Date to a local response (kong-host.ts, prepareLocalResponse;
  // seen in the real host, the removed real-host suite, f66d8f6:tests/nwm/governance.test.ts).
  assert.equal((e.response.headers as Record<string, string>).server, "nginx");
  assert.equal((e.response.headers as Record<string, string>).date, r.headers.date);
}

describe("governance corpus", () => {
  for (const c of CASES) {
    test(c.name, async () => {
      h = await setup(c);
      if (c.config?.disable_governance) assert.equal(h.collector.rulesRequests, 0);
      else assert.equal(h.collector.rulesRequests, 1);
      const r = await send(h.gateway.url, { method: c.request.method, path: c.request.path ?? "/", headers: c.request.headers, body: c.request.body });
      await h.flush();
      assert.equal(events(h).length, 1);
      const [e] = events(h);
      if (c.blocked) {
        checkBlocked(c, r, h, e);
      } else {
        assert.equal(r.status, 200);
        assert.equal(upstreamCalls(h), 1);
        assert.equal(e.blocked_by, undefined);
        for (const [k, v] of Object.entries(c.added ?? {})) {
          assert.equal(r.headers[k], v, `client sees ${k}`);
          assert.equal((e.response.headers as Record<string, string>)[k], v, `event has ${k}`);
        }
      }
      for (const [k, v] of Object.entries(c.event ?? {})) assert.equal(e[k], v);
      for (const w of c.warns ?? []) assert.ok(logsAt(h.host, "warn").some((l) => w.test(l)), `${w} in\n${logsAt(h.host, "warn").join("\n")}`);
    });
  }
});

describe("chunked request bodies", () => {
  const rules = [
    regex("body", [[["request.body.plan", "^free$"]]], { status: 402, body: { by: "body" } }),
    regex("route", [[["request.route", "^/closed"]]], { status: 403, body: { by: "route" } }),
  ];

  test("an empty chunked body (which Kong never hands to on_request_body) cannot dodge the other rules", async () => {
    h = await setup({ rules });
    const r = await send(h.gateway.url, { method: "POST", path: "/closed", headers: [["Transfer-Encoding", "chunked"]], body: "" });
    assert.equal(r.status, 403);
    assert.equal(upstreamCalls(h), 0);
  });

  test("a chunked body still meets the rules that test it", async () => {
    h = await setup({ rules });
    const r = await send(h.gateway.url, { method: "POST", path: "/open", headers: [["Transfer-Encoding", "chunked"], ["Content-Type", "application/json"]], body: '{"plan":"free"}' });
    assert.equal(r.status, 402);
    assert.equal(upstreamCalls(h), 0);
  });
});

describe("rule fetch faults", () => {
  const blockAll = [regex("all", [[["request.route", "^/blocked"]]], { status: 403, body: { blocked: true } })];

  test("a failing fetch keeps the last good rules (said once)", async () => {
    const clock = new FakeClock();
    h = await setup({ rules: blockAll }, undefined, clock);
    h.collector.rulesStatus = 500;
    h.collector.rulesTag = "rules-2"; // a batch answer names a new tag: the fetch is tried, and fails
    for (let i = 0; i < 5; i++) {
      assert.equal((await send(h.gateway.url, { path: "/blocked" })).status, 403);
      clock.ms += 2000;
      await h.flush();
    }
    assert.ok(h.collector.rulesRequests >= 2, `${h.collector.rulesRequests} rule fetches`);
    assert.equal(logsAt(h.host, "warn").filter((l) => l.includes("could not load the governance rules")).length, 1);
  });

  test("a new tag mid-run: the new rules apply from the next request", async () => {
    const clock = new FakeClock();
    h = await setup({ rules: blockAll }, undefined, clock);
    assert.equal((await send(h.gateway.url, { path: "/blocked" })).status, 403);
    h.collector.rules = [];
    h.collector.rulesTag = "rules-2";
    await h.flush(); // the batch answer names rules-2
    clock.ms += 1000;
    await h.flush(); // rules-2 fetched
    assert.equal(h.collector.rulesRequests, 2);
    assert.equal((await send(h.gateway.url, { path: "/blocked" })).status, 200);
  });

  test("rules that arrive after traffic started: nothing is blocked before", async () => {
    const clock = new FakeClock();
    const hh = await harness({ config: { application_id: "gov" }, host: { clock: clock.now } });
    h = hh;
    hh.collector.rules = blockAll;
    await hh.flush();
    assert.equal(hh.collector.rulesRequests, 0, "no fetch before a request has told the filter which host it is in");
    assert.equal(hh.collector.configRequests, 0);
    hh.collector.rulesStatus = 503;
    assert.equal((await send(hh.gateway.url, { path: "/blocked" })).status, 200, "no rules yet: the call goes through");
    await hh.flush();
    assert.equal((await send(hh.gateway.url, { path: "/blocked" })).status, 200, "no rules yet: the call goes through");
    hh.collector.rulesStatus = null;
    for (let i = 0; i < 5 && hh.collector.rulesRequests < 2; i++) {
      clock.ms += 1000;
      await hh.flush();
    }
    assert.equal((await send(hh.gateway.url, { path: "/blocked" })).status, 403);
  });

  test("a body that is not a JSON array is refused: the rules in force stay", async () => {
    const clock = new FakeClock();
    h = await setup({ rules: blockAll }, undefined, clock);
    h.collector.rules = { message: "Unauthorized" };
    h.collector.rulesTag = "rules-err";
    await h.flush();
    clock.ms += 1000;
    await h.flush();
    assert.equal((await send(h.gateway.url, { path: "/blocked" })).status, 403);
  });
});

describe("blocking on every Kong version", () => {
  for (const kongVersion of KONG_VERSIONS.filter((v) => versionAtLeast(v, "3.6.0"))) {
    test(`Kong ${kongVersion}: from on_request_headers and from on_request_body`, async () => {
      for (const c of [CASES[0], CASES.find((x) => x.name.startsWith("a body field (dotted"))!]) {
        h = await setup(c, kongVersion);
        const r = await send(h.gateway.url, { method: c.request.method, path: c.request.path ?? "/", headers: c.request.headers, body: c.request.body });
        await h.flush();
        checkBlocked(c, r, h, events(h)[0]);
        await closeChecked(h);
        h = null;
      }
    });
  }

  // Kong 3.4/3.5 crash the worker when a root context reads an answer's body (runtime/hostinfo.ts,
  // hostReadsAnswers): the rules cannot be loaded there, so governance is off, and says so once.
  test("Kong 3.4.2: governance is off, said once at warn; every call reaches the upstream", async () => {
    const c = CASES[0];
    h = await setup(c, "3.4.2");
    for (let i = 0; i < 3; i++) {
      const r = await send(h.gateway.url, { method: c.request.method, path: c.request.path ?? "/", headers: c.request.headers, body: c.request.body });
      assert.equal(r.status, 200);
      await h.flush();
    }
    assert.equal(h.collector.rulesRequests, 0);
    assert.equal(h.collector.configRequests, 0);
    assert.equal(upstreamCalls(h), 3);
    assert.equal(events(h).length, 3);
    assert.ok(events(h).every((e) => e.blocked_by === undefined));
    const warned = logsAt(h.host, "warn").filter((l) => l.includes("governance rules from /v1/rules are off"));
    assert.deepEqual(warned, ["moesif: on this Kong (3.4/3.5) sampling from /v1/config and governance rules from /v1/rules are off: reading an answer's body from a timer crashes the worker there (fixed in Kong 3.6); every event is sent, nothing is blocked"]);
  });
});
