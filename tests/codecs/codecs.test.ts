// Property tests: the filter's own codecs (built to build/codecs.wasm) against the references —
// Node's zlib for inflate, Buffer for base64, JSON.parse for the scanner — over thousands of inputs.
// The generator is seeded; a failure prints the seed and the case.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { readFileSync } from "node:fs";
import { rng, Rng } from "../support/rng.ts";

const SEED = Number(process.env.CODEC_SEED ?? 20261125);


class Codecs {
  private ex: Record<string, any>;
  constructor() {
    const mod = new WebAssembly.Module(readFileSync(new URL("../../build/codecs.wasm", import.meta.url)));
    const instance = new WebAssembly.Instance(mod, {
      env: {
        proxy_log: (_l: number, p: number, n: number) => {
          throw new Error(Buffer.from((this.ex.memory as WebAssembly.Memory).buffer, p, n).toString());
        },
      },
    });
    this.ex = instance.exports as Record<string, any>;
    this.ex._initialize?.();
  }
  private put(data: Buffer): void {
    const p = this.ex.input(data.length) >>> 0;
    Buffer.from((this.ex.memory as WebAssembly.Memory).buffer).set(data, p);
  }
  private out(): Buffer {
    const p = this.ex.result_ptr() >>> 0;
    const n = this.ex.result_len();
    return Buffer.from(Buffer.from((this.ex.memory as WebAssembly.Memory).buffer, p, n));
  }
  inflate(kind: "gunzip" | "inflate_raw" | "zlib" | "deflate_encoding", data: Buffer, max = 1 << 24): { status: number; out: Buffer } {
    this.put(data);
    const status = this.ex[`run_${kind}`](max);
    return { status, out: status === 0 ? this.out() : Buffer.alloc(0) };
  }
  base64(data: Buffer): string {
    this.put(data);
    this.ex.run_base64_encode();
    return this.out().toString("latin1");
  }
  unbase64(text: string): Buffer | null {
    this.put(Buffer.from(text, "latin1"));
    return this.ex.run_base64_decode() ? this.out() : null;
  }
  masks(keys: string[]): void {
    this.put(Buffer.from(keys.join("\n")));
    this.ex.set_masks();
  }
  scan(data: Buffer): string | null {
    this.put(data);
    return this.ex.run_json_scan() ? this.out().toString("utf8") : null;
  }
  jsonString(data: Buffer, lower: boolean, prefix: number): Buffer {
    this.put(data);
    this.ex.run_json_string(lower ? 1 : 0, prefix);
    return this.out();
  }
  regex(pattern: string): boolean {
    this.put(Buffer.from(pattern, "latin1"));
    return this.ex.set_regex() === 1;
  }
  test(text: string): boolean {
    this.put(Buffer.from(text, "latin1"));
    return this.ex.run_regex() === 1;
  }
  get memoryBytes(): number {
    return (this.ex.memory as WebAssembly.Memory).buffer.byteLength;
  }
}

const OK = 0;
const TOO_LARGE = 1;
const CORRUPT = 2;

/** Data that compresses like real payloads: runs, repeats, text and noise mixed. */
function payload(r: Rng): Buffer {
  const parts: Buffer[] = [];
  const pieces = 1 + r.int(8);
  for (let i = 0; i < pieces; i++) {
    const kind = r.int(4);
    const n = r.int(kind === 0 ? 20000 : 3000);
    if (kind === 0) parts.push(Buffer.alloc(n, r.int(256)));
    else if (kind === 1) parts.push(r.bytes(n));
    else if (kind === 2) parts.push(Buffer.from(JSON.stringify({ id: r.int(1e6), name: "x".repeat(r.int(50)), list: [1, 2, 3] }).repeat(1 + r.int(20))));
    else if (parts.length > 0) parts.push(Buffer.concat(parts).subarray(0, n));
  }
  return Buffer.concat(parts);
}

