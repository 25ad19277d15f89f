// No secret leaves Kong. With body masks set, every body the filter cannot read whole and mask
// with certainty is left out of the event (with a note); bodies it can read are masked; derived
// fields obey header masks; decoding is bounded by the body limit in memory and work; configuration
// that would weaken masking is refused. Each case asserts on what the collector received: the
// secret appears nowhere in any batch, raw, gunzipped, or base64-decoded.
import { test, describe, afterEach } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { harness, Harness, send, logsAt, closeChecked } from "../support/harness.ts";
import { Handler } from "../support/upstream.ts";
import { MoesifEvent } from "../collector/collector.ts";

const SECRET = "hunter2-S3CRET-9f1b";
const MASKS = { request_body_masks: ["password"], response_body_masks: ["password"] };
const NOTE = (dir: "request" | "response", why: string) =>
  `not captured: ${dir}_body_masks is set and ${why}, so it cannot be masked with certainty`;

let h: Harness | null = null;
afterEach(async () => {
  const done = h;
  h = null;
  await closeChecked(done);
});

/** Every decoding of `b` a reader could try: as it is, gunzipped, inflated, base64-decoded (and those gunzipped). */
function decodings(b: Buffer): Buffer[] {
  const out = [b];
  for (const f of [zlib.gunzipSync, zlib.inflateSync, zlib.inflateRawSync, zlib.brotliDecompressSync]) {
    try {
      out.push(f(b));
    } catch {
      // not that encoding
    }
  }
  return out;
}

function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
  else if (v && typeof v === "object") Object.values(v).forEach((x) => strings(x, out));
  return out;
}

/** The secret is nowhere: not in any batch's bytes, nor in any string of any event, decoded every way. */
function assertNoSecret(hh: Harness, secret = SECRET): void {
  assert.ok(hh.collector.batches.length > 0, "something was sent");
  for (const batch of hh.collector.batches) {
    for (const b of [batch.rawBody, batch.body]) {
      for (const d of decodings(b)) assert.ok(!d.includes(secret), "the secret is in a batch's bytes");
    }
    for (const s of strings(batch.events)) {
      const candidates = [Buffer.from(s), Buffer.from(s, "base64"), Buffer.from(s, "base64url")];
      for (const c of candidates) for (const d of decodings(c)) assert.ok(!d.includes(secret), `the secret is in ${s.slice(0, 80)}`);
    }
  }
}

async function one(opts: { config?: Record<string, unknown>; method?: string; headers?: [string, string][]; body?: Buffer | string; upstream?: Handler; host?: Record<string, unknown> }): Promise<MoesifEvent> {
  h = await harness({ config: { application_id: "sec", ...MASKS, ...opts.config }, upstream: opts.upstream, host: opts.host });
  const r = await send(h.gateway.url, { method: opts.method ?? "POST", path: "/s", headers: opts.headers, body: opts.body });
  assert.equal(r.status, 200, "the call itself goes through");
  await h.flush();
  assert.equal(h.collector.events.length, 1);
  assertNoSecret(h);
  return h.collector.events[0];
}

const json = (o: unknown) => JSON.stringify(o);
const secretDoc = json({ user: "a", password: SECRET });
const gz = (s: string | Buffer) => zlib.gzipSync(s);

describe("the check itself", () => {
  test("without masks, it finds the secret in plain, base64 and gzip'd-then-base64 bodies", async () => {
    for (const [headers, body] of [
      [[["Content-Type", "application/json"]], secretDoc],
      [[["Content-Type", "text/plain"]], `password: ${SECRET}`],
      [[["Content-Type", "application/json"], ["Content-Encoding", "br"]], zlib.brotliCompressSync(secretDoc)],
    ] as [[string, string][], string | Buffer][]) {
      await assert.rejects(one({ config: { request_body_masks: [] }, headers, body }), /the secret is in/);
      await h!.close();
      h = null;
    }
  });
});

