import { Driver, Out, profileOf, optionsFor } from "./driver";
import { KIND_BATCH, KIND_CONFIG, KIND_RULES } from "../../delivery/inflight";
import { LOST_CALL_CAP_MS } from "../../delivery/presume";

/** Ticks of 20 ms until `ms` have passed. */
function run(d: Driver, ms: i64): void {
  for (let t: i64 = 0; t < ms; t += 20) d.tick(20);
}

/** Answers every config or rules fetch out with 200 (the driver's body is "{}"). */
function answerFetches(d: Driver): void {
  for (let i = d.out.length - 1; i >= 0; i--) if (d.out[i].kind != KIND_BATCH) d.answer(d.out[i], 200);
}

/**
 * A batch of 5 sent on a host that never reports failures (Kong 3.7/3.8), its call left
 * unanswered until it is presumed lost (4 × 1 s + 1 s at these options): that call, for a late answer.
 */
function presumedLost(d: Driver): Out {
  d.tick();
  answerFetches(d);
  d.offer(5);
  d.tick();
  const first = d.batches()[0];
  d.out.splice(d.out.indexOf(first), 1);
  run(d, 5100);
  return first;
}

describe("DeliveryCore: one call at a time", () => {
  it("never has two calls out, fetches included", () => {
    const d = new Driver(optionsFor(), profileOf(false, false));
    d.autoFetch = false;
    d.offer(12);
    d.tick();
    expect(d.out.length).toBe(1);
    expect(d.out[0].kind).toBe(KIND_BATCH, "a batch waits: the fetch yields");
    for (let i = 0; i < 20; i++) {
      d.tick();
      expect(d.core.table.size).toBeLessThanOrEqual(1);
      if (d.out.length > 0) d.answer(d.out[0], 200);
    }
    expect(d.stats.sent).toBe(12);
    expect(d.maxOut).toBe(1);
  });

  it("fetches only when no batch waits, with a shorter timeout than batches", () => {
    const o = optionsFor();
    o.timeoutMs = 5000;
    const d = new Driver(o, profileOf(false, false));
    d.autoFetch = false;
    d.tick();
    expect(d.out.length).toBe(1);
    expect(d.out[0].kind).toBe(KIND_CONFIG);
    expect(d.out[0].timeoutMs).toBe(2000);
  });

  it("a config fetch that never answers frees the place after NWM's timers for a small GET, then waits 5 minutes", () => {
    const o = optionsFor();
    o.timeoutMs = 5000;
    const d = new Driver(o, profileOf(false, false));
    d.autoFetch = false;
    d.tick();
    const fetch = d.out[0];
    d.out.splice(0, 1); // never answered
    d.offer(5);
    // http:// to an IP address: connect, one send, the answer's headers and body at 2 s each, a second more.
    run(d, 8980);
    expect(d.core.table.size).toBe(1, "still within what NWM's timers allow");
    expect(d.batches().length).toBe(0);
    run(d, 40);
    expect(d.batches().length).toBe(1, "the batch leaves as soon as the fetch is presumed lost");
    d.answer(d.batches()[0], 200);
    run(d, 299000);
    for (let i = 0; i < d.out.length; i++) expect(d.out[i].kind).not.toBe(KIND_CONFIG, "no new fetch within 5 minutes");
    expect(fetch.kind).toBe(KIND_CONFIG);
  });

  it("on https by name, the resolver's 30 s and the TLS handshake count too", () => {
    const d = new Driver(optionsFor("https://api.moesif.net"), profileOf(false, false));
    d.autoFetch = false;
    d.tick();
    d.out.splice(0, 1);
    d.offer(5);
    // 30 s + 5 steps × 1 s (timeout 1000 < 2000) + 1 s
    run(d, 35980);
    expect(d.batches().length).toBe(0);
    run(d, 40);
    expect(d.batches().length).toBe(1);
  });
});

describe("DeliveryCore: retries", () => {
  it("Retry-After: 86400 is capped at max_retry_age", () => {
    const o = optionsFor();
    o.maxRetryAge = 60000;
    const d = new Driver(o, profileOf(false, true));
    d.offer(5);
    d.tick();
    answerFetches(d);
    d.tick();
    d.answer(d.batches()[0], 503, 86400000);
    expect(d.core.retries.pausedUntilMs - d.nowMs).toBe(60000);
    run(d, 59960);
    expect(d.batches().length).toBe(0);
    run(d, 60);
    expect(d.batches().length).toBe(1, "sent again once max_retry_age has passed");
  });

  it("one call's 2xx does not lift another's pause", () => {
    const d = new Driver(optionsFor(), profileOf(true, false));
    d.offer(10);
    d.tick();
    answerFetches(d);
    d.tick();
    const calls = d.batches();
    expect(calls.length).toBe(2);
    d.answer(calls[0], 429, 30000);
    d.answer(calls[1], 200);
    d.offer(20);
    run(d, 29000);
    expect(d.batches().length).toBe(0, "no batch call during the 30 s");
    run(d, 1100);
    expect(d.batches().length).toBeGreaterThan(0);
  });

  it("the age limit drops a batch, counted once", () => {
    const o = optionsFor();
    o.maxRetries = 100;
    o.maxRetryAge = 5000;
    const d = new Driver(o, profileOf(false, true));
    d.offer(5);
    d.tick();
    answerFetches(d);
    for (let i = 0; i < 400 && d.stats.droppedRetries == 0; i++) {
      d.tick(20);
      const bs = d.batches();
      if (bs.length > 0) d.answer(bs[0], 503);
    }
    expect(d.stats.droppedRetries).toBe(5);
    expect(d.stats.sent).toBe(0);
  });
});

