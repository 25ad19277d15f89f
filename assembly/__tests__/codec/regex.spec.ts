import { Regex } from "../../codec/regex";
import { b } from "../helpers";

function t(pattern: string, text: string): bool {
  const r = new Regex(pattern);
  expect(r.error).toBe("", pattern);
  return r.test(b(text));
}

describe("regex (sampling rules)", () => {
  it("matches like JavaScript's RegExp.test on the syntax rules use", () => {
    // [pattern, text, expected]
    const cases: Array<Array<string>> = [
      ["GET", "GET", "1"], ["GET", "xGETx", "1"], ["^GET$", "GETS", "0"], ["^/items", "/items/1", "1"], ["^/items", "/v1/items", "0"],
      ["GET|POST", "POST", "1"], ["^(GET|POST)$", "PUT", "0"], ["^5\\d\\d$", "503", "1"], ["^5\\d\\d$", "5030", "0"],
      ["^/items/[0-9]+$", "/items/42", "1"], ["^/items/[0-9]+$", "/items/", "0"], ["a.c", "abc", "1"], ["a.c", "a\nc", "0"],
      ["^[^/]+$", "abc", "1"], ["^[^/]+$", "a/c", "0"], ["^\\w+@\\w+\\.com$", "me@ex.com", "1"], ["colou?r", "color", "1"],
      ["^a{2,3}$", "aaa", "1"], ["^a{2,3}$", "aaaa", "0"], ["^a{2}$", "aa", "1"], ["^a{2,}$", "aaaaa", "1"], ["^(ab)+$", "ababab", "1"],
      ["^(ab)+$", "aba", "0"], ["^10\\.0\\.", "10.0.3.4", "1"], ["^10\\.0\\.", "1000.3.4", "0"], ["", "anything", "1"], ["^$", "", "1"],
      ["x*", "", "1"], ["^(a|b)*c$", "ababc", "1"], ["[a-c-]", "-", "1"], ["\\s", "a b", "1"], ["^\\S+$", "a b", "0"], ["(?:ab)c", "abc", "1"],
      ["^.*$", "", "1"], ["a+?b", "aab", "1"], ["^[\\d.]+$", "1.2.3", "1"],
    ];
    for (let i = 0; i < cases.length; i++) {
      expect(t(cases[i][0], cases[i][1])).toBe(cases[i][2] == "1", cases[i][0] + " on " + cases[i][1]);
    }
  });

  it("stays linear on patterns that make backtracking engines explode", () => {
    let text = "";
    for (let i = 0; i < 5000; i++) text += "a";
    expect(t("^(a+)+$", text + "b")).toBe(false);
    expect(t("(a|aa)*c", text)).toBe(false);
  });

  it("refuses patterns it cannot compile (they then match nothing)", () => {
    const bad = ["(", "a)", "[a", "*a", "a{3,2}", "\\", "a{5000}", "(?=a)"];
    for (let i = 0; i < bad.length; i++) {
      const r = new Regex(bad[i]);
      expect(r.error.length > 0).toBe(true, bad[i]);
      expect(r.test(b("aaa"))).toBe(false);
    }
  });
});