describe("inflate matches zlib", () => {
  const c = new Codecs();

  test("gzip, zlib and raw DEFLATE at every level, strategy and window size", () => {
    const r = rng(SEED);
    for (let i = 0; i < 400; i++) {
      const plain = payload(r);
      const opts: zlib.ZlibOptions = {
        level: r.int(10),
        strategy: r.pick([zlib.constants.Z_DEFAULT_STRATEGY, zlib.constants.Z_FILTERED, zlib.constants.Z_HUFFMAN_ONLY, zlib.constants.Z_RLE, zlib.constants.Z_FIXED]),
        windowBits: 9 + r.int(7),
        memLevel: 1 + r.int(9),
      };
      const kind = r.pick(["gunzip", "zlib", "inflate_raw", "deflate_encoding"] as const);
      const packed = kind === "gunzip" ? zlib.gzipSync(plain, opts) : kind === "inflate_raw" ? zlib.deflateRawSync(plain, opts) : zlib.deflateSync(plain, opts);
      const got = c.inflate(kind, packed);
      assert.equal(got.status, OK, `seed ${SEED} case ${i}: ${kind} ${JSON.stringify(opts)} ${plain.length} bytes`);
      assert.ok(got.out.equals(plain), `seed ${SEED} case ${i}: output differs`);
    }
  });

  test("hostile streams: never a wrong answer, never a trap", () => {
    const r = rng(SEED + 1);
    for (let i = 0; i < 3000; i++) {
      const base = zlib.gzipSync(payload(r).subarray(0, 5000), { level: r.int(10) });
      let input: Buffer;
      const how = r.int(4);
      if (how === 0) input = base.subarray(0, r.int(base.length)); // truncated
      else if (how === 1) {
        input = Buffer.from(base);
        for (let k = 0; k < 1 + r.int(4); k++) input[r.int(input.length)] ^= 1 << r.int(8); // bit flips
      } else if (how === 2) input = Buffer.concat([base.subarray(0, 10), r.bytes(r.int(300))]); // valid header, garbage
      else input = r.bytes(r.int(200));
      const got = c.inflate("gunzip", input, 1 << 20);
      assert.ok([OK, TOO_LARGE, CORRUPT].includes(got.status), `seed ${SEED + 1} case ${i}: status ${got.status}`);
      if (got.status === OK) {
        // Whatever we accept, zlib accepts with the same bytes (the CRC-32 makes a silent error unlikely).
        const ref = zlib.gunzipSync(input);
        assert.ok(got.out.equals(ref), `seed ${SEED + 1} case ${i}: accepted with different output`);
      }
    }
  });

  test("hostile raw DEFLATE, with no checksum to catch a wrong answer: accepted only as zlib accepts it", () => {
    // Raw DEFLATE (a `deflate` body without the zlib wrapper) has no CRC: a distance reaching back
    // past the output's start, or a stream ending inside a code's extra bits, must be refused by
    // the decoder itself, or memory that is not the body would go into the event.
    const r = rng(SEED + 3);
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const input = Buffer.from(zlib.deflateRawSync(payload(r).subarray(0, 3000), { level: 1 + r.int(9) }));
      if (r.int(2) === 0) {
        for (let k = 0; k < 1 + r.int(3); k++) input[r.int(input.length)] ^= 1 << r.int(8);
      }
      const cut = r.int(3) === 0 ? input.subarray(0, r.int(input.length)) : input;
      const got = c.inflate("inflate_raw", cut, 1 << 20);
      let ref: Buffer | null = null;
      try {
        ref = zlib.inflateRawSync(cut, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch {
        ref = null;
      }
      if (got.status !== OK) {
        refused++;
        continue;
      }
      assert.ok(ref !== null, `seed ${SEED + 3} case ${i}: accepted what zlib refuses`);
      assert.ok(ref!.subarray(0, got.out.length).equals(got.out), `seed ${SEED + 3} case ${i}: accepted with different output`);
    }
    assert.ok(refused > 300, `only ${refused} of 3000 hostile streams refused: the test is not hostile enough`);
  });

  test("output is bounded: bombs stop at the limit", () => {
    const bomb = zlib.gzipSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 });
    const before = c.memoryBytes;
    assert.equal(c.inflate("gunzip", bomb, 100000).status, TOO_LARGE);
    assert.ok(c.memoryBytes - before < 4 * 1024 * 1024, `memory grew by ${c.memoryBytes - before}`);
    const plain = payload(rng(SEED + 2));
    const packed = zlib.gzipSync(plain);
    assert.equal(c.inflate("gunzip", packed, plain.length).status, OK);
    assert.equal(c.inflate("gunzip", packed, plain.length - 1).status, TOO_LARGE);
  });
});