describe("DeliveryCore: late answers", () => {
  it("a batch presumed lost and answered 2xx before it is sent again counts delivered, and is not resent", () => {
    const d = new Driver(optionsFor(), profileOf(false, false));
    const first = presumedLost(d);
    expect(d.logged("moesif: collector did not answer within 5000 ms; a batch of 5 events will be retried")).toBe(true);
    expect(d.core.retries.batches.length).toBe(1);
    d.answer(first, 201);
    expect(d.stats.sent).toBe(5);
    expect(d.core.retries.batches.length).toBe(0, "not sent again");
    run(d, 120000);
    expect(d.batches().length).toBe(0);
    expect(d.stats.duplicated).toBe(0);
  });

  it("answered after it was sent again: the repeat is counted a duplicate and logged, the events delivered once", () => {
    const d = new Driver(optionsFor(), profileOf(false, false));
    const first = presumedLost(d);
    run(d, 2000);
    const again = d.batches();
    expect(again.length).toBe(1, "sent again after its backoff");
    d.answer(first, 200);
    d.answer(again[0], 200);
    expect(d.stats.sent).toBe(5);
    expect(d.stats.duplicated).toBe(5);
    expect(d.logged("moesif: collector accepted a batch of 5 events a second time")).toBe(true);
  });

  it("attempts used up while a lost call may still answer: counted dropped only when it is given up", () => {
    const o = optionsFor();
    o.maxRetries = 0;
    const d = new Driver(o, profileOf(false, false));
    const first = presumedLost(d);
    expect(d.stats.droppedRetries).toBe(0, "not yet: the call may still be answered");
    d.answer(first, 200);
    expect(d.stats.sent).toBe(5);
    expect(d.stats.droppedRetries).toBe(0);
    // Another, never answered: dropped once its ghost is given up.
    d.offer(5);
    run(d, 2000);
    d.out.splice(0, d.out.length);
    run(d, 5100);
    expect(d.stats.droppedRetries).toBe(0);
    run(d, LOST_CALL_CAP_MS);
    expect(d.stats.droppedRetries).toBe(5);
  });
});

describe("DeliveryCore: the adaptive limit", () => {
  it("shrinks toward twice the recent need", () => {
    const o = optionsFor();
    o.timeoutMs = 5000;
    o.eventQueueBytes = 10000000;
    const d = new Driver(o, profileOf(true, true), 100000);
    d.tick();
    answerFetches(d);
    // A busy spell: every tick 40 events, answered at once: the limit grows while batches wait.
    for (let i = 0; i < 200; i++) {
      d.offer(40);
      d.tick();
      const bs = d.batches();
      for (let j = 0; j < bs.length; j++) d.answer(bs[j], 200);
    }
    const grown = d.core.policy.limit;
    // Then steady traffic needing about 2 calls at once for 10 s.
    for (let i = 0; i < 500; i++) {
      if (i % 5 == 0) d.offer(10);
      d.tick();
      const bs = d.batches();
      for (let j = 0; j < bs.length; j++) d.answer(bs[j], 200);
    }
    expect(grown).toBeGreaterThan(8);
    expect(d.core.policy.limit).toBeLessThanOrEqual(4);
  });
});

describe("DeliveryCore: counts", () => {
  it("the drop line counts every call out, fetches included", () => {
    const o = optionsFor();
    o.fetchRules = true;
    const d = new Driver(o, profileOf(true, false));
    d.autoFetch = false;
    d.tick();
    expect(d.out.length).toBe(2, "where calls may overlap, both fetches at once");
    expect(d.out[0].kind).toBe(KIND_CONFIG);
    expect(d.out[1].kind).toBe(KIND_RULES);
    d.offer(1000);
    run(d, 40);
    let line = "";
    for (let i = 0; i < d.logs.length; i++) if (d.logs[i].startsWith("moesif: dropped")) line = d.logs[i];
    // Said before this tick's batches left: the two fetches were the calls out (no batch call yet).
    expect(line.endsWith(" 2 calls in flight (limit 4)")).toBe(true, line);
  });

  it("a refused dispatch is retried with backoff, not at the next tick", () => {
    const d = new Driver(optionsFor(), profileOf(false, true));
    d.tick();
    answerFetches(d);
    d.offer(5);
    d.refuseNext = true;
    d.tick();
    expect(d.logged("moesif: collector could not be called: the host refused the dispatch to 127.0.0.1:9 (InternalFailure)")).toBe(true);
    d.tick();
    expect(d.batches().length).toBe(0);
  });
});
