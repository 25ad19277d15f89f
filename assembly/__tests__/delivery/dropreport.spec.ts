import { DropReport, DeliveryState } from "../../delivery/dropreport";
import { Stats } from "../../delivery/stats";

function state(): DeliveryState {
  const s = new DeliveryState();
  s.queued = 10000;
  s.maxEvents = 10000;
  s.heldBytes = 4190000;
  s.maxBytes = 4194304;
  s.inFlight = 12;
  s.limit = 16;
  return s;
}

describe("DropReport", () => {
  it("says nothing while nothing is dropped", () => {
    const stats = new Stats();
    const r = new DropReport();
    expect(r.due(stats, 1000)).toBe(false);
    stats.sent += 5000;
    stats.droppedSampled += 300;
    expect(r.due(stats, 60000)).toBe(false, "sampled-out events are not a loss");
  });

  it("reports the first drop at once, then one line per period with counts, reasons and rates", () => {
    const stats = new Stats();
    const r = new DropReport(10000);
    r.due(stats, 0);
    stats.sent += 20000;
    stats.batches += 400;
    stats.droppedQueueFull += 1500;
    stats.droppedTooLarge += 2;
    expect(r.due(stats, 5000)).toBe(true);
    expect(r.line(stats, state(), 5000)).toBe("moesif: dropped 1502 events in the last 5.0 s (300 events/s not delivered): " +
      "event queue full 1500 (10000 of 10000 events, 4190000 of 4194304 bytes held); too large even without bodies 2; " +
      "delivered 4000 events/s in 80 calls/s, 12 calls in flight (limit 16)");
    stats.droppedRetries += 50;
    expect(r.due(stats, 9999)).toBe(false, "within the period of the last line");
    stats.droppedRejected += 5;
    expect(r.due(stats, 15000)).toBe(true);
    expect(r.line(stats, state(), 15000)).toBe("moesif: dropped 55 events in the last 10.0 s (6 events/s not delivered): " +
      "refused by the collector 5; collector failing, retries exhausted 50; delivered 0 events/s in 0 calls/s, 12 calls in flight (limit 16)");
  });

  it("counts what was dropped before its first look, over at least a second", () => {
    const stats = new Stats();
    const r = new DropReport(10000);
    stats.droppedQueueFull += 21;
    expect(r.due(stats, 5000)).toBe(true);
    expect(r.line(stats, state(), 5000).startsWith("moesif: dropped 21 events in the last 1.0 s (21 events/s not delivered)")).toBe(true);
  });

  it("measures a new burst of drops from a recent point, not from the last line an hour ago", () => {
    const stats = new Stats();
    const r = new DropReport(10000);
    r.due(stats, 0);
    stats.droppedQueueFull += 1;
    expect(r.due(stats, 1000)).toBe(true);
    r.line(stats, state(), 1000);
    for (let t: i64 = 2000; t < 3600000; t += 1000) expect(r.due(stats, t)).toBe(false);
    stats.droppedQueueFull += 30;
    expect(r.due(stats, 3600500)).toBe(true);
    expect(r.line(stats, state(), 3600500).startsWith("moesif: dropped 30 events in the last 9.5 s (3 events/s not delivered)")).toBe(true);
  });
});