describe("request bodies that cannot be masked with certainty are left out, with a note", () => {
  const cases: { name: string; headers: [string, string][]; body: Buffer | string; note: string; config?: Record<string, unknown> }[] = [
    { name: "JSON with a byte that is not UTF-8", headers: [["Content-Type", "application/json"]], body: Buffer.concat([Buffer.from('{"password":"' + SECRET + '","x":"'), Buffer.from([0xc3]), Buffer.from('"}')]), note: "the body is not valid JSON" },
    { name: "JSON with trailing garbage", headers: [["Content-Type", "application/json"]], body: secretDoc + " trailing", note: "the body is not valid JSON" },
    { name: "two JSON documents", headers: [["Content-Type", "application/json"]], body: secretDoc + "\n" + secretDoc, note: "the body is not valid JSON" },
    { name: "text/plain that is not JSON", headers: [["Content-Type", "text/plain"]], body: `password: ${SECRET}`, note: 'a "text/plain" is neither JSON nor a form' },
    { name: "no content type, not JSON", headers: [], body: `password=${SECRET} and more text`, note: "a body without a content type is neither JSON nor a form" },
    { name: "gzip with disable_gzip_payload_decompression", headers: [["Content-Type", "application/json"], ["Content-Encoding", "gzip"]], body: gz(secretDoc), config: { disable_gzip_payload_decompression: true }, note: 'the body is compressed (content-encoding "gzip") and disable_gzip_payload_decompression is set' },
    { name: "stacked codings (gzip, br)", headers: [["Content-Type", "application/json"], ["Content-Encoding", "gzip, br"]], body: zlib.brotliCompressSync(gz(secretDoc)), note: 'the body is compressed (content-encoding "gzip, br") and the filter does not decode it' },
    { name: "br", headers: [["Content-Type", "application/json"], ["Content-Encoding", "br"]], body: zlib.brotliCompressSync(secretDoc), note: 'the body is compressed (content-encoding "br") and the filter does not decode it' },
    { name: "zstd", headers: [["Content-Type", "application/json"], ["Content-Encoding", "zstd"]], body: Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.from(secretDoc)]), note: 'the body is compressed (content-encoding "zstd") and the filter does not decode it' },
    { name: "gzip cut short", headers: [["Content-Type", "application/json"], ["Content-Encoding", "gzip"]], body: gz(secretDoc + " ".repeat(200)).subarray(0, 30), note: "the gzip body could not be decompressed" },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const e = await one({ headers: c.headers, body: c.body, config: c.config });
      assert.equal(e.request.body, undefined);
      assert.equal(e.request.transfer_encoding, undefined);
      assert.deepEqual(e.metadata, { capture: { request_body: NOTE("request", c.note) } });
    });
  }

  test("a response body too (br from the upstream)", async () => {
    const e = await one({
      method: "GET",
      upstream: (_req, _body, res) => {
        res.writeHead(200, { "content-type": "application/json", "content-encoding": "br" });
        res.end(zlib.brotliCompressSync(secretDoc));
      },
    });
    assert.equal(e.response.body, undefined);
    assert.deepEqual(e.metadata, { capture: { response_body: NOTE("response", 'the body is compressed (content-encoding "br") and the filter does not decode it') } });
  });

  test("without masks for that direction, the same body still goes as received (base64)", async () => {
    const e = await one({ config: { request_body_masks: [] }, headers: [["Content-Type", "application/json"]], body: "not json" }).catch((err) => {
      throw err;
    });
    assert.equal(e.request.body, Buffer.from("not json").toString("base64"));
    assert.equal(e.request.transfer_encoding, "base64");
  });
});

describe("bodies the filter can read whole are masked, whatever their type says", () => {
  test("JSON after a UTF-8 byte order mark: masked, sent as JSON, the mark dropped", async () => {
    const e = await one({ headers: [["Content-Type", "application/json"]], body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(secretDoc)]) });
    assert.deepEqual(e.request.body, { user: "a", password: "*****" });
    assert.equal(e.request.transfer_encoding, "json");
    assert.equal(e.metadata, undefined);
  });

  test("JSON sent as text/plain, or with no content type, or as a form (curl -d): masked as JSON", async () => {
    for (const headers of [[["Content-Type", "text/plain"]], [], [["Content-Type", "application/x-www-form-urlencoded"]]] as [string, string][][]) {
      const e = await one({ headers, body: secretDoc });
      assert.deepEqual(e.request.body, { user: "a", password: "*****" }, JSON.stringify(headers));
      await closeChecked(h);
      h = null;
    }
  });

  test("forms: masked field by field (percent-encoded names too) and sent as text", async () => {
    const e = await one({
      headers: [["Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"]],
      body: `user=a&password=${SECRET}&pass%77ord=${SECRET}&password=&passwords=kept`,
    });
    assert.equal(e.request.body, "user=a&password=*****&pass%77ord=*****&password=*****&passwords=kept");
    assert.equal(e.request.transfer_encoding, "json");
  });

  test("gzip: the decompressed JSON is masked; trailing padding after the member is ignored, whatever its length", async () => {
    for (const pad of [Buffer.alloc(1), Buffer.alloc(17), Buffer.alloc(18), Buffer.from("\r\n"), Buffer.from("not a gzip member")]) {
      const e = await one({ headers: [["Content-Type", "application/json"], ["Content-Encoding", "gzip"]], body: Buffer.concat([gz(secretDoc), pad]) });
      assert.deepEqual(e.request.body, { user: "a", password: "*****" }, `${pad.length} bytes of padding`);
      await closeChecked(h);
      h = null;
    }
  });
});

