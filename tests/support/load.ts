// A sustained request rate through the filter in the project's own host, on a real clock: the
// filter runs its real tick and dispatches over real sockets on 127.0.0.1 to a collector thread
// that answers each batch after a fixed delay. Requests are driven in-process (the host's HTTP
// steps, not a gateway), so the rate is what the filter's delivery must keep up with, not what one
// Node process can proxy. What it reports is what the collector received, by transaction id.
import { KongWasmHost, RequestState } from "../host/kong-host.ts";
import { CollectorThread } from "./collector-worker.ts";
import { moesifWasm } from "./harness.ts";

export interface LoadOptions {
  /** Requests per second (one worker). */
  rate: number;
  seconds: number;
  /** How long the collector takes to answer a batch. */
  collectorDelayMs: number;
  /** Filter configuration beyond application_id and api_endpoint (default: the defaults). */
  config?: Record<string, unknown>;
  kongVersion?: string;
  /** How long to wait after the traffic for the last events (default: 3 s). */
  drainMs?: number;
}

export interface LoadResult {
  /** Requests the driver ran (below rate × seconds if the machine could not keep up). */
  sent: number;
  /** The rate achieved. */
  rate: number;
  /** Distinct events the collector received, and repeats. */
  delivered: number;
  duplicates: number;
  /** Batch calls the collector answered, and the most in flight at once. */
  batches: number;
  maxConcurrent: number;
  /** Events the filter counted as dropped, by reason (metrics). */
  dropped: Record<string, number>;
  /**
   * The filter's own time in its root callbacks (tick, answers), per event delivered: delivery's CPU,
   * without the host functions it calls (this host's dispatch is JavaScript, unlike Kong's).
   */
  deliveryNsPerEvent: number;
  /** The host functions' share of those callbacks, per event delivered. */
  deliveryHostNsPerEvent: number;
  /** Root callbacks run (ticks and answers). */
  rootCalls: number;
  /** Traps, worker crashes and leaked fake requests the host saw (all must be 0). */
  traps: number;
  crashes: number;
  leaks: number;
  warnings: string[];
}

const responseBody = Buffer.from(JSON.stringify({ id: 42, name: "widget", tags: ["a", "b"], price: 9.99 }));

function request(i: number): RequestState {
  return {
    method: "GET", scheme: "http", requestUri: `/items/${i}?limit=10`, uri: `/items/${i}`, args: "limit=10", serverName: "kong",
    serverPort: 8000, remoteAddr: "10.0.0.1", remotePort: 40000 + (i % 20000), protocol: "HTTP/1.1", startMs: Date.now(),
    requestHeaders: [["host", Buffer.from("api.example.com")], ["user-agent", Buffer.from("load/1.0")], ["accept", Buffer.from("application/json")]],
    requestBody: null, status: 200, responseChunk: null,
    responseHeaders: [["content-type", Buffer.from("application/json")], ["content-length", Buffer.from(String(responseBody.length))]],
    headersSent: false, responseStarted: false, bodyBytesSent: responseBody.length, connectionId: i,
  };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const collector = await CollectorThread.start(opts.collectorDelayMs);
  const config = { application_id: "load", api_endpoint: collector.url, ...opts.config };
  const host = new KongWasmHost(moesifWasm(), [{ name: "moesif", config: JSON.stringify(config) }],
    { kongVersion: opts.kongVersion, autoTick: true, timeRootCalls: true });
  try {
    host.start();
    const start = performance.now();
    const end = start + opts.seconds * 1000;
    let sent = 0;
    for (let now = start; now < end; now = performance.now()) {
      const due = Math.floor((opts.rate * (now - start)) / 1000);
      for (; sent < due; sent++) host.newStream(request(sent)).runAll([responseBody]);
      await pause(1);
    }
    const elapsed = (performance.now() - start) / 1000;
    // The last events: a partial batch waits up to batch_max_wait, then its answer.
    const drainEnd = performance.now() + (opts.drainMs ?? 3000);
    let counts = await collector.counts();
    while (new Set(counts.ids).size < sent && performance.now() < drainEnd) {
      await pause(50);
      counts = await collector.counts();
    }
    await pause(100);
    counts = await collector.counts();
    const unique = new Set(counts.ids).size;
    const metric = (name: string) => Number(host.metrics.get(`moesif_events_dropped_${name}`) ?? 0n);
    return {
      sent, rate: sent / elapsed, delivered: unique, duplicates: counts.ids.length - unique,
      batches: counts.batches, maxConcurrent: counts.maxConcurrent,
      dropped: { queue_full: metric("queue_full"), retries_exhausted: metric("retries_exhausted"), rejected: metric("rejected"), too_large: metric("too_large") },
      deliveryNsPerEvent: unique > 0 ? Number(host.rootNs - host.rootHostNs) / unique : 0,
      deliveryHostNsPerEvent: unique > 0 ? Number(host.rootHostNs) / unique : 0,
      rootCalls: host.rootCalls,
      traps: host.traps.length,
      crashes: host.crashes.length,
      leaks: host.leaks.length,
      warnings: host.logs.filter((l) => l.level === "warn" || l.level === "error").map((l) => l.message),
    };
  } finally {
    host.stop();
    await collector.close();
  }
}
