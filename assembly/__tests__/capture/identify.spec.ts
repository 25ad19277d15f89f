import { identify, IdentityConfig, tokenClaims, claim } from "../../capture/identify";
import { clientIp, isIpAddress } from "../../capture/ip";
import { writeMaskedPath } from "../../codec/urlencoded";
import { hostWithoutDefaultPort } from "../../capture/host";
import { writeHeaders } from "../../event/event";
import { uuid4, mixEntropy } from "../../codec/random";
import { isJsonType } from "../../event/body";
import { ByteWriter } from "../../codec/bytes";
import { decodeHeaderMap, encodeHeaderMap, HeaderMap } from "../../runtime/headers";
import { b, s } from "../helpers";

function map(pairs: Array<string>): HeaderMap {
  const k = new Array<Uint8Array>();
  const v = new Array<Uint8Array>();
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    k.push(b(pairs[i]));
    v.push(b(pairs[i + 1]));
  }
  return decodeHeaderMap(encodeHeaderMap(k, v))!;
}

function cfg(): IdentityConfig {
  const c = new IdentityConfig();
  c.authorizationHeaders = [b("authorization")];
  return c;
}

function userOf(req: HeaderMap, c: IdentityConfig = cfg(), res: HeaderMap = HeaderMap.empty()): string {
  const id = identify(req, res, c).userId;
  return id === null ? "<none>" : s(id!);
}

// Payloads are base64url without padding, as JWTs carry them. {"sub":"user-1","org":{"id":42},"n":12345678901234567890}
const PAYLOAD = "eyJzdWIiOiJ1c2VyLTEiLCJvcmciOnsiaWQiOjQyfSwibiI6MTIzNDU2Nzg5MDEyMzQ1Njc4OTB9";

