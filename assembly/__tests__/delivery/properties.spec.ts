// Property tests of delivery's core: seeded random runs of traffic, answers in any order, delays,
// losses, Retry-Afters and wall-clock steps back and forward, checking after every step and at the
// end the invariants the core promises:
//  - every event is delivered once or counted dropped once, never both (the collector's 2xx
//    receipts, by event number, against the counters; a repeat is counted as a duplicate);
//  - under the one-call profile, no call leaves while another may still be running, by the host's
//    own timers (a call the host ends unanswered is ended at the most NWM's timers allow);
//  - the bytes held never exceed event_queue_bytes;
//  - no pause outlives max_retry_age.
import { Driver, Out, profileOf, optionsFor } from "./driver";
import { KIND_BATCH } from "../../delivery/inflight";
import { LOST_CALL_MARGIN_MS, FETCH_TIMEOUT_MS } from "../../delivery/presume";

class Rng {
  constructor(private s: u64) {
    if (this.s == 0) this.s = 0x9e3779b97f4a7c15;
  }
  next(): u64 {
    let x = this.s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    this.s = x;
    return x;
  }
  below(n: i64): i64 {
    return <i64>(this.next() % <u64>n);
  }
  chance(p: f64): bool {
    return <f64>(this.next() % 1000000) < p * 1000000;
  }
}

/** The most NWM's timers let a call run on the driver's real time (http:// to an IP: no resolver, no TLS). */
function hostBound(o: Out, d: Driver): i64 {
  if (o.kind != KIND_BATCH) return 4 * <i64>o.timeoutMs;
  const sendWaits: i64 = (<i64>o.ids.length * 8 + 65535) / 65536;
  return (3 + max<i64>(1, sendWaits)) * <i64>o.timeoutMs;
}

class Run {
  accepted: Map<i32, i32> = new Map<i32, i32>();
  receipts: i32 = 0;
  realMs: i64 = 0;
  sentReal: Map<u32, i64> = new Map<u32, i64>();
  overlaps: i32 = 0;
  lastStepMs: i64 = 0;
  /** Calls the network lost: never answered (or, in runs with late answers, perhaps long after). */
  lost: Set<u32> = new Set<u32>();
}

function receive(run: Run, o: Out): void {
  for (let i = 0; i < o.ids.length; i++) {
    const id = o.ids[i];
    run.accepted.set(id, run.accepted.has(id) ? run.accepted.get(id) + 1 : 1);
    run.receipts++;
  }
}