describe("derived fields obey masks", () => {
  test("session_token from a masked header is masked; user_id from a masked Authorization is still the user's", async () => {
    const token = Buffer.from(json({ sub: "user-7" })).toString("base64url");
    const e = await one({
      method: "GET",
      config: { session_token_header: "x-api-key", request_header_masks: ["X-API-Key", "authorization"] },
      headers: [["X-API-Key", SECRET], ["Authorization", `Bearer e30.${token}.sig`]],
    });
    assert.equal(e.session_token, "*****");
    assert.equal(e.request.headers!["x-api-key"], "*****");
    assert.equal(e.request.headers!.authorization, "*****");
    assert.equal(e.user_id, "user-7");
  });

  test("a blank or over-long incoming transaction id is replaced: one key in the event, and a mask on it holds", async () => {
    for (const given of ["   ", "x".repeat(300)]) {
      const e = await one({ method: "GET", config: { request_header_masks: ["x-moesif-transaction-id"] }, headers: [["X-Moesif-Transaction-Id", given]] });
      const batch = h!.collector.batches[0].body.toString();
      assert.equal(batch.match(/"x-moesif-transaction-id"/g)!.length, 2, "once in the request headers, once in the response headers");
      assert.equal(e.request.headers!["x-moesif-transaction-id"], "*****");
      assert.match(String(e.transaction_id), /^[0-9a-f-]{36}$/);
      await closeChecked(h);
      h = null;
    }
  });
});

describe("decoding is bounded by the body limit", () => {
  // Thousands of empty gzip members (20 bytes each), then one with the document.
  const members = (n: number) => Buffer.concat([...Array.from({ length: n }, () => gz("")), gz(secretDoc)]);

  for (const [limit, count] of [[undefined, 4990], [1000000, 49990]] as const) {
    test(`${count} gzip members at ${limit ? "a 1 MB limit" : "the defaults"}: the event arrives, masked, within 16 MiB`, async () => {
      const body = members(count);
      const config = limit ? { request_max_body_size_limit: limit } : {};
      const e = await one({ config, host: { clientBodyBufferSize: 2 * 1024 * 1024 }, headers: [["Content-Type", "application/json"], ["Content-Encoding", "gzip"]], body });
      assert.deepEqual(e.request.body, { user: "a", password: "*****" });
      const memory = (h!.host.exports.memory as WebAssembly.Memory).buffer.byteLength;
      assert.ok(memory <= 16 * 1024 * 1024, `linear memory ${memory} bytes for a ${body.length}-byte body`);
    });
  }
});

describe("wrong outputs, fixed", () => {
  test("a repeated response header named by user_id_header: the last one counts", async () => {
    const e = await one({
      method: "GET",
      config: { user_id_header: "x-user" },
      upstream: (_req, _body, res) => {
        res.setHeader("X-User", ["first", "last"]);
        res.end("");
      },
    });
    assert.equal(e.user_id, "last");
  });

  test("a JWT claim that is not valid UTF-8 keeps a replacement character: admin\\xC3 is not admin", async () => {
    const payload = Buffer.concat([Buffer.from('{"sub":"admin'), Buffer.from([0xc3]), Buffer.from('"}')]).toString("base64url");
    const e = await one({ method: "GET", headers: [["Authorization", `Bearer e30.${payload}.sig`]] });
    assert.equal(e.user_id, "admin\uFFFD");
  });
});

describe("configuration that would weaken masking or break delivery is refused, loudly", () => {
  const refused: [string, Record<string, unknown>, RegExp][] = [
    ["a mask name with spaces around it", { application_id: "a", request_body_masks: [" password "] }, /request_body_masks: " password " is empty or has spaces around it/],
    ["an empty header mask", { application_id: "a", request_header_masks: [""] }, /request_header_masks: "" is empty or has spaces around it/],
    ["an application_id with CR LF", { application_id: "abc\r\nX-Evil: 1" }, /application_id: must be printable ASCII/],
    ["an application_id with a NUL", { application_id: "abc\u0000" }, /application_id: must be printable ASCII/],
    ["a blank application_id", { application_id: "   " }, /application_id: must be printable ASCII/],
  ];
  for (const [name, config, error] of refused) {
    test(name, async () => {
      h = await harness({ config });
      const errors = logsAt(h.host, "error");
      assert.equal(errors.length, 1);
      assert.match(errors[0], error);
      assert.match(errors[0], /filter disabled, traffic passes untouched$/);
      assert.equal((await send(h.gateway.url, { path: "/" })).status, 200);
      await h.flush();
      assert.equal(h.host.calls.length, 0, "nothing is dispatched");
    });
  }
});
