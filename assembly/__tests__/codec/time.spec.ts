import { ByteWriter } from "../../codec/bytes";
import { writeIsoTime, parseSecondsDotMillis } from "../../codec/time";
import { b, s } from "../helpers";

function iso(ms: u64): string {
  const w = new ByteWriter();
  writeIsoTime(w, ms);
  return s(w.toBytes());
}

describe("ISO-8601 time", () => {
  it("formats the epoch", () => {
    expect(iso(0)).toBe("\"1970-01-01T00:00:00.000Z\"");
  });
  it("pads every field", () => {
    expect(iso(1714564805007)).toBe("\"2024-05-01T12:00:05.007Z\"");
  });
  it("handles leap days and year ends", () => {
    expect(iso(951782400000)).toBe("\"2000-02-29T00:00:00.000Z\"");
    expect(iso(1735689599999)).toBe("\"2024-12-31T23:59:59.999Z\"");
    expect(iso(4102444800000)).toBe("\"2100-01-01T00:00:00.000Z\"");
  });
});

describe("nginx seconds.millis", () => {
  it("parses Kong's request.time", () => {
    expect(parseSecondsDotMillis(b("1714564805.007"))).toBe(1714564805007);
    expect(parseSecondsDotMillis(b("1714564805"))).toBe(1714564805000);
    expect(parseSecondsDotMillis(b("1714564805.5"))).toBe(1714564805500);
  });
  it("answers 0 for anything else", () => {
    expect(parseSecondsDotMillis(b(""))).toBe(0);
    expect(parseSecondsDotMillis(b("abc"))).toBe(0);
    expect(parseSecondsDotMillis(b("12.3x"))).toBe(0);
    expect(parseSecondsDotMillis(b(".5"))).toBe(0);
  });
});
