// The Kong suite's pure parts, without Kong (npm run test:node): what `kong version` says, the
// kong.conf written, the environment `kong` runs in, the declarative documents, the error.log
// scanner, and which field an invalid example is about.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Ajv } from "ajv";
import { parseKongVersion, unsupportedRelease, kongProfile } from "./version.ts";
import { renderKongConf, kongConfEntries, kongEnv, extraPlugins, KongConfOptions } from "./kong-conf.ts";
import { declarativeDoc, uuidFor, filterConfig, DECLARATIVE_SCHEMA, referenceProblems, DeclarativeSpec } from "./declarative.ts";
import { badLines, workerExits, alerts, filterLines } from "./logscan.ts";
import { fieldOfInvalidExample, namesField } from "./config-field.ts";
import { kongConf } from "../packaging/kongfiles.ts";

describe("kong version", () => {
  test("the release from what `kong version` and `kong version -a` print", () => {
    assert.equal(parseKongVersion("3.9.3\n"), "3.9.3");
    assert.equal(parseKongVersion("Kong: 3.4.2\nngx_lua: 10025\nnginx: 1021004\nLua: LuaJIT 2.1.0-beta3\n"), "3.4.2");
    assert.equal(parseKongVersion("3.4.3.12\n"), "3.4.3", "Enterprise's fourth part");
    assert.equal(parseKongVersion("Error: could not find OpenResty\n"), null);
    assert.equal(parseKongVersion(""), null);
  });

  test("the releases with a Wasm host, and what each gives a filter", () => {
    assert.match(String(unsupportedRelease("3.3.1")), /no proxy-wasm host/);
    assert.match(String(unsupportedRelease("3.10.0")), /removed its WebAssembly engine/);
    for (const v of ["3.4.0", "3.5.0", "3.9.3"]) assert.equal(unsupportedRelease(v), null, v);
    assert.deepEqual(kongProfile("3.4.2"), { jsonConfig: false, configValidation: false, routeIds: false, routeNames: false, filterPlugins: false, rulesLoad: false, lateBodyAnswered: false });
    assert.deepEqual(kongProfile("3.5.0"), { jsonConfig: true, configValidation: true, routeIds: false, routeNames: false, filterPlugins: false, rulesLoad: false, lateBodyAnswered: false });
    assert.equal(kongProfile("3.6.1").routeIds, true);
    assert.equal(kongProfile("3.7.1").lateBodyAnswered, false);
    assert.equal(kongProfile("3.8.0").lateBodyAnswered, true);
    assert.deepEqual(kongProfile("3.9.3"), { jsonConfig: true, configValidation: true, routeIds: true, routeNames: true, filterPlugins: true, rulesLoad: true, lateBodyAnswered: true });
  });
});

