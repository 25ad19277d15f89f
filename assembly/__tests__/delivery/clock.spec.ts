import { MonoClock, MAX_STEP_MS } from "../../delivery/clock";

describe("MonoClock", () => {
  it("starts at 0 and follows wall time in small steps", () => {
    const c = new MonoClock();
    expect(c.read(1700000000000)).toBe(0);
    expect(c.read(1700000000020)).toBe(20);
    expect(c.read(1700000000520)).toBe(520);
  });

  it("absorbs a step back: time stands still at the step, then moves on with wall time", () => {
    const c = new MonoClock();
    c.read(10000);
    c.read(11000);
    expect(c.read(10950)).toBe(1000, "50 ms back");
    expect(c.read(10970)).toBe(1020);
    expect(c.read(10970 - 3600000)).toBe(1020, "an hour back");
    expect(c.read(10990 - 3600000)).toBe(1040, "and on, without waiting an hour");
  });

  it("caps a leap forward at one step, so that no timer runs out by the leap alone", () => {
    const c = new MonoClock();
    c.read(0);
    expect(c.read(120000)).toBe(MAX_STEP_MS, "2 minutes forward");
    expect(c.read(120020)).toBe(MAX_STEP_MS + 20);
  });
});
