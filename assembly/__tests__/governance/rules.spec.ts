import { parseRules, parseCohorts, template, Kind } from "../../governance/rules";
import { decide, GovernanceInput } from "../../governance/decide";
import { b, s } from "../helpers";

describe("merge-tag templates", () => {
  it("splits {{name}} and {{name|default}}, keeps what is not a tag", () => {
    const t = template("a {{0}} b {{tier|free}} {{}} {{x");
    expect(t.pieces.length).toBe(6);
    expect(t.pieces[1].name!).toBe("0");
    expect(t.pieces[3].name!).toBe("tier");
    expect(t.pieces[3].fallback!).toBe("free");
    const plain = template("no tags");
    expect(plain.pieces.length).toBe(1);
    expect(plain.pieces[0].name).toBeNull();
    expect(plain.pieces[0].text).toBe("no tags");
  });
});

describe("parseRules", () => {
  it("keeps good rules in order by category, skips malformed ones, refuses a non-array", () => {
    const set = parseRules(b("[{\"_id\":\"a\",\"type\":\"regex\",\"block\":true,\"response\":{\"status\":403}}," +
      "{\"_id\":\"b\",\"type\":\"user\"},{\"type\":\"regex\"},{\"_id\":\"c\",\"type\":\"bogus\"},{\"_id\":\"d\",\"type\":\"regex\",\"block\":null}]"))!;
    expect(set.regex.length).toBe(2);
    expect(set.user.length).toBe(1);
    expect(set.user[0].kind).toBe(Kind.User);
    expect(set.regex[0].status).toBe(403);
    expect(set.regex[1].block).toBe(false, "block: null does not block");
    expect(set.warnings.length).toBe(2);
    expect(parseRules(b("{\"message\":\"no\"}"))).toBeNull();
  });
});

describe("decide", () => {
  it("first blocking rule of the highest category wins; merge values from the cohort entry", () => {
    const set = parseRules(b("[{\"_id\":\"r\",\"type\":\"regex\",\"block\":true,\"response\":{\"status\":400,\"body\":{}}}," +
      "{\"_id\":\"u\",\"type\":\"user\",\"block\":true,\"response\":{\"status\":429,\"body\":{\"m\":\"{{0}} \\\"{{1|d}}\\\"\"}}}]"))!;
    const cohorts = parseCohorts(b("{\"user_rules\":{\"al\":[{\"rules\":\"u\",\"values\":{\"0\":\"q\\\"x\"}}]}}"));
    const input = new GovernanceInput();
    input.userId = "al";
    const d = decide(set, cohorts, input)!;
    expect(d.blockedBy!).toBe("u");
    expect(d.status).toBe(429);
    expect(s(d.body)).toBe("{\"m\":\"q\\\"x \\\"d\\\"\"}");
    const anon = decide(set, cohorts, new GovernanceInput())!;
    expect(anon.blockedBy!).toBe("r");
  });
});
