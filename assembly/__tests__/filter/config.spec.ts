import { parseConfig, ConfigResult } from "../../filter/config";
import { JsonParser, JKind, JObject, JString, JNumber } from "../../codec/json";
import { parseEndpoint } from "../../delivery/endpoint";
import { b } from "../helpers";

function parse(text: string): ConfigResult {
  return parseConfig(b(text));
}

// Table: configuration text → the error it must give (a substring naming the field), or "" for valid.
const CASES: Array<Array<string>> = [
  ["{\"application_id\":\"abc\"}", ""],
  ["{\"application_id\":\"abc\",\"api_endpoint\":\"http://127.0.0.1:9000\",\"batch_size\":5,\"debug\":true}", ""],
  ["{}", "application_id: is required"],
  ["not json", "not valid JSON"],
  ["", "configuration is empty"],
  ["[1,2]", "must be a JSON object"],
  ["\"text\"", "must be a JSON object"],
  ["{\"application_id\":5}", "application_id: must be a string"],
  ["{\"application_id\":\"\"}", "application_id: is required"],
  ["{\"application_id\":\"a\",\"batch_size\":\"10\"}", "batch_size: must be a number"],
  ["{\"application_id\":\"a\",\"batch_size\":0}", "batch_size: must be between 1 and"],
  ["{\"application_id\":\"a\",\"batch_size\":1.5}", "batch_size: must be a whole number"],
  ["{\"application_id\":\"a\",\"debug\":\"yes\"}", "debug: must be true or false"],
  ["{\"application_id\":\"a\",\"api_endpoint\":\"ftp://x\"}", "api_endpoint: must be an http:// or https:// URL"],
  ["{\"application_id\":\"a\",\"api_endpoint\":\"https://\"}", "api_endpoint: must be an http:// or https:// URL"],
  ["{\"application_id\":\"a\",\"request_header_masks\":\"authorization\"}", "request_header_masks: must be an array of strings"],
  ["{\"application_id\":\"a\",\"request_header_masks\":[1]}", "request_header_masks: must be an array of strings"],
  ["{\"application_id\":\"a\"} x", "not valid JSON"],
  ["{\"application_id\":\"a\",}", "not valid JSON"],
  // Kong derives TLS SNI from the endpoint's host and refuses an IP address there.
  ["{\"application_id\":\"a\",\"api_endpoint\":\"https://10.1.2.3\"}", "api_endpoint: an https:// endpoint needs a host name"],
  ["{\"application_id\":\"a\",\"api_endpoint\":\"https://010.001.2.255:8443/x\"}", "api_endpoint: an https:// endpoint needs a host name"],
  ["{\"application_id\":\"a\",\"api_endpoint\":\"https://[::1]\"}", "api_endpoint: an https:// endpoint needs a host name"],
  ["{\"application_id\":\"a\",\"api_endpoint\":\"https://10.1.2.256\"}", ""],
  ["{\"application_id\":\"a\",\"api_endpoint\":\"https://1.2.3.4.nip.io\"}", ""],
  ["{\"application_id\":\"a\",\"api_endpoint\":\"http://10.1.2.3\"}", ""],
];

