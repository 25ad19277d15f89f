// Kong 3.4/3.5's Wasm host (ngx_wasm_module 21732b18) crashes the worker when a filter's timer reads a
// call's answer body (README, Compatibility ¹): there the filter reads nothing but :status and
// never fetches /v1/config or /v1/rules. This holds it to that under a sustained minute of traffic:
// the collector answers every batch (and would serve config and rules, were they asked for), the
// worker never exits on a signal, and every request's event arrives exactly once.
//
// Runs where the Kong under test is 3.4 or 3.5; KONG_SOAK_SECONDS shortens the minute for a developer's loop.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startUpstream, Upstream } from "../../support/upstream.ts";
import { okJson } from "../../support/harness.ts";
import { drive, Sink } from "../traffic.ts";
import { startKong, Kong, BUILT } from "../launcher.ts";
import { filterLines } from "../logscan.ts";
import { SKIP, KONG_BIN, KONG_VERSION, PROFILE, sleep } from "./suite.ts";

const KONG = KONG_VERSION;
const SECONDS = Number(process.env.KONG_SOAK_SECONDS ?? 60);
const RATE = 200;

test(`Kong ${KONG} (3.4/3.5 profile): ${SECONDS} s at ${RATE} requests/s, no worker crash, every event exactly once`,
  { skip: SKIP || (PROFILE.rulesLoad && `Kong ${KONG} reads answers safely (3.6+): the 3.4/3.5 profile is not in force`) }, async (t) => {
    const sink = new Sink();
    let upstream: Upstream | null = null;
    let kong: Kong | null = null;
    try {
      const collector = await sink.collector();
      upstream = await startUpstream(okJson);
      kong = await startKong({
        bin: KONG_BIN, version: KONG, filters: [BUILT.moesif()],
        config: { services: [{ name: "soak", url: upstream.url, routes: [{ name: "soak", paths: ["/"], filters: [{ name: "moesif", config: { application_id: "soak", api_endpoint: collector.url } }] }] }] },
      });
      const started = Date.now();
      // Every fourth request a POST with a JSON body (body capture on both sides of the call).
      const sent = await drive(kong.proxyUrl, {
        rate: RATE, seconds: SECONDS, connections: 8, path: (i) => `/soak/${i}?page=${i % 7}`,
        body: (i) => (i % 4 === 0 ? JSON.stringify({ order: i, items: [{ sku: "a", qty: i % 5 }], note: "x".repeat(i % 300) }) : undefined),
      });
      const trafficSeconds = (Date.now() - started) / 1000;
      const ids = sent.map((r) => r.id).filter(Boolean);
      // The last partial batch leaves within batch_max_wait (1 s by default).
      await sink.waitFor(ids, 15_000);
      await sleep(1_500);
      const missing = ids.filter((id) => !sink.arrivals.has(id));
      const duplicates = sink.duplicates();
      const summary = `Kong ${KONG}: ${sent.length} requests in ${trafficSeconds.toFixed(1)} s (${Math.round(sent.length / trafficSeconds)}/s), ` +
        `${ids.length - missing.length} events delivered, ${missing.length} missing, ${duplicates.length} duplicates, ` +
        `${sink.calls.length} batch calls, ${collector.configRequests} config and ${collector.rulesRequests} rules fetches, ` +
        `${kong.workerExits().length} worker crashes`;
      t.diagnostic(summary);

      assert.deepEqual(kong.workerExits(), [], `the worker exited on a signal:\n${kong.badLines().join("\n")}`);
      assert.deepEqual(kong.badLines(), [], "no error, trap or crash in error.log");
      assert.deepEqual(sent.filter((r) => r.status !== 200 || !r.id).slice(0, 5), [], "every request answered 200 with a transaction id");
      assert.equal(new Set(ids).size, ids.length, "every request has its own transaction id");
      assert.deepEqual(duplicates, [], "no event arrived twice");
      assert.deepEqual(missing.slice(0, 10), [], `${missing.length} events missing`);
      assert.deepEqual(collector.rejected, [], "the collector refused nothing");
      assert.equal(collector.configRequests + collector.rulesRequests, 0, "no config or rules fetch on 3.4 (its answer's body would crash the worker)");
      // Nothing dropped: the filter's warnings are only its one notice about 3.4/3.5.
      assert.deepEqual(filterLines(kong.log(), "warn").filter((l) => !/on this Kong \(3\.4\/3\.5\)/.test(l)), []);
    } finally {
      await kong?.stop();
      await upstream?.close();
      await sink.close();
    }
  });
