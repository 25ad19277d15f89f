import { MonoClock, MAX_STEP_MS } from "../../delivery/clock";

describe("MonoClock", () => {
  it("starts at 0 and follows wall time in small steps", () => {
    const c = new MonoClock();
    expect(c.read(1700000000000)).toBe(0);
    expect(c.read(1700000000020)).toBe(20);
    expect(c.read(1700000000520)).toBe(520);
  });

  it("stands still after a step back until wall time passes its highest reading again", () => {
    const c = new MonoClock();
    c.read(10000);
    c.read(11000);
    expect(c.read(10950)).toBe(1000, "50 ms back");
    expect(c.read(7400000)).toBe(2000, "then a leap forward counts as one step");
    expect(c.read(7400000 - 3600000)).toBe(2000, "an hour back");
    expect(c.read(7400000 - 10)).toBe(2000);
    expect(c.read(7400000 + 30)).toBe(2030, "moves again once past it");
  });

  it("caps a leap forward at one step, so that no timer runs out by the leap alone", () => {
    const c = new MonoClock();
    c.read(0);
    expect(c.read(120000)).toBe(MAX_STEP_MS, "2 minutes forward");
    expect(c.read(120020)).toBe(MAX_STEP_MS + 20);
  });
});