describe("parseConfig", () => {
  it("gives the expected verdict for each example", () => {
    for (let i = 0; i < CASES.length; i++) {
      const text = CASES[i][0];
      const want = CASES[i][1];
      const r = parse(text);
      if (want.length == 0) {
        expect(r.errors.length).toBe(0, "valid: " + text + " got " + r.errors.join("; "));
        expect(r.config).not.toBeNull(text);
      } else {
        expect(r.config).toBeNull(text);
        expect(r.errors.join("; ").includes(want)).toBe(true, text + " → " + r.errors.join("; ") + " (want " + want + ")");
      }
    }
  });

  it("applies the documented defaults", () => {
    const c = parse("{\"application_id\":\"abc\"}").config!;
    expect(c.applicationId).toBe("abc");
    expect(c.apiEndpoint).toBe("https://api.moesif.net");
    expect(c.endpoint.upstream).toBe("api.moesif.net:443");
    expect(c.batchSize).toBe(500);
    expect(c.debug).toBe(false);
    expect(c.eventQueueSize).toBe(10000);
    expect(c.authorizationHeaderName).toBe("authorization");
    expect(c.authorizationUserIdField).toBe("sub");
  });

  it("refuses null (as the schema does), and keeps the last duplicate key", () => {
    expect(parse("{\"application_id\":\"a\",\"batch_size\":null}").errors[0]).toBe("batch_size: must be a number");
    const c = parse("{\"application_id\":\"a\",\"debug\":false,\"debug\":true}").config!;
    expect(c.debug).toBe(true);
  });

  it("refuses unknown fields: a misspelt mask must not silently do nothing", () => {
    const r = parse("{\"application_id\":\"a\",\"request_body_mask\":[\"password\"]}");
    expect(r.config).toBeNull();
    expect(r.errors[0]).toBe("request_body_mask: is not a field of this filter");
  });

  it("merges the deprecated body mask aliases", () => {
    const c = parse("{\"application_id\":\"a\",\"request_body_masks\":[\"password\"],\"request_masks\":[\"ssn\",\"password\"]}").config!;
    expect(c.requestBodyMasks.length).toBe(2);
    expect(c.requestBodyMasks[1]).toBe("ssn");
  });

  it("reads an empty object as the empty list, as Kong hands one over, and nothing else", () => {
    // Kong re-encodes the stored config with cjson: `[]` arrives as `{}` (kong/runloop/wasm.lua).
    const names = ["request_header_masks", "response_header_masks", "request_body_masks", "response_body_masks",
      "request_masks", "response_masks", "request_query_masks"];
    let all = "{\"application_id\":\"a\"";
    for (let i = 0; i < names.length; i++) all += ",\"" + names[i] + "\": { }";
    const c = parse(all + "}").config!;
    expect(c.requestHeaderMasks.length + c.responseHeaderMasks.length + c.requestBodyMasks.length +
      c.responseBodyMasks.length + c.requestQueryMasks.length).toBe(0);
    for (let i = 0; i < names.length; i++) {
      const r = parse("{\"application_id\":\"a\",\"" + names[i] + "\":{\"password\":true}}");
      expect(r.config).toBeNull(names[i]);
      expect(r.errors[0]).toBe(names[i] + ": must be an array of strings");
      expect(parse("{\"application_id\":\"a\",\"" + names[i] + "\":{\"0\":\"x\"}}").config).toBeNull(names[i]);
    }
    // A string or a number field given {} stays an error.
    expect(parse("{\"application_id\":\"a\",\"user_id_header\":{}}").errors[0]).toBe("user_id_header: must be a string");
    expect(parse("{\"application_id\":{}}").errors[0]).toBe("application_id: must be a string");
  });

  it("keeps masks whose UTF-8 ends in byte 0x85 or that carry a no-break space, and refuses a final newline", () => {
    const c = parse("{\"application_id\":\"a\",\"request_body_masks\":[\"\u00c5\",\"данных\",\"\u00a0x\u00a0\",\"\u0085\"]}").config!;
    expect(c.requestBodyMasks.length).toBe(4);
    expect(c.requestBodyMasks[0]).toBe("Å");
    expect(c.requestBodyMasks[1]).toBe("данных");
    expect(parse("{\"application_id\":\"a\",\"request_body_masks\":[\"authorization\\n\"]}").config).toBeNull();
    expect(parse("{\"application_id\":\"abc\\n\"}").config).toBeNull();
    const r = parse("{\"application_id\":\"a\",\"api_endpoint\":\"https://api.moesif.net\\n\",\"request_masks\":[\"forged: 1\\r\\n\"]}");
    expect(r.config).toBeNull();
    // The value is quoted as JSON in the log line: its newline cannot start a line of its own.
    expect(r.errors[0]).toBe("api_endpoint: must be an http:// or https:// URL with a host, got \"https://api.moesif.net\\n\"");
    expect(r.errors[1].startsWith("request_masks: \"forged: 1\\r\\n\" is empty")).toBe(true, r.errors[1]);
  });

  it("reads use_consumer_headers, on unless set to false", () => {
    expect(parse("{\"application_id\":\"a\"}").config!.useConsumerHeaders).toBe(true);
    expect(parse("{\"application_id\":\"a\",\"use_consumer_headers\":false}").config!.useConsumerHeaders).toBe(false);
    expect(parse("{\"application_id\":\"a\",\"use_consumer_headers\":true}").config!.useConsumerHeaders).toBe(true);
    expect(parse("{\"application_id\":\"a\",\"use_consumer_headers\":\"false\"}").errors[0]).toBe("use_consumer_headers: must be true or false");
    expect(parse("{\"application_id\":\"a\",\"use_consumer_headers\":0}").config).toBeNull();
  });

  it("reports every bad field, not just the first", () => {
    const r = parse("{\"application_id\":\"a\",\"batch_size\":-1,\"debug\":1}");
    expect(r.errors.length).toBe(2);
  });
});

