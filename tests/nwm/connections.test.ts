// Every collector call leaves a worker_connections slot behind it, in the real host, at every pin.
// NWM gives each call of a filter's timer a fake connection that only finishing the call's fake
// request frees; from Kong 3.7 a call that ends while another of the same root context is pending
// never finishes it (ngx_http_proxy_wasm_dispatch.c; tests/host/nwm.ts, leakOnOverlap), and a call
// made from an answer never does at any pin. The filter keeps to one call at a time from 3.7 and never
// dispatches from an answer on Kong: with 40 worker_connections, 300 batch calls against a slow
// collector would exhaust them many times over if it did not.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startNginx, versionsUnderTest, Nginx } from "./nginx.ts";
import { startUpstream, Upstream } from "../support/upstream.ts";
import { okJson, send } from "../support/harness.ts";
import { Collector } from "../collector/collector.ts";
import { nwmProfile } from "../host/nwm.ts";

const CALLS = 300;
// Where NWM does not leak overlapping calls (up to Kong 3.6, tests/host/nwm.ts leakOnOverlap), the
// filter may have up to 64 calls in flight at once (assembly/delivery/calllimit.ts, MAX_CALLS), each
// holding a fake connection and its socket: 40 slots could run out without any being lost. There the
// worker gets room for that many on top, still fewer than the 300 calls a leak of one slot per call
// would take.
const slotsFor = (kong: string) => (nwmProfile(kong).leakOnOverlap === null ? 40 + 2 * 64 : 40);

for (const kong of versionsUnderTest()) {
  describe(`Kong ${kong}: ${CALLS} collector calls with ${slotsFor(kong)} worker_connections`, () => {
    let upstream: Upstream, collector: Collector, nginx: Nginx;
    before(async () => {
      collector = await new Collector().start();
      // Answers that take a while, so that calls could overlap if the filter let them.
      collector.failAll({ delayMs: 30 });
      upstream = await startUpstream(okJson);
      nginx = await startNginx({
        kong, upstream: upstream.url, workerConnections: slotsFor(kong),
        filters: [{ config: { application_id: "conn", api_endpoint: collector.url, batch_size: 1, batch_max_wait: 100 } }],
      });
    });
    after(async () => {
      await nginx?.stop();
      await upstream?.close();
      await collector?.close();
    });

    test("every event arrives, no connection is lost, nothing is logged above warn", async () => {
      for (let i = 0; i < CALLS; i++) {
        const r = await send(nginx.url, { path: `/c/${i}` });
        assert.equal(r.status, 200, `request ${i}`);
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 25)); // room for the one call at a time
      }
      const events = await collector.waitForEvents(CALLS, 60000);
      assert.equal(new Set(events.map((e) => e.transaction_id)).size, CALLS, "each event once");
      assert.ok(collector.batches.length >= CALLS / 10, `${collector.batches.length} batch calls`);
      assert.deepEqual(nginx.badLines(), []);
      assert.ok(!/worker_connections are not enough/.test(nginx.log()));
    });
  });
}
