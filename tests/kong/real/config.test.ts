// Kong validates the filter's configuration: every kong/examples/config/valid file is accepted and
// every invalid one refused, with the field named, by a running Kong's DB-less `POST /config` with a
// declarative document holding a filter chain with that configuration (Kong 3.5+: the config is
// JSON checked against moesif.meta.json, kong/db/schema/entities/filter_chains.lua:62-65 at 3.5.0).
// Not `kong config parse`: in Kong 3.9.3 it crashes on any filter config ("attempt to index upvalue
// 'kong'", kong/runloop/plugin_servers/init.lua), issue 28.
//
// POST /config (kong/api/routes/config.lua at 3.5.0 … 3.9.3): a JSON body with `_format_version` at
// its top is the document itself (hydrate_config_from_request, line 43); `flatten_errors=1` adds
// `flattened_errors`, each entity's errors with the field (line 71, errors.lua
// declarative_config_flattened); 201 when loaded, 400 when refused.
//
// An accepted configuration must also configure the filter: one request through it, and error.log
// has no "invalid configuration" line from the filter (issue 29: Kong accepted full.json while the
// filter turned itself off). The collector stands in for every api_endpoint, so that nothing leaves
// loopback (the endpoint examples are Kong's verdict; the filter's on them is tests/packaging's).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Collector } from "../../collector/collector.ts";
import { startUpstream, Upstream } from "../../support/upstream.ts";
import { okJson, send } from "../../support/harness.ts";
import { startKong, Kong, BUILT, REPO } from "../launcher.ts";
import { declarativeDoc } from "../declarative.ts";
import { filterLines } from "../logscan.ts";
import { fieldOfInvalidExample, namesField } from "../config-field.ts";
import { SKIP, KONG_BIN, KONG_VERSION, PROFILE, until } from "./suite.ts";

const dir = path.join(REPO, "kong/examples/config");
const examples = (kind: "valid" | "invalid") => fs.readdirSync(path.join(dir, kind)).filter((f) => f.endsWith(".json")).sort()
  .map((f) => ({ file: `${kind}/${f}`, config: JSON.parse(fs.readFileSync(path.join(dir, kind, f), "utf8")) as unknown }));

const skip = SKIP || (!PROFILE.configValidation && `Kong ${KONG_VERSION} takes a filter's config as a string and validates none of it (from 3.5)`);

describe(`Kong ${KONG_VERSION} validates the filter's configuration (POST /config)`, { skip }, () => {
  let kong: Kong;
  let upstream: Upstream;
  let collector: Collector;
  let n = 0;

  /** A whole declarative document: one route, /cfg/<n>, with a chain holding this configuration. */
  const docFor = (config: unknown) => {
    n++;
    return declarativeDoc({
      kongVersion: KONG_VERSION,
      services: [{ name: "cfg", url: upstream.url, routes: [{ name: `cfg-${n}`, paths: [`/cfg/${n}`], filters: [{ name: "moesif", config }] }] }],
    });
  };

  before(async () => {
    upstream = await startUpstream(okJson);
    collector = await new Collector().start();
    kong = await startKong({
      bin: KONG_BIN, version: KONG_VERSION, filters: [BUILT.moesif()],
      config: { services: [{ name: "cfg", url: upstream.url, routes: [{ name: "cfg-0", paths: ["/cfg/0"] }] }] },
    });
  });
  after(async () => {
    await kong?.stop();
    await collector?.close();
    await upstream?.close();
  });

  for (const { file, config } of examples("valid")) {
    test(`${file}: accepted, and the filter starts with it`, async () => {
      const local: Record<string, unknown> = { ...(config as Record<string, unknown>), api_endpoint: collector.url };
      delete local.upstream; // an Envoy cluster name: Kong has none
      const doc = docFor(local);
      const from = kong.log().length;
      const r = await kong.admin("POST", "/config?flatten_errors=1", doc);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      // Kong hands the new configuration to its workers by events: the route answers once there.
      assert.ok(await until(async () => (await send(kong.proxyUrl, { path: `/cfg/${n}` })).status === 200, 10000, 100), "the route of the new configuration answers");
      await new Promise((res) => setTimeout(res, 200));
      const log = kong.log().slice(from);
      assert.deepEqual(filterLines(log, "error").filter((l) => /invalid configuration|filter disabled/.test(l)), [], "the filter took the configuration Kong accepted");
      // The example as it is (its own endpoint) is accepted too: Kong's verdict, no traffic.
      const asIs = await kong.admin("POST", "/config?flatten_errors=1", docFor(config));
      assert.equal(asIs.status, 201, JSON.stringify(asIs.body));
    });
  }

  for (const { file, config } of examples("invalid")) {
    const field = fieldOfInvalidExample(config);
    test(`${file}: refused with ${field} named`, async () => {
      const r = await kong.admin("POST", "/config?flatten_errors=1", docFor(config));
      assert.equal(r.status, 400, JSON.stringify(r.body));
      const flattened = (r.body?.flattened_errors ?? []) as { entity_type?: string; errors?: unknown[] }[];
      assert.ok(flattened.some((e) => e.entity_type === "filter_chain"), `the filter chain is the entity refused: ${JSON.stringify(r.body)}`);
      assert.ok(namesField(r.body, field), `Kong's answer names ${field}: ${JSON.stringify(r.body)}`);
    });
  }

  test("error.log: nothing at error or worse but what the refusals say", () => {
    // Kong logs nothing for a refused POST /config at error (it answers 400); a crashed worker or
    // a trap would show here.
    assert.deepEqual(kong.workerExits(), []);
    assert.deepEqual(kong.badLines(), []);
  });
});