describe("JSON reader", () => {
  it("reads nested values and escapes", () => {
    const p = new JsonParser(b("{\"a\":[1,-2.5e3,true,null],\"s\":\"x\\u00e9\\n\\\"\",\"o\":{}}"));
    const v = p.parse();
    expect(v).not.toBeNull();
    const o = <JObject>v!;
    expect(o.keys.length).toBe(3);
    expect((<JString>o.get("s")!).value).toBe("xé\n\"");
  });
  it("reads numbers", () => {
    const v = new JsonParser(b(" -2.5e3 ")).parse()!;
    expect(v.kind).toBe(JKind.Number);
    expect((<JNumber>v).value).toBe(-2500);
  });
  it("rejects what JSON does not allow", () => {
    const bad = ["{", "[1,]", "01", "1.", "-", "\"a", "\"\\x\"", "tru", "{\"a\" 1}", "[1 2]", "\"\t\""];
    for (let i = 0; i < bad.length; i++) {
      expect(new JsonParser(b(bad[i])).parse()).toBeNull(bad[i]);
    }
  });
  it("bounds nesting instead of exhausting the stack", () => {
    let deep = "";
    for (let i = 0; i < 10000; i++) deep += "[";
    const p = new JsonParser(b(deep));
    expect(p.parse()).toBeNull();
    expect(p.error.includes("nested too deeply")).toBe(true);
  });
});

describe("api_endpoint", () => {
  it("derives upstream, authority and path", () => {
    const e = parseEndpoint("https://api.moesif.net")!;
    expect(e.upstream).toBe("api.moesif.net:443");
    expect(e.authority).toBe("api.moesif.net");
    expect(e.scheme).toBe("https");
    const l = parseEndpoint("http://127.0.0.1:9000/base/")!;
    expect(l.upstream).toBe("127.0.0.1:9000");
    expect(l.authority).toBe("127.0.0.1:9000");
    expect(l.basePath).toBe("/base");
    const v6 = parseEndpoint("http://[::1]:8080")!;
    expect(v6.upstream).toBe("[::1]:8080");
    const p = parseEndpoint("HTTPS://Collector.Example:8443")!;
    expect(p.upstream).toBe("collector.example:8443");
    expect(p.authority).toBe("collector.example:8443");
  });
  it("refuses what is not an http(s) URL with a host", () => {
    const bad = ["api.moesif.net", "https://", "http://:80", "http://h:0", "http://h:70000", "http://h:x", "http://u@h", "http://h?x=1", "http://h h",
      "http://[::1", "http://h:080", "http://[zz]:1", "http://h/a b", "http://hé", "http://[]"];
    for (let i = 0; i < bad.length; i++) expect(parseEndpoint(bad[i])).toBeNull(bad[i]);
  });
});
