import { parseMajorMinor, hostProfile } from "../../runtime/hostinfo";
import { b } from "../helpers";

describe("parseMajorMinor (kong.version)", () => {
  it("reads major and minor from Kong's version strings", () => {
    expect(parseMajorMinor(b("3.9.1"))).toBe(309);
    expect(parseMajorMinor(b("3.8.0"))).toBe(308);
    expect(parseMajorMinor(b("3.6.1"))).toBe(306);
    expect(parseMajorMinor(b("3.8.1.0"))).toBe(308); // Kong Enterprise: four parts
    expect(parseMajorMinor(b("3.10.0"))).toBe(310);
    expect(parseMajorMinor(b("4.0"))).toBe(400);
  });

  it("gives 0 for anything else", () => {
    expect(parseMajorMinor(b(""))).toBe(0);
    expect(parseMajorMinor(b("3"))).toBe(0);
    expect(parseMajorMinor(b("v3.9.1"))).toBe(0);
    expect(parseMajorMinor(b("3."))).toBe(0);
    expect(parseMajorMinor(b("99999.1"))).toBe(0);
  });
});

describe("hostProfile", () => {
  it("is the safe profile until a request has told which host this is", () => {
    const p = hostProfile();
    expect(p.known).toBe(false);
    expect(p.parallelCalls).toBe(false, "one call at a time");
    expect(p.readsAnswers).toBe(false, ":status only");
    expect(p.reportsFailures).toBe(false);
    expect(p.dispatchesFromAnswers).toBe(false);
    expect(p.metrics).toBe(false);
  });
});
