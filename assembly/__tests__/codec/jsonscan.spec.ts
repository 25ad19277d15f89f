import { ByteWriter } from "../../codec/bytes";
import { scanJson, MaskSet } from "../../codec/jsonscan";
import { b, s, bytesOf } from "../helpers";

function scan(text: string, masks: Array<string> = []): string | null {
  const w = new ByteWriter();
  w.ascii("<");
  if (!scanJson(b(text), MaskSet.of(masks), w)) {
    expect(s(w.toBytes())).toBe("<", "a failed scan leaves the writer as it was");
    return null;
  }
  return s(w.toBytes()).substring(1);
}

describe("JSON scanner", () => {
  it("copies the document verbatim, without the whitespace around it", () => {
    expect(scan(" { \"a\" : [ 1 , 2 ] ,\n\"b\":{ } }\n")).toBe("{ \"a\" : [ 1 , 2 ] ,\n\"b\":{ } }");
    expect(scan("[]")).toBe("[]");
    expect(scan("{}")).toBe("{}");
    expect(scan("12345678901234567890123456789")).toBe("12345678901234567890123456789");
    expect(scan("-0.5e+10")).toBe("-0.5e+10");
    expect(scan("\"\\u00e9\\n\\\"x\\/\"")).toBe("\"\\u00e9\\n\\\"x\\/\"");
    expect(scan("\"héllo ✓\"")).toBe("\"héllo ✓\"");
    expect(scan("[true,false,null]")).toBe("[true,false,null]");
  });

  it("rejects what is not JSON", () => {
    const bad = ["", " ", "{", "}", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "1e", "-",
      "+1", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"", "[1 2]", "{\"a\":1}{}", "{} x", "'a'", "[\"\t\"]", "NaN", "[1]]"];
    for (let i = 0; i < bad.length; i++) expect(scan(bad[i])).toBeNull(bad[i]);
  });

  it("rejects bodies that are not valid UTF-8", () => {
    const w = new ByteWriter();
    expect(scanJson(bytesOf([0x22, 0xff, 0x22]), null, w)).toBe(false);
    expect(scanJson(bytesOf([0x22, 0xc3, 0x22]), null, w)).toBe(false);
    expect(scanJson(bytesOf([0x22, 0xed, 0xa0, 0x80, 0x22]), null, w)).toBe(false);
    expect(w.length).toBe(0);
  });

  it("masks values whatever the spacing around them", () => {
    expect(scan("{ \"password\" : { \"a\" : [1, 2] } , \"b\" : 1 }", ["password"])).toBe("{ \"password\" : \"*****\" , \"b\" : 1 }");
  });

  it("masks matching keys at every depth, inside arrays, whatever the value", () => {
    expect(scan("{\"password\":\"x\",\"user\":{\"password\":123,\"name\":\"a\"},\"list\":[{\"password\":[1,{\"k\":2}]},{\"ok\":1}]}", ["password"]))
      .toBe("{\"password\":\"*****\",\"user\":{\"password\":\"*****\",\"name\":\"a\"},\"list\":[{\"password\":\"*****\"},{\"ok\":1}]}");
    expect(scan("{\"a\":{},\"b\":[],\"c\":null}", ["a", "b", "c"])).toBe("{\"a\":\"*****\",\"b\":\"*****\",\"c\":\"*****\"}");
    expect(scan("[{\"ssn\":\"1\"},{\"ssn\":\"2\"}]", ["ssn"])).toBe("[{\"ssn\":\"*****\"},{\"ssn\":\"*****\"}]");
  });

  it("masks only exact key names, and finds escaped ones", () => {
    expect(scan("{\"id\":1,\"user_id\":2,\"ID\":3}", ["id"])).toBe("{\"id\":\"*****\",\"user_id\":2,\"ID\":3}");
    expect(scan("{\"pass\\u0077ord\":\"x\"}", ["password"])).toBe("{\"pass\\u0077ord\":\"*****\"}");
    expect(scan("{\"caf\\u00e9\":\"x\"}", ["café"])).toBe("{\"caf\\u00e9\":\"*****\"}");
  });

  it("does not mask values that merely equal a mask name", () => {
    expect(scan("[\"password\",{\"k\":\"password\"}]", ["password"])).toBe("[\"password\",{\"k\":\"password\"}]");
  });

  it("still validates what it masks", () => {
    expect(scan("{\"password\":[1,}", ["password"])).toBeNull();
    expect(scan("{\"password\":{\"a\":1} ", ["password"])).toBeNull();
  });

  it("handles deep nesting without recursion", () => {
    let deep = "";
    for (let i = 0; i < 50000; i++) deep += "[";
    for (let i = 0; i < 50000; i++) deep += "]";
    expect(scan(deep)!.length).toBe(100000);
    expect(scan(deep.substring(0, 99999))).toBeNull();
  });
});