describe("base64 matches Buffer", () => {
  const c = new Codecs();
  test("encodes like Buffer, and decodes base64 and base64url with or without padding", () => {
    const r = rng(SEED + 3);
    for (let i = 0; i < 2000; i++) {
      const data = r.bytes(r.int(300));
      const std = data.toString("base64");
      assert.equal(c.base64(data), std);
      assert.ok(c.unbase64(std)!.equals(data));
      assert.ok(c.unbase64(data.toString("base64url"))!.equals(data));
      assert.ok(c.unbase64(std.replace(/=+$/, ""))!.equals(data));
    }
  });
  test("refuses what is not base64", () => {
    const r = rng(SEED + 4);
    for (let i = 0; i < 2000; i++) {
      const text = Buffer.from(r.bytes(1 + r.int(40)).toString("base64")).toString();
      const pos = r.int(text.length);
      const bad = text.slice(0, pos) + r.pick(["!", " ", "\n", "*", "é", "."]) + text.slice(pos);
      assert.equal(c.unbase64(bad), null, JSON.stringify(bad));
    }
  });
});

/** A random JSON value with the shapes and characters that trip scanners. */
function jsonValue(r: Rng, depth: number): unknown {
  const kind = depth > 5 ? r.int(4) : r.int(7);
  const strings = ["", "a", "password", "é", "😀", "line\nbreak", "quote\"", "back\\slash", "\u0000\u001f", "token", "\u2028", "id"];
  if (kind === 0) return r.pick(strings) + r.int(10);
  if (kind === 1) return r.pick([0, -1, 1.5, 1e21, -2.5e-7, 123456789, Number.MAX_SAFE_INTEGER]);
  if (kind === 2) return r.pick([true, false, null]);
  if (kind === 3) return r.pick(strings);
  if (kind === 4 || kind === 5) {
    const o: Record<string, unknown> = {};
    for (let i = r.int(5); i > 0; i--) o[r.pick(strings)] = jsonValue(r, depth + 1);
    return o;
  }
  return Array.from({ length: r.int(5) }, () => jsonValue(r, depth + 1));
}

function maskRef(v: unknown, keys: Set<string>): unknown {
  if (Array.isArray(v)) return v.map((x) => maskRef(x, keys));
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, keys.has(k) ? "*****" : maskRef(x, keys)]));
  }
  return v;
}

function strictParse(b: Buffer): { ok: boolean; value?: unknown } {
  try {
    return { ok: true, value: JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(b)) };
  } catch {
    return { ok: false };
  }
}

describe("the JSON string writer matches JSON.stringify over a WHATWG decoder", () => {
  const c = new Codecs();
  // The reference: bytes decoded as the WHATWG decoder does (U+FFFD per maximal invalid subpart),
  // then JSON.stringify, whose \b and \f the writer spells \u0008 and \u000c.
  const reference = (bytes: Buffer, lower: boolean): Buffer => {
    let text = new TextDecoder("utf-8").decode(bytes);
    if (lower) text = text.replace(/[A-Z]/g, (ch) => ch.toLowerCase());
    return Buffer.from(JSON.stringify(text).replace(/\\b|\\f|\\\\/g, (e) => (e === "\\b" ? "\\u0008" : e === "\\f" ? "\\u000c" : e)));
  };
  test("any bytes, folded or not, after any prefix, in a writer that has to grow mid-string", () => {
    const r = rng(SEED + 4);
    const pieces = [() => Buffer.from("plain text "), () => Buffer.from("Mixed-Case"), () => Buffer.from([r.int(0x20)]), () => Buffer.from('"\\'),
      () => Buffer.from("é✓😀"), () => Buffer.from([0x80 + r.int(0x80)]), () => Buffer.from([0xe2, 0x9c]), () => Buffer.from([0xed, 0xa0, 0x80]),
      () => r.bytes(1 + r.int(8)), () => Buffer.from([0x7f])];
    for (let i = 0; i < 3000; i++) {
      const parts: Buffer[] = [];
      for (let k = r.int(40); k > 0; k--) parts.push(r.pick(pieces)());
      const input = Buffer.concat(parts);
      const lower = r.int(2) === 0;
      const prefix = r.int(40);
      const got = c.jsonString(input, lower, prefix);
      const want = Buffer.concat([Buffer.alloc(prefix, "x"), reference(input, lower)]);
      assert.ok(got.equals(want), `seed ${SEED + 4} case ${i}: ${JSON.stringify(input.toString("hex"))}\n got ${got.toString("utf8")}\nwant ${want.toString("utf8")}`);
    }
  });
});