describe("identify", () => {
  it("takes user_id_header first, then Kong's consumer headers in order", () => {
    const c = cfg();
    c.userIdHeader = b("x-user");
    expect(userOf(map(["x-consumer-id", "cid", "x-user", " u1 "]), c)).toBe("u1");
    expect(userOf(map(["x-consumer-id", "cid", "x-consumer-username", "uname"]))).toBe("uname");
    expect(userOf(map(["x-consumer-id", "cid", "x-consumer-custom-id", "custom", "x-consumer-username", "uname"]))).toBe("custom");
    expect(userOf(map(["X-Consumer-ID", "cid"]))).toBe("cid");
  });

  it("with consumerHeaders off (use_consumer_headers false), never takes the user from X-Consumer-*", () => {
    const c = cfg();
    c.consumerHeaders = false;
    expect(userOf(map(["x-consumer-username", "forged", "x-consumer-custom-id", "forged", "x-consumer-id", "forged"]), c)).toBe("<none>");
    // The token still counts, and a header named by user_id_header is read whatever its name.
    expect(userOf(map(["x-consumer-username", "forged", "authorization", "Bearer h." + PAYLOAD + ".sig"]), c)).toBe("user-1");
    c.userIdHeader = b("x-consumer-username");
    expect(userOf(map(["x-consumer-username", "named", "x-consumer-id", "cid"]), c)).toBe("named");
    // On (the default), the same consumer header wins over the token.
    expect(userOf(map(["x-consumer-username", "uname", "authorization", "Bearer h." + PAYLOAD + ".sig"]))).toBe("uname");
  });

  it("reads the JWT payload as base64url, with or without padding, Bearer in any case", () => {
    expect(userOf(map(["authorization", "Bearer h." + PAYLOAD + ".sig"]))).toBe("user-1");
    // {"sub":"u~?>","x":1}: its base64url has '-' (which the Lua plugin dropped) and needs one '='.
    expect(userOf(map(["authorization", "bearer h.eyJzdWIiOiJ1fj8-IiwieCI6MX0=.sig"]))).toBe("u~?>");
    expect(userOf(map(["authorization", "Bearer h.eyJzdWIiOiJ1fj8-IiwieCI6MX0.sig"]))).toBe("u~?>");
    expect(userOf(map(["authorization", "BEARER   h." + PAYLOAD + ".sig  "]))).toBe("user-1");
    expect(userOf(map(["authorization", "h." + PAYLOAD + ".sig"]))).toBe("user-1");
  });

  it("reads nested and numeric claims", () => {
    const c = cfg();
    c.userIdField = "org.id";
    expect(userOf(map(["authorization", "Bearer h." + PAYLOAD + ".s"]), c)).toBe("42");
    c.userIdField = "n";
    expect(userOf(map(["authorization", "Bearer h." + PAYLOAD + ".s"]), c)).toBe("12345678901234567890");
    c.userIdField = "org";
    expect(userOf(map(["authorization", "Bearer h." + PAYLOAD + ".s"]), c)).toBe("<none>");
  });

  it("splits Basic credentials at the first colon", () => {
    // "alice:pa:ss"
    expect(userOf(map(["authorization", "Basic YWxpY2U6cGE6c3M="]))).toBe("alice");
    expect(userOf(map(["authorization", "basic YWxpY2U6cGE6c3M="]))).toBe("alice");
  });

  it("uses the first authorization header present of a list", () => {
    const c = cfg();
    c.authorizationHeaders = [b("x-api-token"), b("authorization")];
    expect(userOf(map(["authorization", "Basic YWxpY2U6eA==", "x-api-token", "Bearer h." + PAYLOAD + ".s"]), c)).toBe("user-1");
  });

  it("falls back to user_id_header in the response", () => {
    const c = cfg();
    c.userIdHeader = b("x-user");
    expect(userOf(map(["accept", "*/*"]), c, map(["x-user", "from-response"]))).toBe("from-response");
  });

  it("finds the company in headers, then in the token", () => {
    const c = cfg();
    c.companyIdHeader = b("x-company");
    c.companyIdField = "org.id";
    const tok = "Bearer h." + PAYLOAD + ".s";
    expect(s(identify(map(["x-company", "acme", "authorization", tok]), HeaderMap.empty(), c).companyId!)).toBe("acme");
    expect(s(identify(map(["authorization", tok]), map(["x-company", "res-co"]), c).companyId!)).toBe("res-co");
    expect(s(identify(map(["x-consumer-id", "u", "authorization", tok]), HeaderMap.empty(), c).companyId!)).toBe("42");
  });

  it("gives no id for malformed tokens, and never traps", () => {
    let huge = "Bearer h.";
    for (let i = 0; i < 100000; i++) huge += "A";
    const bad = ["Bearer", "Bearer ", "Bearer x", "Bearer a.b.c", "Bearer a.!!!.c", "Bearer a.bm90IGpzb24.c", "Bearer a.WzEsMl0.c",
      "Basic !!!", "Basic YWxpY2U=", "Token abc", "Bearer ..", huge, "Basic "];
    for (let i = 0; i < bad.length; i++) expect(userOf(map(["authorization", bad[i]]))).toBe("<none>", bad[i].substring(0, 40));
    expect(tokenClaims(b("."))).toBeNull();
  });

  it("reads claims with a literal dotted name before walking the path", () => {
    // {"https://example.com/uid":"u9"}
    const claims = tokenClaims(b("x.eyJodHRwczovL2V4YW1wbGUuY29tL3VpZCI6InU5In0.y"))!;
    expect(s(claim(claims, "https://example.com/uid")!)).toBe("u9");
  });

  it("reads the session token from its header", () => {
    const c = cfg();
    c.sessionTokenHeader = b("x-session");
    expect(s(identify(map(["x-session", "sess-1"]), HeaderMap.empty(), c).sessionToken!)).toBe("sess-1");
  });
});

