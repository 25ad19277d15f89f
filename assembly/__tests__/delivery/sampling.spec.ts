import { Sampling, SampleInput, weightFor } from "../../delivery/sampling";
import { parseRetryAfter, parseHttpDate } from "../../delivery/retry";
import { b } from "../helpers";

function input(user: string | null, company: string | null, verb: string = "GET", route: string = "/", status: string = "200"): SampleInput {
  const s = new SampleInput();
  s.userId = user;
  s.companyId = company;
  s.verb = b(verb);
  s.route = b(route);
  s.ip = b("10.0.0.1");
  s.status = b(status);
  return s;
}

const cfg = Sampling.parse(b("{\"sample_rate\":50,\"user_sample_rate\":{\"u1\":10,\"u2\":90},\"company_sample_rate\":{\"c1\":20}," +
    "\"regex_config\":[{\"conditions\":[{\"path\":\"response.status\",\"value\":\"^5\"}],\"sample_rate\":100}," +
    "{\"conditions\":[{\"path\":\"request.verb\",\"value\":\"DELETE\"},{\"path\":\"request.route\",\"value\":\"^/admin\"}],\"sample_rate\":5}]}"))!;

describe("sampling config", () => {
  it("takes the default rate when nothing else applies", () => {
    expect(cfg.rateFor(input(null, null))).toBe(50);
    expect(cfg.rateFor(input("nobody", "none"))).toBe(50);
  });
  it("takes the lowest of the user, company and rule rates that apply", () => {
    expect(cfg.rateFor(input("u1", null))).toBe(10);
    expect(cfg.rateFor(input("u2", null))).toBe(90);
    expect(cfg.rateFor(input(null, "c1"))).toBe(20);
    expect(cfg.rateFor(input("u2", "c1"))).toBe(20);
    expect(cfg.rateFor(input("u2", null, "GET", "/", "503"))).toBe(90);
    expect(cfg.rateFor(input(null, null, "GET", "/", "503"))).toBe(100);
  });
  it("needs every condition of a rule, and the first matching rule wins", () => {
    expect(cfg.rateFor(input(null, null, "DELETE", "/admin/x"))).toBe(5);
    expect(cfg.rateFor(input(null, null, "DELETE", "/users"))).toBe(50);
    expect(cfg.rateFor(input(null, null, "DELETE", "/admin/x", "500"))).toBe(100);
  });
  it("refuses what is not a config, and skips bad rules with a warning", () => {
    expect(Sampling.parse(b("[]"))).toBeNull();
    expect(Sampling.parse(b("nope"))).toBeNull();
    const s = Sampling.parse(b("{\"sample_rate\":\"x\",\"regex_config\":[{\"conditions\":[{\"path\":\"request.verb\",\"value\":\"(\"}],\"sample_rate\":1},{\"conditions\":[{\"path\":\"request.body\",\"value\":\"a\"}],\"sample_rate\":1}]}"))!;
    expect(s.sampleRate).toBe(100);
    expect(s.rules.length).toBe(0);
    expect(s.warnings.length).toBe(2);
    expect(s.keepsAll).toBe(true);
  });
});

describe("Retry-After", () => {
  it("reads delta-seconds and HTTP dates", () => {
    expect(parseRetryAfter(b("7"), 0)).toBe(7000);
    expect(parseRetryAfter(b(" 120 "), 0)).toBe(120000);
    expect(parseRetryAfter(b("99999999999"), 0)).toBe(86400000);
    expect(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT")).toBe(784111777000);
    expect(parseRetryAfter(b("Sun, 06 Nov 1994 08:49:37 GMT"), 784111767000)).toBe(10000);
    expect(parseRetryAfter(b("Sun, 06 Nov 1994 08:49:37 GMT"), 784111787000)).toBe(0);
    expect(parseRetryAfter(b("soon"), 0)).toBe(0);
    expect(parseRetryAfter(b(""), 0)).toBe(0);
  });
});

describe("weights and fractional rates", () => {
  it("is floor(100 / rate), as Moesif's agents compute it", () => {
    expect(weightFor(100)).toBe(1);
    expect(weightFor(33.4)).toBe(2);
    expect(weightFor(10)).toBe(10);
    expect(weightFor(0.5)).toBe(200);
    expect(weightFor(1e-12)).toBe(2147483647);
  });
  it("keeps a rate's fraction", () => {
    const s = Sampling.parse(b("{\"sample_rate\":33.4,\"user_sample_rate\":{\"u\":0.5}}"))!;
    expect(s.sampleRate).toBe(33.4);
    const e = new SampleInput();
    e.userId = "u";
    expect(s.rateFor(e)).toBe(0.5);
  });
});