describe("JSON scanner matches JSON.parse", () => {
  const c = new Codecs();

  test("valid documents: same value after the scan, masked exactly like a reference masker", () => {
    const r = rng(SEED + 5);
    for (let i = 0; i < 2000; i++) {
      const value = jsonValue(r, 0);
      const keys = r.int(2) ? ["password", "token", "id"].filter(() => r.int(2) === 1) : [];
      c.masks(keys);
      const text = JSON.stringify(value, null, r.pick([0, 1, 2, "\t"]));
      const out = c.scan(Buffer.from(" \n" + text + "\r\n"));
      assert.notEqual(out, null, `seed ${SEED + 5} case ${i}: rejected ${text}`);
      assert.deepStrictEqual(JSON.parse(out!), maskRef(value, new Set(keys)), `seed ${SEED + 5} case ${i}: ${text}`);
    }
  });

  test("mutated documents: valid exactly when JSON.parse (strict UTF-8) says so", () => {
    const r = rng(SEED + 6);
    c.masks([]);
    for (let i = 0; i < 4000; i++) {
      const doc = Buffer.from(JSON.stringify(jsonValue(r, 0)));
      const m = Buffer.from(doc);
      const edits = 1 + r.int(3);
      let bytes = m;
      for (let k = 0; k < edits; k++) {
        const at = r.int(bytes.length + 1);
        const how = r.int(3);
        const b = r.pick([0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x2d, 0x2e, 0x65, 0x20, 0x00, 0xff, 0xc3, 0x80, 0x75, 0x6e]);
        if (how === 0) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([b]), bytes.subarray(at)]);
        else if (how === 1) bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
        else if (at < bytes.length) bytes[at] = b;
      }
      const ref = strictParse(bytes);
      const out = c.scan(bytes);
      assert.equal(out !== null, ref.ok, `seed ${SEED + 6} case ${i}: ${JSON.stringify(bytes.toString("latin1"))}`);
      if (ref.ok) assert.deepStrictEqual(JSON.parse(out!), ref.value);
    }
  });

  test("keeps number text exactly as sent", () => {
    c.masks([]);
    const text = '{"a":123456789012345678901234567890,"b":1.0000000000000000001,"c":-0,"d":1E+400}';
    assert.equal(c.scan(Buffer.from(text)), text);
  });
});

describe("the regex matcher matches RegExp", () => {
  const c = new Codecs();

  /** A pattern in the syntax sampling and governance rules use, over a small alphabet so it often matches. */
  function pattern(r: Rng, depth: number): string {
    const atom = (): string => {
      const k = r.int(depth > 2 ? 6 : 8);
      if (k <= 2) return r.pick(["a", "b", "c", "/", "-", "1"]);
      if (k === 3) return ".";
      if (k === 4) return r.pick(["[ab]", "[^a]", "[a-c1]", "\\d", "\\w", "\\s", "\\/"]);
      if (k === 5) return r.pick(["^", "$"]);
      if (k === 6) return `(${pattern(r, depth + 1)})`;
      return `(${pattern(r, depth + 1)}|${pattern(r, depth + 1)})`;
    };
    let out = "";
    const n = 1 + r.int(4);
    for (let i = 0; i < n; i++) {
      let a = atom();
      if (a !== "^" && a !== "$" && r.int(3) === 0) a += r.pick(["*", "+", "?", "{2}", "{1,3}", "{0,}"]);
      out += a;
    }
    return out;
  }

  test("thousands of patterns, each tested again and again on the same Regex", () => {
    const r = rng(SEED + 20);
    for (let i = 0; i < 1500; i++) {
      const src = pattern(r, 0);
      assert.ok(c.regex(src), `seed ${SEED + 20} case ${i}: ${src} did not compile`);
      const ref = new RegExp(src);
      for (let k = 0; k < 8; k++) {
        const text = Array.from({ length: r.int(12) }, () => r.pick(["a", "b", "c", "/", "-", "1", " ", "x"])).join("");
        assert.equal(c.test(text), ref.test(text), `seed ${SEED + 20} case ${i}: /${src}/ on ${JSON.stringify(text)}`);
      }
    }
  });

  test("anchored patterns stop early and still find what is there", () => {
    const cases: [string, string, boolean][] = [
      ["^/v9/route0/", "/v1/orders", false], ["^/v1/", "/v1/orders", true], ["^a|b", "xxb", true], ["^a|b", "xxa", false],
      ["$", "abc", true], ["^$", "", true], ["^$", "a", false], ["(^a)|(c$)", "bbc", true], ["^(a|^b)c", "bc", true],
    ];
    for (const [src, text, want] of cases) {
      assert.ok(c.regex(src), src);
      assert.equal(c.test(text), want, `/${src}/ on ${text}`);
      assert.equal(new RegExp(src).test(text), want, `RegExp /${src}/ on ${text}`);
    }
  });
});
