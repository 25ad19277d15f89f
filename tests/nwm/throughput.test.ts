// Keeping up with Kong (issue 20) in Kong's real host: nginx + ngx_wasm_module, one worker, the
// filter with its default configuration (application_id and api_endpoint only), loaded by
// autocannon at a fixed overall rate; the collector runs in a thread of its own and answers every
// batch after a fixed delay. What counts is what the collector received, by transaction id, against
// the requests that completed.
//
// The upstream is a second server in the same nginx serving a small JSON file, so the machine's
// cores go to the gateway, the filter, the load and the collector rather than to a Node upstream.
// On a small shared machine the load generator may not reach the rate asked for: the rate achieved
// is reported, and the assertions are on delivered/completed, not on the rate.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
// @ts-expect-error: autocannon ships no type declarations
import autocannonUntyped from "autocannon";
import { startNginx, versionsUnderTest, filterLines, Nginx, sleep } from "./nginx.ts";
import { freePort } from "../support/ports.ts";
import { CollectorThread } from "../support/collector-worker.ts";

interface AutocannonResult {
  requests: { total: number; sent: number; average: number };
  latency: { p99: number; average: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = autocannonUntyped as Autocannon;

const SECONDS = Number(process.env.NWM_LOAD_SECONDS ?? 5);
/** How long the last events may take after the load: a partial batch waits batch_max_wait (1 s), then its round trip. */
const DRAIN_MS = 15_000;
const CONNECTIONS = 25;

interface Case {
  kong: string;
  rate: number;
  collectorDelayMs: number;
  atLeast: number;
}

const CASES: Case[] = [
  { kong: "3.9.1", rate: 5000, collectorDelayMs: 20, atLeast: 0.999 },
  { kong: "3.6.1", rate: 5000, collectorDelayMs: 20, atLeast: 0.999 },
  { kong: "3.9.1", rate: 2000, collectorDelayMs: 200, atLeast: 0.99 },
  { kong: "3.6.1", rate: 2000, collectorDelayMs: 200, atLeast: 0.99 },
  { kong: "3.4.2", rate: 2000, collectorDelayMs: 200, atLeast: 0.99 },
].filter((c) => versionsUnderTest().some((v) => v === c.kong));

const rows: string[] = [];

/** The upstream: a second server of the same nginx, answering a small JSON file. */
function staticUpstream(port: number): { directives: string[]; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nwm-static-"));
  fs.writeFileSync(path.join(dir, "item.json"), JSON.stringify({ id: 42, name: "widget", tags: ["a", "b"], price: 9.99 }));
  // The worker may run as another user (nobody, when the tests run as root).
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(path.join(dir, "item.json"), 0o644);
  return {
    dir,
    directives: [`server { listen 127.0.0.1:${port}; location / { root ${dir}; default_type application/json; try_files /item.json =404; } }`],
  };
}

describe("sustained traffic in the real host, default configuration", () => {
  after(() => console.log(`\nreal-host throughput (one worker, default config, ${SECONDS} s of load):\n${rows.join("\n")}`));

  for (const c of CASES) {
    test(`Kong ${c.kong}: ${c.rate} requests/s, collector answering in ${c.collectorDelayMs} ms: at least ${c.atLeast * 100}% delivered, none twice`, async (t) => {
      const collector = await CollectorThread.start(c.collectorDelayMs);
      const upstreamPort = await freePort();
      const upstream = staticUpstream(upstreamPort);
      let nginx: Nginx | null = null;
      try {
        const ng = (nginx = await startNginx({
          kong: c.kong, upstream: `http://127.0.0.1:${upstreamPort}`, http: upstream.directives, workerConnections: 4096,
          filters: [{ config: { application_id: "throughput", api_endpoint: collector.url } }],
        }));
        const run = (duration: number) => autocannon({
          url: `${ng.url}/items/1?limit=10`, connections: CONNECTIONS, overallRate: c.rate, duration,
          headers: { host: "api.example.com", accept: "application/json" },
        });
        // A second's warm-up (the JIT's first calls, the collector thread's first batches): its
        // events count like the others, its rate is not reported.
        const warm = await run(1);
        const load = await run(SECONDS);
        const loadEnd = Date.now();
        const completed = warm.requests.total + load.requests.total;
        // Until every completed request's event could be there and nothing came for 1.5 s (a
        // partial batch waits up to batch_max_wait, 1 s), or DRAIN_MS.
        let counts = await collector.counts();
        let lastGrowth = Date.now();
        for (let seen = counts.ids.length; Date.now() - loadEnd < DRAIN_MS; ) {
          if (new Set(counts.ids).size >= completed && Date.now() - lastGrowth > 1500) break;
          await sleep(100);
          counts = await collector.counts();
          if (counts.ids.length > seen) (seen = counts.ids.length), (lastGrowth = Date.now());
        }
        const drainedIn = lastGrowth - loadEnd;
        const unique = new Set(counts.ids).size;
        const duplicates = counts.ids.length - unique;
        const achieved = load.requests.total / load.duration;
        const warnings = filterLines(nginx.log(), "warn").filter((l) => !/on this Kong \(3\.4\/3\.5\)/.test(l));
        const row = `Kong ${c.kong.padEnd(5)} ${String(c.rate).padStart(4)} req/s asked, ${Math.round(achieved)} achieved, collector ${String(c.collectorDelayMs).padStart(3)} ms: ` +
          `${unique} events for ${completed} completed requests: ${((100 * unique) / Math.max(1, completed)).toFixed(2)}%, ${duplicates} duplicates, ` +
          `${counts.batches} batches (at most ${counts.maxConcurrent} at once), drained ${(drainedIn / 1000).toFixed(1)} s after the load; ` +
          `p99 latency ${load.latency.p99} ms, ${load.errors} errors, ${load.timeouts} timeouts, ${load.non2xx} non-2xx` +
          `${warnings.length ? `; ${warnings.length} filter warnings: ${warnings.slice(0, 2).join(" | ")}` : ""}`;
        rows.push(row);
        t.diagnostic(row);

        assert.equal(nginx.crashes(), 0, nginx.badLines().join("\n"));
        assert.deepEqual(nginx.badLines(), [], "no error, trap or crash in error.log");
        assert.equal(warm.non2xx + load.non2xx, 0, "every completed request answered 2xx");
        assert.ok(completed > c.rate * SECONDS * 0.2, `the load ran: ${completed} requests completed`);
        assert.equal(duplicates, 0, "no event arrived twice");
        // autocannon stops with a request in flight on each connection: nginx completes it and its
        // event arrives, but autocannon does not count it (its requests.sent is no count of requests).
        assert.ok(unique <= completed + 2 * CONNECTIONS, `${unique} events for ${completed} completed requests: no event of a request never made`);
        assert.ok(unique >= c.atLeast * completed, row);
      } finally {
        await nginx?.stop();
        await collector.close();
        fs.rmSync(upstream.dir, { recursive: true, force: true });
      }
    });
  }
});
