// Identification in Kong: no Kong release gives a filter a consumer property (register_property_handlers,
// kong/runloop/wasm.lua 3.4–3.9), so the consumer reaches it only as the X-Consumer-* request headers
// Kong's auth plugins set. Kong attaches the filter chain after the access phase's plugins
// (kong/init.lua:1203-1233 at 3.9.3: the plugins iterator, then runloop.wasm_attach), so the filter
// reads what key-auth set (kong/plugins/key-auth/handler.lua: set_header X-Consumer-ID,
// X-Consumer-Custom-ID, X-Consumer-Username, X-Credential-Identifier; a header the consumer lacks
// is cleared, so a client cannot add its own).
//
//  - a key-auth route: the event's user is the consumer Kong authenticated (custom id first, the
//    filter's order), whatever X-Consumer-* the client sent; a request without a key never reaches
//    the filter (key-auth answers 401 in the access phase, before wasm_attach).
//  - a route without auth, where a client forges X-Consumer-Username: with use_consumer_headers
//    true (the default) the filter takes it, as it cannot know; with false it takes no user or
//    company from X-Consumer-* at all.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { Collector, MoesifEvent } from "../../collector/collector.ts";
import { startUpstream, Upstream } from "../../support/upstream.ts";
import { send } from "../../support/harness.ts";
import { startKong, Kong, BUILT } from "../launcher.ts";
import { SKIP, KONG_BIN, KONG_VERSION, until } from "./suite.ts";

const KEY = "k-alice-0123456789";

describe(`Kong ${KONG_VERSION}: the consumer, from a real key-auth and from forged headers`, { skip: SKIP }, () => {
  let kong: Kong;
  let upstream: Upstream;
  let collector: Collector;
  const upstreamSaw: Record<string, string | string[] | undefined>[] = [];
  const config = (app: string, extra: Record<string, unknown> = {}) => ({ application_id: app, api_endpoint: collector.url, batch_max_wait: 100, ...extra });

  before(async () => {
    collector = await new Collector().start();
    upstream = await startUpstream((req, _body, res) => {
      upstreamSaw.push(req.headers);
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    });
    kong = await startKong({
      bin: KONG_BIN, version: KONG_VERSION, filters: [BUILT.moesif()],
      config: {
        consumers: [{ username: "alice", custom_id: "cust-alice", keys: [KEY] }],
        services: [{
          name: "api", url: upstream.url,
          routes: [
            // key-auth's defaults: the key in the `apikey` header or query argument (kong/plugins/key-auth/schema.lua, key_names).
            { name: "keyed", paths: ["/keyed"], plugins: [{ name: "key-auth" }], filters: [{ name: "moesif", config: config("keyed") }] },
            { name: "open-default", paths: ["/open-default"], filters: [{ name: "moesif", config: config("open-default") }] },
            { name: "open-strict", paths: ["/open-strict"], filters: [{ name: "moesif", config: config("open-strict", { use_consumer_headers: false }) }] },
          ],
        }],
      },
    });
  });
  after(async () => {
    await kong?.stop();
    await collector?.close();
    await upstream?.close();
  });

  const eventOf = async (app: string, path: string): Promise<MoesifEvent> => {
    const find = () => collector.batches.filter((b) => b.headers["x-moesif-application-id"] === app).flatMap((b) => b.events).find((e) => e.request.uri.endsWith(path));
    assert.ok(await until(() => find() !== undefined, 15000), `the event of ${path} under ${app}`);
    return find()!;
  };

  test("key-auth route: the user is the consumer Kong authenticated, not the one the client claims", async () => {
    const r = await send(kong.proxyUrl, { path: "/keyed/a", headers: [["apikey", KEY], ["X-Consumer-Username", "mallory"], ["X-Consumer-Custom-ID", "mallory-id"]] });
    assert.equal(r.status, 200);
    const seen = upstreamSaw.at(-1);
    assert.ok(seen, "the upstream got the call");
    assert.equal(seen["x-consumer-username"], "alice", "Kong replaced the forged header");
    assert.equal(seen["x-consumer-custom-id"], "cust-alice");
    const e = await eventOf("keyed", "/keyed/a");
    assert.equal(e.user_id, "cust-alice");
    assert.equal((e.request.headers as Record<string, string>)["x-consumer-username"], "alice", "the filter read the headers Kong set");
  });

  test("key-auth route without a key: 401 from Kong, and no event (the filter is attached after auth)", async () => {
    const r = await send(kong.proxyUrl, { path: "/keyed/no-key" });
    assert.equal(r.status, 401);
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(collector.events.filter((e) => e.request.uri.endsWith("/keyed/no-key")).length, 0);
  });

  test("route without auth, use_consumer_headers at its default (true): the forged X-Consumer-Username is taken", async () => {
    assert.equal((await send(kong.proxyUrl, { path: "/open-default/a", headers: [["X-Consumer-Username", "mallory"]] })).status, 200);
    const e = await eventOf("open-default", "/open-default/a");
    assert.equal(e.user_id, "mallory");
  });

  test("route without auth, use_consumer_headers false: no user or company from X-Consumer-* headers", async () => {
    assert.equal((await send(kong.proxyUrl, { path: "/open-strict/a", headers: [["X-Consumer-Username", "mallory"], ["X-Consumer-Custom-ID", "m-1"], ["X-Consumer-ID", "8e1b2c3d-0000-4000-8000-000000000000"]] })).status, 200);
    const e = await eventOf("open-strict", "/open-strict/a");
    assert.equal(e.user_id, undefined);
    assert.equal(e.company_id, undefined);
  });

  test("error.log: no error, trap or crashed worker", () => {
    assert.deepEqual(kong.workerExits(), []);
    assert.deepEqual(kong.badLines(), []);
  });
});