describe("client IP", () => {
  it("uses the first header of the Lua plugin's list that holds a valid address", () => {
    expect(s(clientIp(map(["x-real-ip", "10.0.0.9", "x-forwarded-for", "garbage, 203.0.113.7:8080, 10.0.0.1"]), b("127.0.0.1"))!)).toBe("203.0.113.7");
    expect(s(clientIp(map(["x-client-ip", "nope", "x-real-ip", "10.0.0.9"]), null)!)).toBe("10.0.0.9");
    expect(s(clientIp(map(["forwarded", "for=\"[2001:db8::1]:4711\";proto=https"]), null)!)).toBe("2001:db8::1");
    expect(s(clientIp(map(["forwarded", "For=192.0.2.60;by=203.0.113.43"]), null)!)).toBe("192.0.2.60");
    expect(s(clientIp(map(["accept", "*/*"]), b("198.51.100.2"))!)).toBe("198.51.100.2");
  });
  it("validates IPv4 and IPv6", () => {
    const good = ["1.2.3.4", "255.255.255.255", "::1", "2001:db8::8a2e:370:7334", "::", "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8"];
    const bad = ["256.1.1.1", "1.2.3", "1.2.3.4.5", "01234.1.1.1", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "g::1", "", "1.2.3.4:80"];
    for (let i = 0; i < good.length; i++) expect(isIpAddress(b(good[i]))).toBe(true, good[i]);
    for (let i = 0; i < bad.length; i++) expect(isIpAddress(b(bad[i]))).toBe(false, bad[i]);
  });
});

function maskedPath(path: string, masks: Array<string>): string {
  const m = new Array<Uint8Array>();
  for (let i = 0; i < masks.length; i++) m.push(b(masks[i]));
  const w = new ByteWriter();
  writeMaskedPath(w, b(path), m);
  return s(w.toBytes());
}

describe("query masks", () => {
  it("masks every occurrence of the exact (URL-decoded) name, empty values too", () => {
    expect(maskedPath("/p?id=1&user_id=2&id=&x=3&%69d=4&id", ["id"])).toBe("/p?id=*****&user_id=2&id=*****&x=3&%69d=*****&id=*****");
    expect(maskedPath("/p?api+key=s&api%20key=t", ["api key"])).toBe("/p?api+key=*****&api%20key=*****");
    expect(maskedPath("/p?a=1&&b=2&", ["id"])).toBe("/p?a=1&&b=2&");
    expect(maskedPath("/p", ["id"])).toBe("/p");
    expect(maskedPath("/p?id=1", [])).toBe("/p?id=1");
  });
  it("drops only the scheme's default port from the host", () => {
    expect(s(hostWithoutDefaultPort(b("a.example:443"), true))).toBe("a.example");
    expect(s(hostWithoutDefaultPort(b("a.example:443"), false))).toBe("a.example:443");
    expect(s(hostWithoutDefaultPort(b("a.example:80"), false))).toBe("a.example");
    expect(s(hostWithoutDefaultPort(b("a.example:8080"), false))).toBe("a.example:8080");
  });
});

describe("header masks", () => {
  it("replace the value and keep the name, ignoring case", () => {
    const w = new ByteWriter();
    writeHeaders(w, map(["Authorization", "secret", "X-Api-Key", "k1", "x-api-key", "k2", "accept", "*/*"]), [b("authorization"), b("x-api-key")]);
    expect(s(w.toBytes())).toBe("{\"authorization\":\"*****\",\"x-api-key\":\"*****\",\"accept\":\"*/*\"}");
  });
});

describe("content types", () => {
  it("recognises JSON media types", () => {
    const yes = ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json", "application/problem+json ;x=1", "text/json"];
    const no = ["text/plain", "application/jsonp", "application/x-json-stream", "json", "", "application/xml", "application/+jsonx", "json; profile=a/json"];
    for (let i = 0; i < yes.length; i++) expect(isJsonType(b(yes[i]))).toBe(true, yes[i]);
    for (let i = 0; i < no.length; i++) expect(isJsonType(b(no[i]))).toBe(false, no[i]);
  });
});

describe("uuid4", () => {
  it("makes distinct version-4 UUIDs", () => {
    mixEntropy(12345);
    const a = s(uuid4());
    const c = s(uuid4());
    expect(a.length).toBe(36);
    expect(a.charAt(14)).toBe("4");
    expect("89ab".includes(a.charAt(19))).toBe(true);
    expect(a == c).toBe(false);
  });
});
