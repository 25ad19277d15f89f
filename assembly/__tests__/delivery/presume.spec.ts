import { presumeLostMs, LOST_CALL_CAP_MS, FETCH_TIMEOUT_MS } from "../../delivery/presume";

describe("presumeLostMs (when a call never answered is given up, before Kong 3.9)", () => {
  it("waits for every timer NWM can run: resolver, connect, TLS, a send wait per 64 KiB, two reads, a second", () => {
    // https://api.moesif.net with the defaults (5 s per step): 30 + 5 × 5 + 1.
    expect(presumeLostMs(false, 5000, 1000, true, true)).toBe(56000);
    expect(presumeLostMs(false, 5000, 65536, true, true)).toBe(56000);
    expect(presumeLostMs(false, 5000, 65537, true, true)).toBe(61000, "a second send wait");
    expect(presumeLostMs(false, 5000, 512 * 1024, true, true)).toBe(91000);
    // http:// to an IP address: no resolver, no TLS.
    expect(presumeLostMs(false, 5000, 1000, false, false)).toBe(21000);
  });

  it("gives a fetch (no body, 2 s per step) 41 s on https by name, 9 s to an IP address", () => {
    expect(presumeLostMs(false, FETCH_TIMEOUT_MS, 0, true, true)).toBe(41000);
    expect(presumeLostMs(false, FETCH_TIMEOUT_MS, 0, false, false)).toBe(9000);
  });

  it("where the host reports every failure, only a host silent for 10 minutes", () => {
    expect(presumeLostMs(true, 5000, 2 * 1024 * 1024, true, true)).toBe(LOST_CALL_CAP_MS);
  });
});
