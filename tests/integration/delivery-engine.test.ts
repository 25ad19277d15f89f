// The delivery engine's eight findings (issue 30), each in the project's own host at Kong's
// per-version rules, on virtual time (tests/support/virtual-delivery.ts): the filter's clock, the
// collector's answers and NWM's timers all run on test clocks, so ten minutes of traffic take
// seconds. The collector is in-process: it counts every event by transaction_id, answers when told,
// or never.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { assertHostClean } from "../support/harness.ts";
import { versionAtLeast } from "../host/nwm.ts";
import { Sim, tagged, configHanging as hanging } from "../support/virtual-delivery.ts";

/** The headline run, with its figures printed (BENCHMARKS.md §9b has them from `npm run bench`). */
function configHanging(kongVersion: string): Sim {
  const { sim, ratio, longestGapMs } = hanging(kongVersion);
  console.log(`Kong ${kongVersion}, /v1/config never answering, 200 req/s for 10 min: ${(ratio * 100).toFixed(2)}% delivered ` +
    `(${sim.delivered()} of ${sim.sent}), ${sim.configCalls} config fetches, longest gap between batch calls ${(longestGapMs / 1000).toFixed(1)} s`);
  return sim;
}

describe("finding 1: the wall clock steps back 50 ms, back an hour, forward 2 minutes; a 2-minute stall", () => {
  for (const kongVersion of ["3.6.1", "3.8.0", "3.9.1"]) {
    test(`Kong ${kongVersion}: no event lost, none twice, no calls overlapping, no bogus line`, () => {
      // Answers take 2 s: the steps come while a batch is out.
      const sim = new Sim({ kongVersion, batch: () => ({ afterMs: 2000, status: 201, headers: tagged() }) });
      sim.traffic(100, 60, (t) => {
        if (t === 10000) sim.wall -= 50;
        if (t === 20000) sim.wall -= 3600000;
        if (t === 30000) sim.wall += 120000; // an NTP step forward: no real time passes
        if (t === 40000) {
          // A stalled worker (or a paused VM): two minutes pass at once, for the collector too.
          sim.wall += 120000;
          sim.real += 120000;
        }
      });
      sim.drain();
      assert.equal(sim.delivered(), sim.sent, `${sim.delivered()} of ${sim.sent} delivered`);
      assert.equal(sim.duplicates(), 0);
      if (versionAtLeast(kongVersion, "3.7.0")) assert.equal(sim.maxOut, 1, "one call out at a time");
      assertHostClean(sim.host);
      const bogus = sim.warns().filter((l) => /did not answer|dropped|18446744073709/.test(l));
      assert.deepEqual(bogus, []);
      // Partial batches went on through the hour back: no gap over batch_max_wait + the answer time
      // (before the stall, whose two minutes are a gap by themselves).
      const before = sim.batchCalls.filter((b) => b.at < 40000);
      const gaps = before.slice(1).map((b, i) => b.at - before[i].at);
      assert.ok(Math.max(...gaps) <= 3100, `largest gap between batch calls ${Math.max(...gaps)} ms`);
    });
  }
});

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

describe("finding 8: the README tells delivery as it is", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("## Delivery and reliability"), readme.indexOf("## Configuration"));

  test("an idle worker still fetches every 5 minutes; a batch is sent at 1 MB and may hold up to 2 MB", () => {
    assert.match(section, /An idle worker still fetches `\/v1\/config` \(and\s+`\/v1\/rules`\) every 5 minutes/);
    assert.doesNotMatch(section, /makes no call while nothing is queued/);
    assert.match(section, /once its events reach 1 MB;[\s\S]{0,120}may hold up to 2 MB/);
  });

  test("it says how the clock, late answers, lost fetches and undeclared hosts are handled", () => {
    for (const words of ["**Clock.**", "**Late answers.**", "**Fetches do not hold batches up.**", "`ngx.kong_version`", "map $host $kong_version", "never longer than `max_retry_age`"]) {
      assert.ok(section.includes(words), `the delivery section says ${words}`);
    }
  });
});
