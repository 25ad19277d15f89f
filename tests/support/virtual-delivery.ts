// The filter in the project's own host on virtual time (issue 30): the filter's wall clock,
// NWM's timers and the collector's answers all run on clocks the caller moves, so minutes of
// traffic take seconds. The collector is in-process (KongWasmHost's virtualDispatch): it counts
// every event by transaction_id and answers when told, or never. Used by
// tests/integration/delivery-engine.test.ts and by the benchmarks (BENCHMARKS.md §9b).
import { KongWasmHost, RequestState, VirtualAnswer } from "../host/kong-host.ts";
import { moesifWasm } from "./harness.ts";

type Pair = [string, Buffer];
const START = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A GET with a small JSON answer, at `startMs`. */
function request(i: number, startMs: number): RequestState {
  return {
    method: "GET", scheme: "http", requestUri: `/q/${i}`, uri: `/q/${i}`, args: "", serverName: "kong", serverPort: 8000,
    remoteAddr: "10.0.0.1", remotePort: 1, protocol: "HTTP/1.1", startMs, requestHeaders: [["host", Buffer.from("api.example.com")]],
    requestBody: null, responseHeaders: [["content-type", Buffer.from("application/json")]], responseChunk: null, status: 200,
    headersSent: false, responseStarted: false, bodyBytesSent: 2, connectionId: i,
  };
}

export interface SimOptions {
  kongVersion: string;
  config?: Record<string, unknown>;
  /** How the collector treats the n-th batch call, of `events` events (default: 201 after 100 ms). */
  batch?: (n: number, events: number) => VirtualAnswer;
  /** How it treats GET /v1/config (default: 200 after 100 ms). */
  config_?: () => VirtualAnswer;
  /** Set ngx.kong_version on every request (plain nginx declaring its release); "" declares nothing. */
  declare?: string;
  /** Plain nginx with NWM at this version's pin, not Kong. */
  plainNginx?: boolean;
  /** A response body for every request (default "{}"). */
  responseBody?: Buffer;
}

const path = (headers: Pair[]) => headers.find(([k]) => k === ":path")![1].toString();
export const tagged = (): Pair[] => [["x-moesif-config-etag", Buffer.from("etag-1")], ["x-moesif-rules-tag", Buffer.from("rules-1")]];

/** The filter in the test host, on a wall clock and a real (monotonic) clock the test moves. */
export class Sim {
  wall = START;
  real = START;
  host: KongWasmHost;
  /** transaction_id → how many times the collector accepted it. */
  received = new Map<string, number>();
  sent = 0;
  batchCalls: { at: number; events: number }[] = [];
  configCalls = 0;
  /** The most calls out at once (dispatched, not yet ended by an answer or NWM's timers). */
  maxOut = 0;
  private n = 0;

  constructor(private o: SimOptions) {
    const config = { application_id: "engine", ...(o.config ?? {}) };
    this.host = new KongWasmHost(moesifWasm(), [{ name: "moesif", config: JSON.stringify(config) }], {
      autoTick: false, kongVersion: o.kongVersion, clock: () => this.wall, timerClock: () => this.real, plainNginx: o.plainNginx,
      virtualDispatch: (call) => this.dispatch(call.headers, call.body),
    });
    this.host.start();
  }

  private dispatch(headers: Pair[], body: Buffer): VirtualAnswer {
    // The host has this call among its calls already: count those not yet ended.
    this.maxOut = Math.max(this.maxOut, this.host.calls.filter((c) => !c.outcome).length);
    const p = path(headers);
    const ends = (a: VirtualAnswer): VirtualAnswer => a;
    if (p === "/v1/events/batch") {
      const events = JSON.parse(body.toString()) as { transaction_id: string }[];
      this.batchCalls.push({ at: this.real - START, events: events.length });
      const a = (this.o.batch ?? (() => ({ afterMs: 100, status: 201, headers: tagged() })))(this.batchCalls.length, events.length);
      if (!("hang" in a) && a.status >= 200 && a.status < 300) {
        for (const e of events) this.received.set(e.transaction_id, (this.received.get(e.transaction_id) ?? 0) + 1);
      }
      return ends(a);
    }
    if (p === "/v1/config") {
      this.configCalls++;
      return ends((this.o.config_ ?? (() => ({ afterMs: 100, status: 200, headers: tagged(), body: Buffer.from("{}") })))());
    }
    return ends({ afterMs: 100, status: 200, headers: tagged(), body: Buffer.from("[]") });
  }

  /** One request through the filter. */
  request(): void {
    const s = request(this.n++, this.wall);
    if (this.o.declare !== undefined && this.o.declare !== "") s.ngxVars = { kong_version: this.o.declare };
    this.host.newStream(s).runAll([this.o.responseBody ?? Buffer.from("{}")]);
    this.sent++;
  }

  /** Real time passes by `ms` (the wall clock with it, unless `wallMs` says otherwise), then a tick. */
  step(ms: number, wallMs = ms): void {
    this.real += ms;
    this.wall += wallMs;
    // Calls end when their answer comes or NWM's timer fires (a hang: its timeout argument).
    this.host.runDue();
    this.host.tickAll();
  }

  /** `seconds` of traffic at `rate` requests/s, ticking every 20 ms. */
  traffic(rate: number, seconds: number, each?: (t: number) => void): void {
    let due = 0;
    for (let t = 0; t < seconds * 1000; t += 20) {
      due += (rate * 20) / 1000;
      while (due >= 1) {
        this.request();
        due--;
      }
      each?.(t);
      this.step(20);
    }
  }

  /** Quiet time until nothing is queued or out (at most `seconds`). */
  drain(seconds = 120): void {
    for (let t = 0; t < seconds * 1000; t += 20) this.step(20);
  }

  delivered(): number {
    return this.received.size;
  }

  duplicates(): number {
    return [...this.received.values()].filter((n) => n > 1).length;
  }

  warns(): string[] {
    return this.host.logs.filter((l) => l.source === "filter" && (l.level === "warn" || l.level === "error")).map((l) => l.message);
  }
}

/** At 200 requests/s for 10 minutes with GET /v1/config never answering (https://api.moesif.net, the default endpoint). */
export function configHanging(kongVersion: string): { sim: Sim; ratio: number; longestGapMs: number } {
  const sim = new Sim({ kongVersion, config_: () => ({ hang: true }) });
  sim.traffic(200, 600);
  sim.drain(60);
  const ratio = sim.delivered() / sim.sent;
  const longestGapMs = Math.max(...sim.batchCalls.slice(1).map((b, i) => b.at - sim.batchCalls[i].at));
  return { sim, ratio, longestGapMs };
}

