import { ConfigFetch } from "../../delivery/configfetch";

describe("ConfigFetch", () => {
  it("fetches at start, then every 5 minutes", () => {
    const f = new ConfigFetch();
    expect(f.due(0)).toBe(true);
    f.sent(1);
    expect(f.due(0)).toBe(false, "one at a time");
    f.loaded(1000, "t1", 0.5);
    expect(f.due(2000)).toBe(false);
    expect(f.due(1000 + 300000)).toBe(true);
  });

  it("backs off after failures: 1 s, 2 s, 4 s … up to 5 minutes, half of it jitter", () => {
    const f = new ConfigFetch();
    let now: i64 = 0;
    const waits = new Array<i64>();
    for (let i = 0; i < 12; i++) {
      f.sent(1);
      f.failed(now, 1.0);
      waits.push(f.retryAtMs - now);
      expect(f.due(f.retryAtMs - 1)).toBe(false);
      now = f.retryAtMs;
      expect(f.due(now)).toBe(true);
    }
    expect(waits[0]).toBe(1000);
    expect(waits[1]).toBe(2000);
    expect(waits[2]).toBe(4000);
    expect(waits[11]).toBe(300000);
    f.sent(1);
    f.failed(now, 0.0);
    expect(f.retryAtMs - now).toBe(150000, "no jitter: half");
  });

  it("acts on a batch answer's tag once; an answer without a tag is asked for again later, not at once", () => {
    const f = new ConfigFetch();
    f.sent(1);
    f.loaded(0, "", 1.0);
    expect(f.due(10)).toBe(false, "a tag-less answer backs off");
    f.batchTag("t2");
    expect(f.due(10)).toBe(false, "still backing off");
    expect(f.due(1000)).toBe(true);
    f.sent(2);
    f.loaded(1000, "t1", 1.0);
    expect(f.due(1001)).toBe(false);
    f.batchTag("t2");
    expect(f.due(1001)).toBe(false, "t2 was acted on already");
    f.batchTag("t1");
    expect(f.due(1001)).toBe(false, "the tag in force");
    f.batchTag("t3");
    expect(f.due(1001)).toBe(true);
  });
});

describe("ConfigFetch presumed lost", () => {
  it("backs off 5 minutes, then 10, 20, 40, then an hour at most; a loaded fetch starts over", () => {
    const f = new ConfigFetch();
    let now: i64 = 0;
    const waits = new Array<i64>();
    for (let i = 0; i < 7; i++) {
      f.sent(1);
      f.lost(now);
      waits.push(f.retryAtMs - now);
      expect(f.due(f.retryAtMs - 1)).toBe(false);
      now = f.retryAtMs;
      expect(f.due(now)).toBe(true);
    }
    expect(waits[0]).toBe(300000);
    expect(waits[1]).toBe(600000);
    expect(waits[2]).toBe(1200000);
    expect(waits[3]).toBe(2400000);
    expect(waits[4]).toBe(3600000);
    expect(waits[6]).toBe(3600000);
    f.sent(1);
    f.loaded(now, "t", 0.5);
    f.batchTag("t2");
    f.sent(2);
    f.lost(now);
    expect(f.retryAtMs - now).toBe(300000, "a fetch that loaded in between: 5 minutes again");
  });
});
