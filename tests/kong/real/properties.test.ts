// What Kong hands the filter about the request's route and service, and the ways Kong attaches it:
//  - `kong.route_id`, `kong.service_id` (3.6+) and `kong.route_name`, `kong.service_name` (3.9+)
//    reach the event as metadata.kong (README "What it captures"). Kong's getters read ngx.ctx.route
//    and ngx.ctx.service and mark the value constant for the request (register_property_handlers,
//    kong/runloop/wasm.lua:844-874 at 3.9.3: `return ok, value, const`).
//  - `kong.version` (wasm.lua:876-878 at 3.9.3; 3.6+): the filter learns the release from it and,
//    where the release serves a call's answer safely (3.6+), fetches /v1/config and /v1/rules; on
//    3.4/3.5, which have no kong.version, it says once that it fetches neither (README Compatibility ¹).
//  - a filter chain on a service (every route of it without a chain of its own) and one on a route
//    (kong/db/schema/entities/filter_chains.lua: route or service, one chain each), and on 3.9 the
//    filter as a plugin on a route (kong/runloop/wasm/plugins.lua, load_schema: service or route).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { Collector, MoesifEvent } from "../../collector/collector.ts";
import { startUpstream, Upstream } from "../../support/upstream.ts";
import { okJson, send } from "../../support/harness.ts";
import { startKong, Kong, BUILT } from "../launcher.ts";
import { uuidFor, ServiceSpec } from "../declarative.ts";
import { filterLines } from "../logscan.ts";
import { SKIP, KONG_BIN, KONG_VERSION, PROFILE, until } from "./suite.ts";

const OFF_WARNING = "governance rules from /v1/rules are off";

describe(`Kong ${KONG_VERSION}: route, service and version properties; filter chains on a service, on a route${PROFILE.filterPlugins ? ", and the filter as a plugin" : ""}`, { skip: SKIP }, () => {
  let kong: Kong;
  let upstream: Upstream;
  let collector: Collector;
  const config = (app: string) => ({ application_id: app, api_endpoint: collector.url, batch_max_wait: 100 });
  /** Each way of attaching the filter: the path that reaches it, its application id, its route and service. */
  const ATTACHED = [
    { how: "a filter chain on the service", path: "/on-service/x", app: "on-service", route: "svc-route", service: "svc" },
    { how: "a filter chain on the route", path: "/on-route/x", app: "on-route", route: "chained-route", service: "plain" },
    ...(PROFILE.filterPlugins ? [{ how: "the filter as a plugin on the route (3.9 /plugins entry)", path: "/as-plugin/x", app: "as-plugin", route: "plugin-route", service: "plain" }] : []),
  ];

  before(async () => {
    upstream = await startUpstream(okJson);
    collector = await new Collector().start();
    const services: ServiceSpec[] = [
      { name: "svc", url: upstream.url, filters: [{ name: "moesif", config: config("on-service") }], routes: [{ name: "svc-route", paths: ["/on-service"] }] },
      {
        name: "plain", url: upstream.url,
        routes: [
          { name: "chained-route", paths: ["/on-route"], filters: [{ name: "moesif", config: config("on-route") }] },
          { name: "bare-route", paths: ["/bare"] },
          ...(PROFILE.filterPlugins ? [{ name: "plugin-route", paths: ["/as-plugin"] }] : []),
        ],
      },
    ];
    kong = await startKong({
      bin: KONG_BIN, version: KONG_VERSION, filters: [BUILT.moesif()],
      config: { services, filterPlugins: PROFILE.filterPlugins ? [{ filter: "moesif", route: "plugin-route", config: config("as-plugin") }] : [] },
    });
  });
  after(async () => {
    await kong?.stop();
    await collector?.close();
    await upstream?.close();
  });

  const eventOf = (app: string, path: string): MoesifEvent | undefined =>
    collector.batches.filter((b) => b.headers["x-moesif-application-id"] === app).flatMap((b) => b.events).find((e) => e.request.uri.endsWith(path));

  for (const a of ATTACHED) {
    test(`${a.how}: the event, with Kong's route and service as this release gives them`, async () => {
      const r = await send(kong.proxyUrl, { path: a.path });
      assert.equal(r.status, 200);
      assert.ok(await until(() => eventOf(a.app, a.path) !== undefined, 15000), `an event under application id ${a.app}`);
      const e = eventOf(a.app, a.path)!;
      assert.equal(r.headers["x-moesif-transaction-id"], e.transaction_id);
      const expected: Record<string, string> = {};
      if (PROFILE.routeIds) Object.assign(expected, { route_id: uuidFor("route", a.route), service_id: uuidFor("service", a.service) });
      if (PROFILE.routeNames) Object.assign(expected, { route_name: a.route, service_name: a.service });
      assert.deepEqual((e.metadata as any)?.kong, PROFILE.routeIds ? expected : undefined);
    });
  }

  test(`the Admin API lists the filter chains${PROFILE.filterPlugins ? " and the filter's /plugins entry" : ""} (DB-less: read only)`, async () => {
    // /filter-chains: admin_api_name of kong/db/schema/entities/filter_chains.lua (generate_admin_api).
    const chains = await kong.admin("GET", "/filter-chains");
    assert.equal(chains.status, 200, JSON.stringify(chains.body));
    const where = (chains.body.data as any[]).map((c) => [c.name, c.service?.id ?? null, c.route?.id ?? null, c.filters.map((f: any) => f.name)]).sort();
    assert.deepEqual(where, [
      ["chained-route-chain", null, uuidFor("route", "chained-route"), ["moesif"]],
      ["svc-chain", uuidFor("service", "svc"), null, ["moesif"]],
    ]);
    if (PROFILE.filterPlugins) {
      const plugins = await kong.admin("GET", "/plugins");
      assert.equal(plugins.status, 200, JSON.stringify(plugins.body));
      const entry = (plugins.body.data as any[]).find((p) => p.name === "moesif");
      assert.ok(entry, JSON.stringify(plugins.body));
      assert.equal(entry.route?.id, uuidFor("route", "plugin-route"));
      assert.equal(entry.config.application_id, "as-plugin");
    }
  });

  test("a route with no chain, on a service with none: no event", async () => {
    const before = collector.events.length;
    assert.equal((await send(kong.proxyUrl, { path: "/bare/x" })).status, 200);
    await new Promise((r) => setTimeout(r, 1500)); // past batch_max_wait and a tick: an event would be here
    assert.equal(collector.events.filter((e) => e.request.uri.endsWith("/bare/x")).length, 0);
    assert.equal(collector.events.length, before);
  });

  test(PROFILE.rulesLoad ? "kong.version: the filter knows its release and fetches /v1/config and /v1/rules" : "no kong.version (3.4/3.5): the filter fetches neither and says so once per configuration", async () => {
    if (PROFILE.rulesLoad) {
      assert.ok(await until(() => collector.configRequests > 0 && collector.rulesRequests > 0, 15000), `config ${collector.configRequests}, rules ${collector.rulesRequests}`);
      assert.deepEqual(filterLines(kong.log(), "warn").filter((l) => l.includes(OFF_WARNING)), []);
    } else {
      assert.equal(collector.configRequests + collector.rulesRequests, 0);
      const warned = filterLines(kong.log(), "warn").filter((l) => l.includes(OFF_WARNING));
      assert.equal(warned.length, ATTACHED.length, warned.join("\n"));
    }
  });

  test("error.log: no error, trap or crashed worker", () => {
    assert.deepEqual(kong.workerExits(), []);
    assert.deepEqual(kong.badLines(), []);
    assert.deepEqual(collector.filterViolations.map((v) => v.problems), []);
  });
});
