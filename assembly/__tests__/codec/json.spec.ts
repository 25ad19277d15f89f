import { JsonParser, JObject, JKind, JString, JNumber } from "../../codec/json";
import { b } from "../helpers";

function obj(text: string): JObject {
  const v = new JsonParser(b(text)).parse();
  return <JObject>v!;
}

function str(o: JObject, name: string): string {
  const v = o.field(name);
  if (v === null) return "<missing>";
  if (v.kind == JKind.String) return (<JString>v).value;
  if (v.kind == JKind.Number) return (<JNumber>v).raw;
  return "<" + v.kind.toString() + ">";
}

describe("JObject.field (JWT claims and governance body fields)", () => {
  it("takes a member by its literal name first, dots and all", () => {
    const o = obj('{"user.id":"literal","user":{"id":"nested"}}');
    expect(str(o, "user.id")).toBe("literal");
  });
  it("else follows a dotted path through nested objects", () => {
    const o = obj('{"user":{"org":{"id":42}},"top":"t"}');
    expect(str(o, "user.org.id")).toBe("42");
    expect(str(o, "top")).toBe("t");
  });
  it("gives null for a missing member, a path through a non-object, or a name starting with a dot", () => {
    const o = obj('{"user":{"id":"x"},"list":[{"id":"y"}],"s":"v",".id":"dot"}');
    expect(str(o, "nobody")).toBe("<missing>");
    expect(str(o, "user.name")).toBe("<missing>");
    expect(str(o, "list.id")).toBe("<missing>");
    expect(str(o, "s.x")).toBe("<missing>");
    expect(str(o, ".id")).toBe("dot");
    expect(str(o, ".other")).toBe("<missing>");
  });
  it("lets the last duplicate win at every step, as get does", () => {
    const o = obj('{"a":{"b":"first"},"a":{"b":"second"}}');
    expect(str(o, "a.b")).toBe("second");
  });
});
