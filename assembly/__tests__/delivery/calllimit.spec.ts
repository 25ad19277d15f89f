import { CallLimit, INITIAL_CALLS, MAX_CALLS } from "../../delivery/calllimit";

describe("CallLimit", () => {
  it("starts at four calls", () => {
    expect(new CallLimit().value).toBe(INITIAL_CALLS);
  });

  it("grows only while a full batch waits for a place", () => {
    const l = new CallLimit();
    for (let i = 0; i < 10; i++) l.clean(false);
    expect(l.value).toBe(INITIAL_CALLS, "answers with nothing waiting are no reason to grow");
    l.clean(true);
    expect(l.value).toBe(INITIAL_CALLS + 1);
  });

  it("doubles per round of answers until the first trouble, then grows by one per round", () => {
    const l = new CallLimit();
    // A round: as many clean answers as calls in flight.
    let round = l.value;
    for (let i = 0; i < round; i++) l.clean(true);
    expect(l.value).toBe(8);
    round = l.value;
    for (let i = 0; i < round; i++) l.clean(true);
    expect(l.value).toBe(16);
    l.trouble(100, 200);
    expect(l.value).toBe(8, "halved");
    round = l.value;
    for (let i = 0; i < round; i++) l.clean(true);
    expect(l.value).toBe(8, "about one per round once past the threshold: not yet a whole one");
    for (let i = 0; i < 2; i++) l.clean(true);
    expect(l.value).toBe(9);
  });

  it("is cut once per round of calls: calls sent before the cut do not cut again", () => {
    const l = new CallLimit();
    for (let i = 0; i < 12; i++) l.clean(true);
    expect(l.value).toBe(16);
    l.trouble(1000, 1500);
    expect(l.value).toBe(8);
    l.trouble(1200, 1600);
    l.trouble(1500, 1700);
    expect(l.value).toBe(8, "sent before (or as) the first cut came");
    l.trouble(1501, 1800);
    expect(l.value).toBe(4, "sent after it: a new round's trouble");
  });

  it("never goes below one call, nor above the cap", () => {
    const l = new CallLimit();
    for (let t: i64 = 1; t < 20; t++) l.trouble(t * 10, t * 10 + 1);
    expect(l.value).toBe(1);
    const g = new CallLimit();
    for (let i = 0; i < 1000; i++) g.clean(true);
    expect(g.value).toBe(MAX_CALLS);
  });
});
