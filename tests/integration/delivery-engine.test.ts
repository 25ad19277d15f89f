// The delivery engine's eight findings (issue 30), each in the project's own host at Kong's
// per-version rules, on virtual time: the filter's clock, the collector's answers and NWM's timers
// all run on test clocks, so ten minutes of traffic take seconds. The collector is in-process
// (virtualDispatch): it counts every event by transaction_id, answers when told, or never.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { KongWasmHost, RequestState, VirtualAnswer } from "../host/kong-host.ts";
import { moesifWasm, assertHostClean } from "../support/harness.ts";
import { versionAtLeast } from "../host/nwm.ts";

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

interface SimOptions {
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
const tagged = (): Pair[] => [["x-moesif-config-etag", Buffer.from("etag-1")], ["x-moesif-rules-tag", Buffer.from("rules-1")]];

/** The filter in the test host, on a wall clock and a real (monotonic) clock the test moves. */
class Sim {
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

describe("finding 1: the wall clock steps back 50 ms, back an hour, forward 2 minutes", () => {
  for (const kongVersion of ["3.6.1", "3.8.0", "3.9.1"]) {
    test(`Kong ${kongVersion}: no event lost, none twice, no calls overlapping, no bogus line`, () => {
      // Answers take 2 s: the steps come while a batch is out.
      const sim = new Sim({ kongVersion, batch: () => ({ afterMs: 2000, status: 201, headers: tagged() }) });
      sim.traffic(100, 60, (t) => {
        if (t === 10000) sim.wall -= 50;
        if (t === 20000) sim.wall -= 3600000;
        if (t === 30000) sim.wall += 120000; // an NTP step forward: no real time passes
      });
      sim.drain();
      assert.equal(sim.delivered(), sim.sent, `${sim.delivered()} of ${sim.sent} delivered`);
      assert.equal(sim.duplicates(), 0);
      if (versionAtLeast(kongVersion, "3.7.0")) assert.equal(sim.maxOut, 1, "one call out at a time");
      assertHostClean(sim.host);
      const bogus = sim.warns().filter((l) => /did not answer|dropped|18446744073709/.test(l));
      assert.deepEqual(bogus, []);
      // Partial batches went on through the hour back: no gap over batch_max_wait + the answer time.
      const gaps = sim.batchCalls.slice(1).map((b, i) => b.at - sim.batchCalls[i].at);
      assert.ok(Math.max(...gaps) <= 3100, `largest gap between batch calls ${Math.max(...gaps)} ms`);
    });
  }
});

/** At 200 requests/s for 10 minutes with GET /v1/config never answering (https://api.moesif.net, the default endpoint). */
function configHanging(kongVersion: string): Sim {
  const sim = new Sim({ kongVersion, config_: () => ({ hang: true }) });
  sim.traffic(200, 600);
  sim.drain(60);
  const ratio = sim.delivered() / sim.sent;
  const gaps = sim.batchCalls.slice(1).map((b, i) => b.at - sim.batchCalls[i].at);
  console.log(`Kong ${kongVersion}, /v1/config never answering, 200 req/s for 10 min: ${(ratio * 100).toFixed(2)}% delivered ` +
    `(${sim.delivered()} of ${sim.sent}), ${sim.configCalls} config fetches, longest gap between batch calls ${(Math.max(...gaps) / 1000).toFixed(1)} s`);
  return sim;
}

describe("finding 2: a lost fetch does not hold the only call slot", () => {
  for (const kongVersion of ["3.7.1", "3.8.0"]) {
    test(`Kong ${kongVersion}: /v1/config never answering, 200 req/s for 10 minutes: at least 97% delivered, batches keep flowing`, () => {
      const sim = configHanging(kongVersion);
      assert.ok(sim.delivered() / sim.sent >= 0.97, `${sim.delivered()} of ${sim.sent}`);
      assert.equal(sim.duplicates(), 0);
      assert.equal(sim.maxOut, 1);
      // Fetched at start, presumed lost after the resolver's 30 s, five 2 s steps and a second;
      // then 5 minutes later; the next would be 10 minutes after that.
      assert.equal(sim.configCalls, 2);
      const gaps = sim.batchCalls.slice(1).map((b, i) => b.at - sim.batchCalls[i].at);
      // The gap: the fetch's 41 s, after the last batch's answer (100 ms) and before the next tick's call.
      assert.ok(Math.max(...gaps) <= 42000, `longest gap between batch calls ${Math.max(...gaps)} ms`);
      // The drop line during the hold counts the fetch among the calls in flight (it said 0 before).
      const drops = sim.warns().filter((l) => l.startsWith("moesif: dropped"));
      assert.ok(drops.some((l) => /delivered 0 events\/s in 0 calls\/s, 1 calls in flight \(limit 1\)$/.test(l)), drops.join("\n"));
      assertHostClean(sim.host);
    });
  }

  test("Kong 3.9.1: /v1/config timing out (the host reports it), 200 req/s for 10 minutes: at least 99.5% delivered", () => {
    const sim = configHanging("3.9.1");
    assert.ok(sim.delivered() / sim.sent >= 0.995, `${sim.delivered()} of ${sim.sent}`);
    assert.equal(sim.duplicates(), 0);
    assert.equal(sim.configCalls, 2, "a timed-out fetch is a lost one: 5 minutes before the next");
    assertHostClean(sim.host);
  });
});

describe("finding 3: Retry-After is capped at max_retry_age", () => {
  for (const kongVersion of ["3.6.1", "3.9.1"]) {
    test(`Kong ${kongVersion}: a 503 with Retry-After: 86400 waits max_retry_age (60 s here), not a day`, () => {
      const sim = new Sim({
        kongVersion, config: { max_retry_age: 60000 },
        batch: (n) => n === 1 ? { afterMs: 100, status: 503, headers: [["retry-after", Buffer.from("86400")]] } : { afterMs: 100, status: 201, headers: tagged() },
      });
      sim.traffic(10, 1);
      sim.drain(70);
      // The first (a partial batch of one event) is answered 503; the next call is its retry, with the
      // events queued meanwhile right after it.
      const wait = sim.batchCalls[1].at - sim.batchCalls[0].at;
      assert.ok(wait >= 60000 && wait <= 60200, `the next batch call after ${wait} ms`);
      assert.ok(sim.warns().some((l) => l.endsWith("answered 503; a batch of 1 events will be retried in 60000 ms (attempt 2)")), sim.warns().join("\n"));
      assert.equal(sim.delivered(), sim.sent);
    });
  }
});

describe("finding 4: one call's success does not lift another's pause (Kong 3.4-3.6)", () => {
  for (const kongVersion of ["3.4.2", "3.6.1"]) {
    test(`Kong ${kongVersion}: after a 429, no new batch call until its pause has passed, whatever the other answers`, () => {
      // Several calls out at once (batch_size 10 at 200 requests/s, answers in 500 ms); the fifth is a 429.
      const sim = new Sim({
        kongVersion, config: { batch_size: 10 },
        batch: (n) => n === 5 ? { afterMs: 500, status: 429, headers: [["retry-after", Buffer.from("30")]] } : { afterMs: 500, status: 201, headers: tagged() },
      });
      sim.traffic(200, 40);
      sim.drain(60);
      const warn = sim.warns().find((l) => l.includes("answered 429"))!;
      const delay = Number(/retried in (\d+) ms/.exec(warn)![1]);
      // 3.6 reads Retry-After (30 s); 3.4/3.5 read nothing but :status: the backoff alone (0.5-1 s).
      if (versionAtLeast(kongVersion, "3.6.0")) assert.equal(delay, 30000);
      const answeredAt = sim.batchCalls[4].at + 500;
      const during = sim.batchCalls.filter((b) => b.at > answeredAt && b.at < answeredAt + delay - 20);
      assert.deepEqual(during, [], `batch calls within the ${delay} ms pause`);
      assert.ok(sim.batchCalls.filter((b, i) => i !== 4 && b.at < answeredAt && b.at > sim.batchCalls[4].at).length > 0, "other calls were out, and answered 2xx meanwhile");
      assert.equal(sim.delivered(), sim.sent);
      assert.equal(sim.duplicates(), 0);
    });
  }
});

describe("finding 5: a call answered late is counted right and not sent twice", () => {
  test("Kong 3.8.0: a trickling 1 MB batch answered 201 after 60 s is within its presumption (a send wait per 64 KiB): sent once, nothing overlaps", () => {
    // Events of about 40 KB: a batch leaves at 1 MB, 26 events.
    const big = Buffer.from(JSON.stringify({ blob: "x".repeat(40000) }));
    let slow = 0;
    const sim = new Sim({
      kongVersion: "3.8.0", responseBody: big,
      batch: (_n, events) => events > 20 && slow++ === 0 ? { afterMs: 60000, status: 201, headers: tagged() } : { afterMs: 100, status: 201, headers: tagged() },
    });
    sim.traffic(60, 1);
    sim.drain(120);
    assert.equal(slow > 0, true, "a batch of over 20 such events (1 MB) was answered after 60 s");
    assert.equal(sim.delivered(), sim.sent);
    assert.equal(sim.duplicates(), 0, "not sent again");
    assert.equal(sim.maxOut, 1);
    assert.deepEqual(sim.warns().filter((l) => l.includes("did not answer")), []);
    assertHostClean(sim.host);
  });

  test("Kong 3.6.1: answered 2xx after its presumption, before its retry: delivered, not sent again", () => {
    // http:// to an IP address, timeout 1 s: presumed lost after connect, one send, two reads and a second (5 s).
    const sim = new Sim({
      kongVersion: "3.6.1", config: { api_endpoint: "http://10.0.0.9:8080", connect_timeout: 1000, send_timeout: 1000 },
      batch: (n) => n === 1 ? { afterMs: 5100, status: 201, headers: tagged() } : { afterMs: 100, status: 201, headers: tagged() },
    });
    sim.traffic(1, 1);
    sim.drain(60);
    assert.ok(sim.warns().some((l) => l.startsWith("moesif: collector did not answer within 5000 ms; a batch of 1 events will be retried")), sim.warns().join("\n"));
    assert.ok(sim.warns().some((l) => l.startsWith("moesif: collector accepted a batch of 1 events after its call was presumed lost; counted delivered, not sent again")), sim.warns().join("\n"));
    assert.equal(sim.batchCalls.length, 1, "not sent again");
    assert.equal(sim.delivered(), 1);
  });

  test("Kong 3.6.1: answered 2xx after it was sent again: the repeat is counted a duplicate and logged", () => {
    const sim = new Sim({
      kongVersion: "3.6.1", config: { api_endpoint: "http://10.0.0.9:8080", connect_timeout: 1000, send_timeout: 1000 },
      batch: (n) => n === 1 ? { afterMs: 9000, status: 201, headers: tagged() } : { afterMs: 100, status: 201, headers: tagged() },
    });
    sim.traffic(1, 1);
    sim.drain(60);
    assert.equal(sim.batchCalls.length, 2);
    assert.ok(sim.warns().some((l) => l.startsWith("moesif: collector accepted a batch of 1 events a second time")), sim.warns().join("\n"));
    // Moesif keeps one of each transaction_id: the events are delivered once.
    assert.equal(sim.delivered(), 1);
  });
});

describe("finding 6: an nginx that does not declare its Kong release gets the safe profile", () => {
  test("plain nginx + NWM at Kong 3.6's pin, no ngx.kong_version: one call at a time, nothing read but :status", () => {
    const sim = new Sim({
      kongVersion: "3.6.1", plainNginx: true, config: { batch_size: 50 },
      batch: (n) => n === 1 ? { afterMs: 1000, status: 503, headers: [["retry-after", Buffer.from("7")]] } : { afterMs: 1000, status: 201, headers: tagged() },
    });
    // Answers in 1 s, 4 batches a second: Kong 3.6 would have several calls out at once.
    sim.traffic(200, 3);
    sim.drain(60);
    assert.equal(sim.maxOut, 1, "one call at a time");
    assert.equal(sim.configCalls, 0, "no fetch: answer bodies are not read");
    const warn = sim.warns().find((l) => l.includes("answered 503"))!;
    assert.ok(Number(/retried in (\d+) ms/.exec(warn)![1]) <= 1000, `Retry-After is not read: ${warn}`);
    assert.ok(sim.warns().some((l) => l.startsWith("moesif: on this nginx sampling from /v1/config") && l.includes("$kong_version")), sim.warns().join("\n"));
    assert.equal(sim.delivered(), sim.sent);
    assertHostClean(sim.host);
  });

  test("the same nginx declaring ngx.kong_version 3.6.1 gets Kong 3.6's profile: several calls at once, answers read", () => {
    const sim = new Sim({ kongVersion: "3.6.1", plainNginx: true, declare: "3.6.1", config: { batch_size: 50 }, batch: () => ({ afterMs: 1000, status: 201, headers: tagged() }) });
    sim.traffic(200, 3);
    sim.drain(30);
    assert.ok(sim.maxOut > 1, `${sim.maxOut} calls at most`);
    assert.equal(sim.configCalls, 1);
    assert.equal(sim.delivered(), sim.sent);
  });

  test("an unparseable ngx.kong_version is not taken for Kong 3.4/3.5: the safe profile", () => {
    const sim = new Sim({ kongVersion: "3.6.1", plainNginx: true, declare: "three-point-six", config: { batch_size: 50 }, batch: () => ({ afterMs: 1000, status: 201, headers: tagged() }) });
    sim.traffic(200, 3);
    sim.drain(60);
    assert.equal(sim.maxOut, 1);
    assert.equal(sim.delivered(), sim.sent);
  });
});

describe("finding 7: the adaptive limit follows the need (Kong 3.6)", () => {
  test("after a burst, steady traffic needing about 15 calls: a collector slowing to 3 s answers meets at most twice that many calls", () => {
    let slow = false;
    const sim = new Sim({ kongVersion: "3.6.1", config: { batch_size: 10, event_queue_size: 100000, event_queue_bytes: 64 * 1024 * 1024 },
      batch: () => ({ afterMs: slow ? 3000 : 500, status: 201, headers: tagged() }) });
    sim.traffic(2000, 5); // the burst: the limit grows
    const outAt = () => sim.host.calls.filter((c) => !c.outcome).length;
    let steadyMax = 0;
    sim.traffic(300, 20, (t) => {
      if (t >= 15000) steadyMax = Math.max(steadyMax, outAt());
    });
    slow = true;
    let slowMax = 0;
    // Answers now take 3 s: the calls pile up to whatever the limit allows.
    sim.traffic(300, 3, () => (slowMax = Math.max(slowMax, outAt())));
    slow = false;
    sim.drain(60);
    assert.ok(steadyMax >= 10 && steadyMax <= 20, `steady traffic had ${steadyMax} calls out`);
    assert.ok(slowMax <= 2 * steadyMax, `${slowMax} calls out in the first 3 s of slow answers, after a need of ${steadyMax}`);
    assert.equal(sim.delivered(), sim.sent, sim.warns().join("\n"));
  });
});