describe("kong.conf", () => {
  const base: KongConfOptions = { proxyPort: 20001, adminPort: 20002, filtersPath: "/tmp/x/filters", declarativeConfig: "/tmp/x/kong.json" };

  test("has what a test's Kong must have, read back as Kong reads `name = value` lines", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kongconf-"));
    try {
      const file = path.join(dir, "kong.conf");
      fs.writeFileSync(file, renderKongConf({ ...base, workers: 1 }));
      const conf = kongConf(file);
      assert.equal(conf.wasm, "on");
      assert.equal(conf.wasm_filters_path, "/tmp/x/filters");
      assert.equal(conf.database, "off");
      assert.equal(conf.declarative_config, "/tmp/x/kong.json");
      assert.equal(conf.proxy_listen, "127.0.0.1:20001");
      assert.equal(conf.admin_listen, "127.0.0.1:20002");
      assert.equal(conf.nginx_worker_processes, "1");
      // Nothing listens beyond loopback, nothing phones home.
      for (const k of ["admin_gui_listen", "status_listen", "stream_listen", "anonymous_reports"]) assert.equal(conf[k], "off", k);
      assert.equal(conf.plugins, "bundled");
      for (const [k, v] of Object.entries(conf)) if (k.endsWith("_listen") && v !== "off") assert.match(v, /^127\.0\.0\.1:\d+$/, k);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("extra settings override or add; a value that cannot stay on one line is refused", () => {
    const entries = kongConfEntries({ ...base, plugins: ["bundled", "moesif"], extra: { nginx_http_client_body_buffer_size: "100k", log_level: "debug" } });
    const conf = Object.fromEntries(entries);
    assert.equal(conf.plugins, "bundled,moesif");
    assert.equal(conf.nginx_http_client_body_buffer_size, "100k");
    assert.equal(conf.log_level, "debug");
    assert.equal(entries.filter(([k]) => k === "log_level").length, 1);
    assert.throws(() => kongConfEntries({ ...base, filtersPath: "/tmp/a\nwasm = off" }), /one line/);
    assert.throws(() => kongConfEntries({ ...base, filtersPath: "/tmp/a#b" }), /one line/);
    assert.throws(() => kongConfEntries({ ...base, extra: { "Bad Name": 1 } }), /no setting name/);
  });

  test("the environment keeps the user's KONG_* variables but those that would override the file", () => {
    const env = kongEnv({ PATH: "/bin", KONG_DATABASE: "postgres", kong_proxy_listen: "0.0.0.0:8000", KONG_PREFIX: "/usr/local/kong", KONG_LUA_PACKAGE_PATH: "/opt/?.lua", KONG_PLUGINS: "bundled,moesif" }, base);
    assert.deepEqual(env, { PATH: "/bin", KONG_LUA_PACKAGE_PATH: "/opt/?.lua" });
    assert.deepEqual(extraPlugins("bundled,moesif"), ["moesif"]);
    assert.deepEqual(extraPlugins(" bundled , moesif ,other"), ["moesif", "other"]);
    assert.deepEqual(extraPlugins(undefined), []);
    assert.deepEqual(extraPlugins("bundled"), []);
  });
});

describe("declarative documents", () => {
  const ajv = new Ajv({ allErrors: true });
  const validate = ajv.compile(DECLARATIVE_SCHEMA);
  const check = (doc: unknown) => {
    assert.ok(validate(doc), ajv.errorsText(validate.errors));
    assert.deepEqual(referenceProblems(doc), []);
  };
  const spec = (kongVersion: string): DeclarativeSpec => ({
    kongVersion,
    consumers: [{ username: "alice", custom_id: "cust-alice", keys: ["k1"] }],
    services: [
      { name: "svc", url: "http://127.0.0.1:9000", filters: [{ name: "moesif", config: { application_id: "a" } }], routes: [{ name: "svc-route", paths: ["/svc"] }] },
      {
        name: "plain", url: "http://127.0.0.1:9000/base",
        routes: [
          { name: "chained", paths: ["/c"], strip_path: true, filters: [{ name: "moesif", config: { application_id: "b", request_body_masks: [] } }, { name: "noop" }] },
          { name: "keyed", paths: ["/k"], plugins: [{ name: "key-auth" }] },
          { name: "by-header", paths: ["/"], headers: { "x-golden-case": ["3"] } },
          { name: "as-plugin", paths: ["/p"] },
        ],
      },
    ],
    filterPlugins: [{ filter: "moesif", route: "as-plugin", config: { application_id: "c" } }],
  });

  test("what the suite builds fits Kong's declarative format (the entities it uses), with every reference resolved", () => {
    for (const v of ["3.4.2", "3.5.0", "3.9.3"]) check(declarativeDoc(spec(v)));
  });

  test("ids are UUIDs made from names: known before Kong starts, the same every time, one per name", () => {
    const doc = declarativeDoc(spec("3.9.3")) as any;
    assert.equal(doc.services[0].id, uuidFor("service", "svc"));
    assert.equal(doc.services[1].routes[0].id, uuidFor("route", "chained"));
    assert.equal(uuidFor("route", "x"), uuidFor("route", "x"));
    assert.notEqual(uuidFor("route", "x"), uuidFor("service", "x"));
    assert.match(uuidFor("route", "x"), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(doc.filter_chains.map((c: any) => [c.name, c.service ?? null, c.route ?? null]), [
      ["svc-chain", uuidFor("service", "svc"), null],
      ["chained-chain", null, uuidFor("route", "chained")],
    ]);
    assert.deepEqual(doc.plugins, [
      { name: "key-auth", route: uuidFor("route", "keyed") },
      { name: "moesif", route: uuidFor("route", "as-plugin"), config: { application_id: "c" } },
    ]);
    assert.deepEqual(doc.consumers, [{ id: uuidFor("consumer", "alice"), username: "alice", custom_id: "cust-alice", keyauth_credentials: [{ key: "k1" }] }]);
  });

  test("a filter's config: JSON from Kong 3.5, a JSON string on 3.4, a string as it is", () => {
    assert.deepEqual(filterConfig({ a: [] }, "3.5.0"), { a: [] });
    assert.equal(filterConfig({ a: [] }, "3.4.2"), '{"a":[]}');
    assert.equal(filterConfig("log-phases", "3.9.3"), "log-phases");
    assert.equal(filterConfig(undefined, "3.4.2"), undefined);
    const doc34 = declarativeDoc(spec("3.4.2")) as any;
    assert.equal(doc34.filter_chains[1].filters[0].config, '{"application_id":"b","request_body_masks":[]}');
    assert.deepEqual(doc34.filter_chains[1].filters[1], { name: "noop", enabled: true });
  });

  test("what Kong would refuse is caught here: a second chain on a route, a reference to nothing, a chain on neither", () => {
    const doc = declarativeDoc(spec("3.9.3")) as any;
    const twice = structuredClone(doc);
    twice.filter_chains.push({ ...twice.filter_chains[1], name: "again" });
    assert.match(referenceProblems(twice).join(), /has a chain already/);
    const dangling = structuredClone(doc);
    dangling.plugins[0].route = uuidFor("route", "nowhere");
    assert.match(referenceProblems(dangling).join(), /no route/);
    const neither = structuredClone(doc);
    delete neither.filter_chains[0].service;
    assert.equal(validate(neither), false);
    const both = structuredClone(doc);
    both.filter_chains[0].route = uuidFor("route", "svc-route");
    assert.equal(validate(both), false);
    const noMatch = structuredClone(doc);
    delete noMatch.services[0].routes[0].paths;
    assert.equal(validate(noMatch), false, "a route that matches nothing");
  });
});

describe("error.log", () => {
  const LOG = [
    "2026/12/05 22:00:00 [notice] 100#0: using the \"epoll\" event method",
    "2026/12/05 22:00:01 [info] 101#0: *3 [proxy-wasm][\"moesif\" #1] moesif: stats: sent 10, client: 127.0.0.1, server: kong, request: \"GET / HTTP/1.1\"",
    "2026/12/05 22:00:02 [warn] 101#0: *4 [proxy-wasm][\"moesif\" #1] moesif: governance rules from /v1/rules are off on this Kong (3.4/3.5), context: ngx.timer",
    "2026/12/05 22:00:03 [error] 101#0: *5 [wasm] dispatch failed: tcp socket - Connection refused",
    "2026/12/05 22:00:04 [alert] 100#0: worker process 101 exited on signal 11",
    "2026/12/05 22:00:05 [crit] 102#0: *9 [wasm] trap in proxy_on_log: unreachable",
    "2026/12/05 22:00:06 [error] 102#0: *10 [proxy-wasm][\"moesif\" #1] moesif: collector refused a batch of 5 events with status 400; dropped (5 rejected so far), client: 127.0.0.1",
  ].join("\n");

  test("bad lines, worker exits, alerts, and the filter's own lines by level", () => {
    assert.equal(badLines(LOG).length, 4);
    assert.deepEqual(badLines(LOG, [/dispatch failed: tcp socket - Connection refused/, /collector refused/]).map((l) => l.slice(20, 27)), ["[alert]", "[crit] "]);
    assert.deepEqual(workerExits(LOG), [LOG.split("\n")[4]]);
    assert.equal(alerts(LOG).length, 1);
    assert.deepEqual(filterLines(LOG, "warn"), ["moesif: governance rules from /v1/rules are off on this Kong (3.4/3.5)"]);
    assert.deepEqual(filterLines(LOG, "error"), ["moesif: collector refused a batch of 5 events with status 400; dropped (5 rejected so far)"]);
    assert.deepEqual(filterLines(LOG, "info"), ["moesif: stats: sent 10"]);
    assert.deepEqual(badLines(LOG.split("\n").slice(0, 3).join("\n")), []);
  });
});

describe("the field an invalid example is about", () => {
  const dir = path.join(path.dirname(new URL(import.meta.url).pathname), "../../kong/examples/config/invalid");

  test("every invalid example names a field it holds, or config/application_id", () => {
    for (const f of fs.readdirSync(dir)) {
      const config: unknown = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
      const field = fieldOfInvalidExample(config);
      const ok = field === "config" || field === "application_id" || (typeof config === "object" && config !== null && field in config);
      assert.ok(ok, `${f}: ${field}`);
    }
    assert.equal(fieldOfInvalidExample(["application_id"]), "config");
    assert.equal(fieldOfInvalidExample({}), "application_id");
    assert.equal(fieldOfInvalidExample({ application_id: "" }), "application_id");
    assert.equal(fieldOfInvalidExample({ application_id: "x", batch_size: 0 }), "batch_size");
  });

  test("Kong's answers, as lua-resty-ljsonschema words them, name the field", () => {
    const answer = (message: string) => ({ code: 14, name: "invalid declarative configuration", flattened_errors: [{ entity_type: "filter_chain", errors: [{ type: "field", field: "filters.1.config", message }] }] });
    assert.ok(namesField(answer("property batch_size validation failed: expected 0 to be at least 1"), "batch_size"));
    assert.ok(namesField(answer("additional properties forbidden, found request_body_mask"), "request_body_mask"));
    assert.ok(namesField(answer("property application_id is required"), "application_id"));
    assert.ok(!namesField(answer("property batch_size_x validation failed"), "batch_size"));
    assert.ok(namesField(answer("wrong type: expected object, got array"), "config"));
  });
});