function scenario(seed: u64, parallel: bool, reportsFailures: bool): void {
  const r = new Rng(seed);
  const o = optionsFor();
  o.batchSize = 1 + <i32>r.below(8);
  o.batchMaxWait = 100 + <i32>r.below(2000);
  o.timeoutMs = 200 + <i32>r.below(2000);
  o.maxRetries = <i32>r.below(7);
  o.maxRetryAge = 1000 + <i32>r.below(60000);
  o.eventQueueBytes = 2000 + <i32>r.below(6000);
  o.fetchRules = r.chance(0.5);
  const d = new Driver(o, profileOf(parallel, reportsFailures), 10 + <i32>r.below(200));
  d.autoFetch = r.chance(0.5);
  // Late answers: calls may be answered after the core presumed them lost (beyond NWM's timers).
  const late = r.chance(0.5);
  const run = new Run();
  for (let step = 0; step < 1000; step++) {
    const action = r.below(100);
    if (action < 30) {
      d.offer(<i32>r.below(4));
    } else if (action < 65) {
      let wall: i64 = 20;
      let real: i64 = 20;
      const kind = r.below(100);
      if (kind < 4) wall = -(1 + r.below(3600000)); // an NTP step back, up to an hour
      else if (kind < 7) real = wall = 1 + r.below(180000); // a stall: real time passes, in one leap
      else if (kind < 9 && run.realMs - run.lastStepMs > 60000) {
        // An NTP step forward: only the wall clock leaps. The clock counts a second of it, which the
        // presumption's margin covers: one step within a call's life (steps are rare; two within
        // seconds could presume a call lost up to a second early).
        wall = 1 + r.below(180000);
        run.lastStepMs = run.realMs;
      }
      else if (kind < 40) real = wall = r.below(1500);
      run.realMs += real;
      // The host ends a call at the latest when its timers run out: unanswered (before Kong 3.9), or
      // reported as a timeout (3.9+).
      for (let i = d.out.length - 1; i >= 0 && !late; i--) {
        const c = d.out[i];
        if (run.realMs - run.sentReal.get(c.token) <= hostBound(c, d)) continue;
        if (reportsFailures) d.answer(c, 0, 0, true);
        else d.out.splice(i, 1);
      }
      const before = d.nextToken;
      const outBefore = d.out.length;
      d.tick(wall);
      noteSent(d, run, before, outBefore, parallel, r);
    } else if (d.out.length > 0) {
      const c = d.out[<i32>r.below(d.out.length)];
      if (d.core.kindOf(c.token) == 0) {
        d.out.splice(d.out.indexOf(c), 1); // the core no longer knows it: the host ended it long ago
        continue;
      }
      if (run.lost.has(c.token) && !(late && r.chance(0.2))) continue;
      const pick = r.below(100);
      const status = pick < 55 ? 200 : pick < 65 ? 201 : pick < 75 ? 503 : pick < 85 ? 429 : pick < 92 ? 400 : reportsFailures ? 0 : 500;
      const retryAfter: i64 = status == 429 || status == 503 ? r.below(86400000) : 0;
      if (c.kind == KIND_BATCH && status >= 200 && status < 300) receive(run, c);
      const before = d.nextToken;
      d.answer(c, <i32>status, retryAfter);
      noteSent(d, run, before, d.out.length, parallel, r);
    }
    check(d);
  }
  // Drain: the collector answers everything 200 from now on, time passes in ticks.
  for (let i = 0; i < 200000 && !idle(d); i++) {
    for (let j = d.out.length - 1; j >= 0; j--) {
      const c = d.out[j];
      if (d.core.kindOf(c.token) == 0 || (!late && run.lost.has(c.token))) {
        // Forgotten by the core, or lost and ended by the host's timers: never answered.
        if (run.realMs - run.sentReal.get(c.token) > hostBound(c, d) || d.core.kindOf(c.token) == 0) d.out.splice(j, 1);
        continue;
      }
      if (c.kind == KIND_BATCH) receive(run, c);
      d.answer(c, 200);
    }
    run.realMs += 1000;
    const before = d.nextToken;
    d.tick(1000);
    noteSent(d, run, before, 0, true);
    check(d);
  }
  expect(idle(d)).toBe(true, "everything delivered or dropped in the end");
  const s = d.stats;
  expect(<i64>s.sent).toBe(<i64>run.accepted.size, "each event the collector accepted is counted sent, once");
  expect(<i64>(s.sent + s.droppedQueueFull + s.droppedRetries + s.droppedRejected)).toBe(<i64>d.offered, "and every other is counted dropped");
  expect(<i64>s.duplicated).toBe(<i64>(run.receipts - run.accepted.size), "a repeat is counted as a duplicate");
  if (!parallel && !late) expect(run.overlaps).toBe(0, "one call at a time: none left while another could still run");
  if (!parallel) expect(d.maxOut).toBeLessThanOrEqual(1);
}

/** Records when the calls that just left were sent; counts a call that left while another may still run. */
function noteSent(d: Driver, run: Run, fromToken: u32, liveBefore: i32, parallel: bool, r: Rng | null = null): void {
  for (let t = fromToken; t < d.nextToken; t++) {
    run.sentReal.set(t, run.realMs);
    if (r !== null && r.chance(0.25)) run.lost.add(t);
    if (!parallel && liveBefore > 0) run.overlaps++;
  }
}

function check(d: Driver): void {
  expect(d.core.heldBytes).toBeLessThanOrEqual(<i64>d.opts.eventQueueBytes, "held bytes within event_queue_bytes");
  expect(d.core.retries.pausedUntilMs - d.nowMs).toBeLessThanOrEqual(<i64>d.opts.maxRetryAge, "no pause outlives max_retry_age");
}

function idle(d: Driver): bool {
  return d.core.queue.length == 0 && d.core.table.size == 0 && d.core.retries.batches.length == 0 && d.core.table.ghosts.length == 0;
}

describe("delivery core properties (seeded random runs)", () => {
  it("one call at a time, failures never reported (Kong 3.7/3.8)", () => {
    for (let seed: u64 = 1; seed <= 16; seed++) scenario(seed * 7919, false, false);
  });
  it("one call at a time, failures reported (Kong 3.9)", () => {
    for (let seed: u64 = 1; seed <= 16; seed++) scenario(seed * 104729, false, true);
  });
  it("adaptive limit, failures never reported (Kong 3.4–3.6)", () => {
    for (let seed: u64 = 1; seed <= 16; seed++) scenario(seed * 1299709, true, false);
  });
});
