// Every collector call leaves a worker_connections slot behind it, in Kong's Wasm host at every
// release: ngx_wasm_module gives each call of a filter's timer a fake connection that only finishing
// the call's fake request frees; from Kong 3.7 a call that ends while another of the same root context
// is pending never finishes it (ngx_http_proxy_wasm_dispatch.c; tests/host/nwm.ts, leakOnOverlap),
// and a call made from an answer never does. The filter keeps to one call at a time from 3.7 and
// never dispatches from an answer on Kong: with a few dozen worker_connections, 300 batch calls
// against a slow collector would exhaust them many times over if it did not.
//
// Kong's worker_connections is nginx_events_worker_connections (kong/templates/kong_defaults.lua:83
// at 3.4.2, `auto`). Kong itself holds some of them: its listening sockets (proxy, admin) and its
// worker events (lua-resty-events' unix socket, listened on and connected to): KONG_OWN_SLOTS is room
// for those, far fewer than the 300 calls a leak of one slot per call would take.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startUpstream, Upstream } from "../../support/upstream.ts";
import { okJson, send } from "../../support/harness.ts";
import { Collector } from "../../collector/collector.ts";
import { nwmProfile } from "../../host/nwm.ts";
import { startKong, Kong, BUILT } from "../launcher.ts";
import { SKIP, KONG_BIN, KONG_VERSION } from "./suite.ts";

const CALLS = 300;
const KONG_OWN_SLOTS = 32;
// Where NWM does not leak overlapping calls (up to Kong 3.6), the filter may have up to 64 calls in
// flight at once (assembly/delivery/calllimit.ts, MAX_CALLS), each holding a fake connection and its
// socket: there the worker gets room for them on top.
const slots = 40 + KONG_OWN_SLOTS + (SKIP ? 0 : nwmProfile(KONG_VERSION).leakOnOverlap === null ? 2 * 64 : 0);

describe(`Kong ${KONG_VERSION}: ${CALLS} collector calls with ${slots} worker_connections`, { skip: SKIP }, () => {
  let upstream: Upstream, collector: Collector, kong: Kong;
  before(async () => {
    collector = await new Collector().start();
    // Answers that take a while, so that calls could overlap if the filter let them.
    collector.failAll({ delayMs: 30 });
    upstream = await startUpstream(okJson);
    kong = await startKong({
      bin: KONG_BIN, version: KONG_VERSION, filters: [BUILT.moesif()], extra: { nginx_events_worker_connections: slots },
      config: { services: [{ name: "conn", url: upstream.url, routes: [{ name: "conn", paths: ["/"], filters: [{ name: "moesif", config: { application_id: "conn", api_endpoint: collector.url, batch_size: 1, batch_max_wait: 100 } }] }] }] },
    });
  });
  after(async () => {
    await kong?.stop();
    await upstream?.close();
    await collector?.close();
  });

  test("every event arrives, no connection is lost, nothing is logged above warn", async () => {
    for (let i = 0; i < CALLS; i++) {
      const r = await send(kong.proxyUrl, { path: `/c/${i}` });
      assert.equal(r.status, 200, `request ${i}`);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 25)); // room for the one call at a time
    }
    const events = await collector.waitForEvents(CALLS, 60000);
    assert.equal(new Set(events.map((e) => e.transaction_id)).size, CALLS, "each event once");
    assert.ok(collector.batches.length >= CALLS / 10, `${collector.batches.length} batch calls`);
    assert.deepEqual(kong.badLines(), []);
    assert.ok(!/worker_connections are not enough/.test(kong.log()));
  });
});
