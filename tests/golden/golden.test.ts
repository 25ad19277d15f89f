// Runs the golden corpus through the real gateway and compares each event the collector received
// with the exact expected event (only wall-clock values and generated ids are normalised).
import { test, describe, afterEach } from "node:test";
import assert from "node:assert/strict";
import { harness, Harness, send, assertHostClean } from "../support/harness.ts";
import { buildCorpus } from "./corpus.ts";
import { expectedEvent, normalise, upstreamHandler, upstreamOf } from "./expected.ts";
import { KONG_VERSIONS } from "../host/nwm.ts";

const cases = await buildCorpus();
let h: Harness | null = null;
afterEach(async () => {
  const done = h;
  h = null;
  if (!done) return;
  try {
    assertHostClean(done.host);
    assert.equal(done.host.pauses, 0, "the filter paused the stream");
    assert.deepEqual(done.collector.filterViolations, [], "every event fits the filter's own schema");
  } finally {
    // Closed whatever failed: else its servers hold the run open until the timeout.
    await done.close();
  }
});

// The whole corpus on every Kong version the test host copies (one per NWM pin).
for (const kongVersion of KONG_VERSIONS) describe(`golden corpus on Kong ${kongVersion}`, () => {
  for (const c of cases) {
    test(c.name, async () => {
      h = await harness({
        config: { application_id: "golden-app", ...c.config },
        host: { kongVersion, ...c.host },
        upstream: upstreamHandler(c),
        gateway: { route: c.route, service: c.service },
      });
      const r = c.request ?? {};
      const res = await send(h.gateway.url, { method: r.method, path: r.path, headers: r.headers, body: r.body });
      assert.equal(res.status, upstreamOf(c).status);
      await h.flush();
      assert.equal(h.collector.events.length, 1, "one event");
      const actual = normalise(h.collector.events[0], c.expect.requestTime !== undefined);
      assert.deepStrictEqual(actual, expectedEvent(c, h.host.kongVersion));
      const raw = h.collector.batches[0].body.toString("utf8");
      for (const r of c.raw ?? []) assert.ok(raw.includes(r), `the batch does not contain ${r}\n${raw}`);
      for (const [type, n] of Object.entries(c.reads ?? {})) {
        assert.equal(h.host.bufferReads.get(Number(type)) ?? 0, n, `get_buffer_bytes calls for buffer type ${type}`);
      }
    });
  }
});
