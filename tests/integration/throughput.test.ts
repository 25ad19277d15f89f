// Delivery keeps up with the traffic (issue "Keep up with Kong"): sustained request rates on a real
// clock, through the filter's real tick and real sockets, to a collector that takes its time to
// answer, counted by transaction id at the collector. And the pacing that makes it so, on a fake
// clock: full batches leave at once, partial ones at most once per batch_max_wait, and a quiet
// worker makes no call it does not need.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { runLoad, LoadResult } from "../support/load.ts";
import { KongWasmHost, RequestState } from "../host/kong-host.ts";
import { Collector } from "../collector/collector.ts";
import { moesifWasm, assertHostClean } from "../support/harness.ts";

function delivered(r: LoadResult, atLeast: number): void {
  const ratio = r.delivered / r.sent;
  const summary = `${r.delivered} of ${r.sent} delivered at ${Math.round(r.rate)} req/s in ${r.batches} batches (at most ${r.maxConcurrent} at once), ` +
    `dropped ${JSON.stringify(r.dropped)}; ${r.warnings.slice(0, 3).join(" | ")}`;
  assert.equal(r.traps + r.crashes + r.leaks, 0, `traps ${r.traps}, crashes ${r.crashes}, leaks ${r.leaks}`);
  assert.equal(r.duplicates, 0, summary);
  assert.ok(ratio >= atLeast, summary);
  console.log(summary);
}

describe("sustained traffic, real clock, default configuration", () => {
  // Kong 3.9 sends one call at a time (hostParallelCalls), Kong 3.6 as many as CallLimit allows.
  for (const kongVersion of ["3.9.1", "3.6.1"]) {
    test(`Kong ${kongVersion}: 5,000 requests/s, collector answering in 20 ms: at least 99.9% delivered, none twice`, async () => {
      delivered(await runLoad({ rate: 5000, seconds: 4, collectorDelayMs: 20, kongVersion }), 0.999);
    });
  }
  for (const kongVersion of ["3.9.1", "3.4.2"]) {
    test(`Kong ${kongVersion}: 2,000 requests/s, collector answering in 200 ms: at least 99.9% delivered, none twice`, async () => {
      delivered(await runLoad({ rate: 2000, seconds: 4, collectorDelayMs: 200, kongVersion }), 0.999);
    });
  }
});

/** A GET with a small JSON answer, at `startMs`. */
function call(i: number, startMs: number): RequestState {
  return {
    method: "GET", scheme: "http", requestUri: `/q/${i}`, uri: `/q/${i}`, args: "", serverName: "kong", serverPort: 8000,
    remoteAddr: "10.0.0.1", remotePort: 1, protocol: "HTTP/1.1", startMs, requestHeaders: [["host", Buffer.from("api.example.com")]],
    requestBody: null, responseHeaders: [["content-type", Buffer.from("application/json")]], responseChunk: null, status: 200,
    headersSent: false, responseStarted: false, bodyBytesSent: 2, connectionId: i,
  };
}

/**
 * The filter on a fake clock, ticked every 20 ms of it as Kong would, with `arrivals` (ms from the
 * start) as calls; what left when.
 */
async function paced(kongVersion: string, arrivals: number[], seconds: number, config: Record<string, unknown> = {}) {
  let nowMs = Date.UTC(2026, 0, 1);
  const start = nowMs;
  const collector = await new Collector().start();
  const host = new KongWasmHost(moesifWasm(), [{ name: "moesif", config: JSON.stringify({ application_id: "pace", api_endpoint: collector.url, ...config }) }],
    { autoTick: false, kongVersion, clock: () => nowMs });
  host.start();
  const period = host.tickPeriod(host.rootIds[0]);
  /** For each batch call: when it left (ms from the start) and the numbers of its events. */
  const batches: { at: number; calls: number[] }[] = [];
  let next = 0;
  try {
    for (let t = 0; t <= seconds * 1000; t += period) {
      nowMs = start + t;
      for (; next < arrivals.length && arrivals[next] <= t; next++) host.newStream(call(next, nowMs)).runAll([Buffer.from("{}")]);
      const before = host.calls.length;
      host.tickAll();
      for (const c of host.calls.slice(before)) {
        if (!c.headers.some(([k, v]) => k === ":path" && v.toString() === "/v1/events/batch")) continue;
        batches.push({ at: t, calls: (JSON.parse(c.body.toString()) as { request: { uri: string } }[]).map((e) => Number(e.request.uri.split("/q/")[1])) });
      }
      await host.settle();
    }
    assertHostClean(host);
    return { batches, period, calls: host.calls.length, events: collector.events.length };
  } finally {
    host.stop();
    await collector.close();
  }
}

describe("pacing (fake clock, a tick every 20 ms as Kong runs it)", () => {
  test("the tick's period is 20 ms, whatever batch_max_wait", async () => {
    for (const wait of [100, 1000, 60000]) assert.equal((await paced("3.9.1", [], 0, { batch_max_wait: wait })).period, 20);
  });

  for (const kongVersion of ["3.4.2", "3.9.1"]) {
    test(`Kong ${kongVersion}: a quiet worker (a call a second) sends at most one batch per batch_max_wait, and no event waits longer`, async () => {
      const arrivals = Array.from({ length: 30 }, (_, i) => i * 1000 + 7);
      const { batches, events } = await paced(kongVersion, arrivals, 31);
      assert.equal(events, 30);
      assert.ok(batches.length <= 31, `${batches.length} batches in 31 s`);
      for (let i = 1; i < batches.length; i++) assert.ok(batches[i].at - batches[i - 1].at >= 1000 - 20, `batches ${batches[i - 1].at} and ${batches[i].at} ms`);
      for (const b of batches) for (const n of b.calls) assert.ok(b.at - arrivals[n] <= 1000, `call ${n} at ${arrivals[n]} ms left at ${b.at} ms`);
    });

    test(`Kong ${kongVersion}: no call at all while nothing is queued`, async () => {
      const { calls } = await paced(kongVersion, [], 60);
      assert.equal(calls, 0, "not even the config fetch: no request has told the filter which host it is in");
    });
  }

  test("a full batch leaves at the first tick after it fills, even right after a partial batch", async () => {
    // 3 calls at 0 ms leave as a partial batch; 10 more at 100 ms fill a batch (batch_size 10).
    const arrivals = [0, 0, 0, ...Array.from({ length: 10 }, () => 100), ...Array.from({ length: 4 }, () => 200)];
    const { batches } = await paced("3.9.1", arrivals, 3, { batch_size: 10 });
    const at = (n: number) => batches.find((b) => b.calls.includes(n))!.at;
    // Kong 3.9: the config and rules fetches go first, one call at a time, a tick each.
    assert.ok(at(0) <= 60, `the first partial batch at ${at(0)} ms`);
    assert.equal(at(3), 100, "the full batch at the tick it filled in");
    assert.ok(at(13) >= at(0) + 980 && at(13) <= at(0) + 1000, `the next partial batch at ${at(13)} ms, batch_max_wait after the first`);
  });
});
