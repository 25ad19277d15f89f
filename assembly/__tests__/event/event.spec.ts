import { ByteWriter } from "../../codec/bytes";
import { writeHeaders, buildEvent, EventOptions } from "../../event/event";
import { Capture } from "../../event/model";
import { EventQueue, BatchWriter } from "../../delivery/queue";
import { decodeHeaderMap, encodeHeaderMap } from "../../runtime/headers";
import { b, s, bytesOf } from "../helpers";

function headersJson(keys: Array<string>, values: Array<Uint8Array>): string {
  const k = new Array<Uint8Array>();
  for (let i = 0; i < keys.length; i++) k.push(b(keys[i]));
  const w = new ByteWriter();
  writeHeaders(w, decodeHeaderMap(encodeHeaderMap(k, values))!);
  return s(w.toBytes());
}

describe("event headers", () => {
  it("lower-cases names and leaves pseudo-headers out", () => {
    expect(headersJson([":path", "Content-Type", "X-A"], [b("/"), b("text/plain"), b("1")]))
      .toBe("{\"content-type\":\"text/plain\",\"x-a\":\"1\"}");
  });
  it("joins repeated headers with \", \" in order, whatever their case", () => {
    expect(headersJson(["Accept", "x-b", "accept", "ACCEPT"], [b("a/1"), b("2"), b("a/2"), b("a/3")]))
      .toBe("{\"accept\":\"a/1, a/2, a/3\",\"x-b\":\"2\"}");
  });
  it("writes invalid UTF-8 values as valid JSON", () => {
    expect(headersJson(["x-raw"], [bytesOf([0x41, 0xfe, 0x42])])).toBe("{\"x-raw\":\"A\uFFFDB\"}");
  });
  it("writes an empty object for no headers", () => {
    expect(headersJson([], [])).toBe("{}");
  });
});

describe("buildEvent", () => {
  it("writes the Moesif event shape", () => {
    const c = new Capture();
    c.requestMs = 1714564805007;
    c.responseMs = 1714564805020;
    c.method = b("POST");
    c.scheme = b("https");
    c.host = b("api.example.com");
    c.path = b("/v1/items?limit=10");
    c.status = 201;
    c.ipAddress = b("203.0.113.7");
    c.requestHeaders = decodeHeaderMap(encodeHeaderMap([b("Host")], [b("api.example.com")]))!;
    const opts = new EventOptions();
    opts.apiVersion = "1.0";
    expect(s(buildEvent(c, opts))).toBe(
      "{\"request\":{\"time\":\"2024-05-01T12:00:05.007Z\",\"uri\":\"https://api.example.com/v1/items?limit=10\"," +
      "\"verb\":\"POST\",\"api_version\":\"1.0\",\"ip_address\":\"203.0.113.7\",\"headers\":{\"host\":\"api.example.com\"}}," +
      "\"response\":{\"time\":\"2024-05-01T12:00:05.020Z\",\"status\":201,\"headers\":{}}," +
      "\"direction\":\"Incoming\",\"weight\":1}");
  });
});

describe("event queue", () => {
  it("is first in, first out, and refuses events past its bound", () => {
    const q = new EventQueue(3);
    expect(q.push(b("1"))).toBe(true);
    expect(q.push(b("2"))).toBe(true);
    expect(q.push(b("3"))).toBe(true);
    expect(q.push(b("4"))).toBe(false);
    expect(q.bytes).toBe(3);
    const first = q.take(2);
    expect(s(first[0])).toBe("1");
    expect(s(first[1])).toBe("2");
    expect(q.length).toBe(1);
    expect(q.bytes).toBe(1);
    expect(s(q.take(1)[0])).toBe("3");
    expect(q.length).toBe(0);
  });
  it("joins a batch as one JSON array, in one buffer reused from batch to batch", () => {
    const w = new BatchWriter();
    const first = w.join([b("{\"a\":1}"), b("{\"b\":2}")]);
    expect(s(first)).toBe("[{\"a\":1},{\"b\":2}]");
    expect(s(w.join([]))).toBe("[]");
    const big = w.join([b("{\"c\":\"" + "x".repeat(100) + "\"}"), b("{}")]);
    expect(big.length).toBe(2 + 108 + 1 + 2);
    expect(s(big).endsWith("\"},{}]")).toBe(true, "grown to fit");
    expect(s(w.join([b("{}")]))).toBe("[{}]");
    expect(w.join([b("{}")]).dataStart).toBe(big.dataStart, "the same buffer");
  });
  it("keeps working across many takes (compaction)", () => {
    const q = new EventQueue(1000);
    for (let i = 0; i < 500; i++) q.push(b(i.toString()));
    for (let i = 0; i < 400; i++) expect(s(q.take(1)[0])).toBe(i.toString());
    expect(q.length).toBe(100);
    expect(s(q.take(1)[0])).toBe("400");
  });
});
