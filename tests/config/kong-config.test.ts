// One meaning for every configuration, wherever it is checked, proved without a Kong:
// - Kong validates a filter's config with lua-resty-ljsonschema (draft 4, array_mt = false;
//   kong/db/schema/json.lua) whose `pattern` is PCRE in byte mode (emulated in ./pcre.ts, where
//   the emulation is argued), and hands the filter the stored Lua table re-encoded with cjson
//   (kong/runloop/wasm.lua: serialize_configuration in 3.9, inline in 3.5-3.8), so an empty list
//   arrives as `{}` (emulated here by cjsonEncode);
// - an editor, CI or this repository validates moesif.meta.json with ajv (ECMA-262 patterns);
// - the filter parses what Kong hands it (assembly/filter/config.ts).
// For every example in kong/examples/config and every probe (a final newline, 0x85 inside UTF-8,
// NBSP, CR, tabs, ...) the three give the same verdict; what Kong accepts, re-encoded as Kong
// hands it over, configures the filter exactly as the text says (the parser, built alone with a
// dump of its result: tests/config/index.ts), and the built filter starts with no error line.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Ajv04 from "ajv-draft-04";
import { Ajv } from "ajv";
import { KongWasmHost } from "../host/kong-host.ts";
import { moesifWasm, assertHostClean } from "../support/harness.ts";
import { pcreByteMode, translate, ljsonschemaLength } from "./pcre.ts";

const root = new URL("../../", import.meta.url).pathname;
const meta = JSON.parse(readFileSync(join(root, "kong/moesif.meta.json"), "utf8"));
const schema = meta.config_schema;
const props: Record<string, any> = schema.properties;
const isList = (p: any) => [p.type].flat().includes("array");

/** ajv, as an editor or CI runs the schema: ECMA-262 patterns (with the u flag, ajv's default). */
const ecmaAjv = new (Ajv04 as unknown as typeof Ajv)({ allErrors: true, allowUnionTypes: true });
const ecma = ecmaAjv.compile(schema);

/**
 * Kong's validator: patterns under PCRE byte-mode rules, minLength/maxLength counted the way the
 * given ljsonschema counts. Type checks need no change: every list in the schema admits an empty
 * object (asserted below), so ljsonschema's "an empty table is both an array and an object" and
 * ajv's strict types agree on every value the schema can meet.
 */
function kongAjv(ljsonschema: "1.1.6" | "1.2.0"): Ajv {
  const engine = Object.assign((pattern: string) => {
    const match = pcreByteMode(pattern);
    // ajv keys its compiled patterns by toString(): each needs its own.
    return { test: (s: string) => match(Buffer.from(s, "utf8")), toString: () => `pcre:${pattern}` };
  }, { code: "pcre" });
  const ajv = new (Ajv04 as unknown as typeof Ajv)({ allErrors: true, allowUnionTypes: true, code: { regExp: engine } });
  for (const [keyword, ok] of [["minLength", (n: number, l: number) => l >= n], ["maxLength", (n: number, l: number) => l <= n]] as const) {
    ajv.removeKeyword(keyword);
    ajv.addKeyword({ keyword, type: "string", schemaType: "number", validate: (n: number, s: string) => ok(n, ljsonschemaLength(Buffer.from(s, "utf8"), ljsonschema)) });
  }
  return ajv;
}
const kong = kongAjv("1.1.6").compile(schema);
const kong39 = kongAjv("1.2.0").compile(schema);

/**
 * What the filter receives from Kong for a config: cjson.encode of the Lua table cjson.decode made
 * of it without array_mt. An empty array and an empty object are the same empty table, encoded
 * `{}` (encode_empty_table_as_object defaults to on); numbers are "%.14g" (from 3.6
 * kong/globalpatches.lua sets 16 digits: the same text for every integer a config holds);
 * strings escape `"`, `\`, `/`, control bytes and 0x7F, and leave every other byte as it is
 * (lua-cjson's char2escape table); a Lua table keeps no key order, so keys come out in another
 * order than the text's.
 */
function cjsonEncode(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return String(v);
  if (typeof v === "number") return formatG(v, 14);
  if (typeof v === "string") return cjsonString(v);
  if (Array.isArray(v)) return v.length === 0 ? "{}" : `[${v.map(cjsonEncode).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).reverse().map((k) => `${cjsonString(k)}:${cjsonEncode(o[k])}`).join(",")}}`;
}

function cjsonString(s: string): string {
  const named: Record<string, string> = { "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\", "/": "\\/" };
  let out = '"';
  for (const c of s) {
    const code = c.codePointAt(0)!;
    out += named[c] ?? (code < 0x20 || code === 0x7f ? `\\u${code.toString(16).padStart(4, "0")}` : c);
  }
  return out + '"';
}

/** C's "%.{p}g". */
function formatG(n: number, p: number): string {
  if (n === 0) return Object.is(n, -0) ? "-0" : "0";
  const strip = (m: string) => (m.includes(".") ? m.replace(/\.?0+$/, "") : m);
  const [mantissa, e] = n.toExponential(p - 1).split("e");
  const x = Number(e);
  if (x < -4 || x >= p) return `${strip(mantissa)}e${x < 0 ? "-" : "+"}${String(Math.abs(x)).padStart(2, "0")}`;
  return strip(n.toFixed(p - 1 - x));
}

/** The filter's parser (build/config.wasm): what it made of a text, by option name, or its errors. */
class FilterParser {
  private ex: Record<string, any>;
  constructor() {
    const mod = new WebAssembly.Module(readFileSync(join(root, "build/config.wasm")));
    const instance = new WebAssembly.Instance(mod, {
      env: { proxy_log: (_l: number, p: number, n: number) => { throw new Error(Buffer.from(this.mem(), p, n).toString()); } },
    });
    this.ex = instance.exports as Record<string, any>;
    this.ex._initialize?.();
  }
  private mem(): ArrayBuffer {
    return (this.ex.memory as WebAssembly.Memory).buffer;
  }
  parse(text: string): { ok: true; config: Record<string, unknown> } | { ok: false; errors: string[] } {
    const bytes = Buffer.from(text, "utf8");
    const p = this.ex.input(bytes.length) >>> 0;
    Buffer.from(this.mem()).set(bytes, p);
    const ok = this.ex.parse_config() === 1;
    const out = Buffer.from(this.mem(), this.ex.result_ptr() >>> 0, this.ex.result_len()).toString("utf8");
    return ok ? { ok, config: JSON.parse(out) } : { ok, errors: JSON.parse(out) };
  }
}
const parser = new FilterParser();

/** The built filter in the Kong-like host: does this text configure it, with no error line? */
function builtFilterAccepts(text: string): { ok: boolean; errors: string[] } {
  const host = new KongWasmHost(moesifWasm(), [{ name: "moesif", config: text }], { autoTick: false });
  host.start();
  host.stop();
  assertHostClean(host);
  const errors = host.logs.filter((l) => l.level === "error" || l.level === "crit").map((l) => l.message);
  return { ok: errors.length === 0, errors };
}

const lower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const HEADER_NAMES = ["user_id_header", "company_id_header", "session_token_header", "authorization_header_name", "request_header_masks", "response_header_masks"];
const ALIASES: Record<string, string> = { request_masks: "request_body_masks", response_masks: "response_body_masks" };

/**
 * What a config that is accepted means, read from the text and the schema's defaults: every option
 * given or defaulted; an empty object is the empty list; header names in lower case; the
 * deprecated mask aliases merged after their options, without repeats.
 */
function meaning(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(props)) {
    let v = name in config ? config[name] : p.default;
    if (isList(p)) v = Array.isArray(v) ? [...v] : [];
    if (HEADER_NAMES.includes(name)) v = Array.isArray(v) ? v.map(lower) : lower(v as string);
    if (name in ALIASES) {
      const into = out[ALIASES[name]] as string[];
      for (const m of v as string[]) if (!into.includes(m)) into.push(m);
      continue;
    }
    out[name] = v;
  }
  return out;
}

// Probes: what tells byte-mode PCRE, ECMA-262 and the filter apart. Each is tried in every field
// the schema gives a pattern (as the only item of a list).
const PROBES: string[] = [
  "abc", "a", "", " ", "a b", "pass word", "abc\n", "\nabc", "abc\r", "abc\r\n", "abc\n\n", "a\nb", "abc\t", "\tabc", "abc\u000b", "abc\f",
  " abc", "abc ", "abc\u0000", "\u0000", "abc\u007f", "\u007f",
  "Å", "данных", "х", "aх", "ÅÅ", "\u00a0", "a\u00a0", "\u00a0a", "\u0085", "a\u0085", "\u0085a", "\u2028", "a\u2029", "\ufeff", "a\u3000",
  "\u1680", "a\u200b", "😀", "a😀", "\u00ff", "ÿ\n",
  "https://api.moesif.net", "https://api.moesif.net\n", "https://api.moesif.net/\n", "https://api.moesif.net/v1\r\n", "HTTPS://API.MOESIF.NET",
  "http://127.0.0.1:9000", "http://127.0.0.1:9000\n", "https://127.0.0.1", "https://127.0.0.1\n", "https://127.0.0.1/x", "https://127.0.0.1.nip.io",
  "https://256.1.1.1", "https://001.2.3.4:1", "http://[::1]:8080/p", "https://[::1]", "http://[]", "http://[::1", "http://h:65535", "http://h:65536",
  "http://h:0", "http://h:080", "http://h:", "http://h/a b", "http://h/a\tb", "http://h/a\u00a0b", "http://h/Å", "http://h/\u0085", "http://h/x\u007f",
  "http://h/\u2028", "http://h/p?q", "http://h#f", "http://u@h", "http://h/@x", "http://h/ä\n", "ftp://h", "https://",
  `http://${"a".repeat(255)}`, `http://${"a".repeat(256)}`, `http://[${"1".repeat(253)}]`, `http://[${"1".repeat(254)}]`,
];

function patternedFields(): string[] {
  return Object.entries(props).filter(([, p]) => p.pattern || p.items?.pattern).map(([n]) => n);
}

function probeConfigs(): { what: string; config: Record<string, unknown> }[] {
  const out: { what: string; config: Record<string, unknown> }[] = [];
  for (const field of patternedFields()) {
    for (const s of PROBES) {
      const value = isList(props[field]) ? [s] : s;
      out.push({ what: `${field} = ${JSON.stringify(value)}`, config: field === "application_id" ? { application_id: s } : { application_id: "x", [field]: value } });
    }
  }
  return out;
}

function examples(kind: "valid" | "invalid"): { what: string; config: any; text: string }[] {
  const dir = join(root, "kong/examples/config", kind);
  return readdirSync(dir).map((f) => {
    const text = readFileSync(join(dir, f), "utf8");
    return { what: `${kind}/${f}`, config: JSON.parse(text), text };
  });
}

/** Every pattern in the schema, with where it is. */
function patterns(): { where: string; pattern: string }[] {
  const out: { where: string; pattern: string }[] = [];
  const walk = (node: any, where: string) => {
    if (!node || typeof node !== "object") return;
    if (typeof node.pattern === "string") out.push({ where, pattern: node.pattern });
    for (const [k, v] of Object.entries(node)) if (k !== "pattern" && typeof v === "object") walk(v, `${where}/${k}`);
  };
  walk(schema, "#");
  return out;
}

describe("moesif.meta.json means the same under Kong's rules and ECMA-262", () => {
  test("the schema uses only keywords ljsonschema and ajv read alike, and every list admits {} as Kong does", () => {
    // Left out: `format` (ljsonschema checks only date, time and date-time and ignores the rest);
    // minLength and maxLength (bytes in Kong 3.5-3.8, characters in 3.9, code points in ajv: see
    // below). `default` is documentation: neither Kong nor ajv applies it; the filter has its own.
    const same = new Set(["$schema", "title", "description", "type", "required", "additionalProperties", "properties", "items", "pattern",
      "not", "minimum", "maximum", "default", "maxProperties"]);
    const walk = (node: any, where: string) => {
      for (const [k, v] of Object.entries(node)) {
        assert.ok(same.has(k), `${where}: keyword ${k}`);
        if (k === "properties") for (const [n, s] of Object.entries(v as object)) walk(s, `${where}/${n}`);
        else if (k === "items" || k === "not") walk(v, `${where}/${k}`);
      }
      // ljsonschema with array_mt = false takes an empty table for an array and for an object; so
      // must the schema under ajv, and no more: a list is an array, or an object with no member.
      if ([node.type].flat().includes("array")) {
        assert.deepEqual(node.type, ["array", "object"], `${where} admits {}`);
        assert.equal(node.maxProperties, 0, `${where}: only the empty object`);
      }
    };
    walk(schema, "#");
    assert.ok(patternedFields().length >= 9);
  });

  test("no pattern uses a construct whose byte-mode PCRE meaning differs from ECMA-262's ($, ., \\s, \\v, \\h)", () => {
    for (const { where, pattern } of patterns()) {
      const t = translate(pattern);
      assert.deepEqual(t.modelled, [], `${where}: ${pattern}`);
      // And under ECMA-262 it compiles as ajv compiles it.
      new RegExp(pattern, "u");
    }
  });

  test("each pattern, over every probe: PCRE on the UTF-8 bytes and ECMA-262 on the string agree", () => {
    const subjects = [...PROBES, ...Object.values(props).flatMap((p) => (typeof p.default === "string" ? [p.default] : []))];
    for (const { where, pattern } of patterns()) {
      const pcre = pcreByteMode(pattern);
      const js = new RegExp(pattern, "u");
      for (const s of subjects) assert.equal(pcre(Buffer.from(s, "utf8")), js.test(s), `${where} on ${JSON.stringify(s)}`);
    }
  });

  test("the emulation sees what Kong did with the schema before issue 29 (so this test can fail)", () => {
    // The patterns Kong 3.5-3.9 was run on; its verdicts are the issue's findings 3 and 4.
    const oldAppId = pcreByteMode("^[!-~]([ -~]*[!-~])?$");
    const oldMask = pcreByteMode("^[^ \\t\\r\\n\\f\\v]([\\s\\S]*[^ \\t\\r\\n\\f\\v])?$");
    const oldEndpointPath = pcreByteMode("^https://h(/[^?#\\s]*)?$");
    const bytes = (s: string) => Buffer.from(s, "utf8");
    assert.equal(oldAppId(bytes("abc\n")), true, "PCRE's $ admits a final newline");
    assert.equal(new RegExp("^[!-~]([ -~]*[!-~])?$", "u").test("abc\n"), false, "ECMA's does not");
    assert.equal(oldMask(bytes("authorization\n")), true);
    assert.equal(oldMask(bytes("Å")), false, "\\v holds 0x85, the last byte of Å (C3 85)");
    assert.equal(oldMask(bytes("данных")), false, "х is D1 85");
    assert.equal(oldMask(bytes("Ä")), true, "Ä is C3 84");
    assert.equal(oldEndpointPath(bytes("https://h/a\u00a0b")), true, "byte-mode \\s has no NBSP");
    assert.equal(new RegExp("^https://h(/[^?#\\s]*)?$", "u").test("https://h/a\u00a0b"), false, "ECMA's \\s has");
  });

  test("ljsonschema's lengths differ by Kong version (why the schema has no minLength/maxLength)", () => {
    const bytes = (s: string) => Buffer.from(s, "utf8");
    assert.equal(ljsonschemaLength(bytes("данных"), "1.1.6"), 12);
    assert.equal(ljsonschemaLength(bytes("данных"), "1.2.0"), 6);
    assert.equal(ljsonschemaLength(bytes("a😀"), "1.2.0"), 2);
    assert.equal(ljsonschemaLength(Buffer.from([0x61, 0xc3]), "1.2.0"), 2, "not UTF-8: bytes");
    const toy = { type: "string", maxLength: 1 };
    const ajv = new (Ajv04 as unknown as typeof Ajv)().compile(toy);
    assert.deepEqual([kongAjv("1.1.6").compile(toy)("Å"), kongAjv("1.2.0").compile(toy)("Å"), ajv("Å")], [false, true, true]);
  });
});

describe("Kong, ajv and the filter give every config the same verdict", () => {
  const all = [...examples("valid"), ...examples("invalid"), ...probeConfigs()];

  test(`${all.length} configs: the examples and every probe in every patterned field`, () => {
    let accepted = 0;
    for (const { what, config } of all) {
      const byEcma = ecma(config) as boolean;
      // Kong validates the Lua table: the config as it would re-encode.
      const lua = JSON.parse(cjsonEncode(config));
      const byKong = kong(lua) as boolean;
      assert.equal(kong39(lua), byKong, `${what}: Kong 3.9 and 3.5-3.8`);
      const byFilter = parser.parse(cjsonEncode(config));
      assert.equal(byKong, byEcma, `${what}: Kong ${byKong}, ajv ${byEcma} ${JSON.stringify(kong.errors)}`);
      assert.equal(byFilter.ok, byKong, `${what}: filter ${byFilter.ok ? "accepts" : (byFilter as { errors: string[] }).errors.join("; ")}, Kong ${byKong}`);
      if (byKong) accepted++;
    }
    assert.ok(accepted > 100 && accepted < all.length - 100, `${accepted} accepted: the probes fall on both sides`);
  });

  test("every invalid example is refused for the same field by Kong, ajv and the filter", () => {
    // ajv names a field by the instance path, or (for required and additionalProperties) a param;
    // ljsonschema's 400 says "property <name> validation failed" for the same one.
    const fields = (errors: any[] | null | undefined) =>
      new Set((errors ?? []).map((e) => e.instancePath.split("/")[1] ?? e.params.missingProperty ?? e.params.additionalProperty ?? ""));
    for (const { what, config } of examples("invalid")) {
      const lua = JSON.parse(cjsonEncode(config));
      assert.equal(kong(lua), false, what);
      const byKong = fields(kong.errors);
      assert.equal(ecma(config), false, what);
      const byEcma = fields(ecma.errors);
      const filter = parser.parse(cjsonEncode(config));
      assert.ok(!filter.ok, what);
      const named = filter.errors.map((e) => /^([a-z_]+): /.exec(e)?.[1] ?? "");
      assert.deepEqual([...byKong], [...byEcma], `${what}: Kong and ajv name the same fields`);
      for (const f of named) assert.ok(byEcma.has(f), `${what}: the filter names ${f || "the document"}, ajv ${[...byEcma]}`);
    }
  });

  test("the verdicts the issue names: Å and данных accepted everywhere; a final newline refused everywhere", () => {
    for (const [config, want] of [
      [{ application_id: "x", request_body_masks: ["Å", "данных"] }, true],
      [{ application_id: "abc\n" }, false],
      [{ application_id: "x", api_endpoint: "https://api.moesif.net\n" }, false],
      [{ application_id: "x", request_header_masks: ["authorization\n"] }, false],
      [{ application_id: "x", request_header_masks: {} }, true],
    ] as const) {
      assert.equal(kong(JSON.parse(cjsonEncode(config))), want, `Kong on ${JSON.stringify(config)}`);
      assert.equal(ecma(config), want, `ajv on ${JSON.stringify(config)}`);
      assert.equal(parser.parse(cjsonEncode(config)).ok, want, `filter on ${JSON.stringify(config)}`);
    }
  });
});

describe("what Kong hands the filter configures it as the text says", () => {
  test("cjsonEncode: empty lists become {}, slashes and control bytes are escaped, UTF-8 is left alone, numbers as %.14g", () => {
    assert.equal(cjsonEncode({ a: [], b: ["x/y\n\u007f", "Å"], c: 1e3, d: 0.5, e: {} }), '{"e":{},"d":0.5,"c":1000,"b":["x\\/y\\n\\u007f","Å"],"a":{}}');
    assert.equal(formatG(1073741824, 14), "1073741824");
    assert.equal(formatG(1e15, 14), "1e+15");
    assert.equal(formatG(0.0001, 14), "0.0001");
    assert.equal(formatG(0.00001, 14), "1e-05");
  });

  const accepted = [...examples("valid"), ...probeConfigs().filter(({ config }) => ecma(config))];
  test(`${accepted.length} accepted configs, as written and as Kong re-encodes them: the parser reads the same options`, () => {
    for (const { what, config } of accepted) {
      const written = parser.parse(JSON.stringify(config));
      const handed = parser.parse(cjsonEncode(config));
      assert.ok(written.ok && handed.ok, `${what}: ${JSON.stringify([written, handed])}`);
      assert.deepEqual(handed.config, written.config, what);
      assert.deepEqual(handed.config, meaning(config), what);
    }
  });

  test("the dump covers every option of the schema", () => {
    const dumped = Object.keys((parser.parse('{"application_id":"x"}') as { config: object }).config);
    for (const name of Object.keys(props)) assert.ok(dumped.includes(name) || name in ALIASES, `${name} is in the dump`);
  });

  test("every valid example, re-encoded as Kong hands it over, configures the built filter with no error line", () => {
    const valid = examples("valid");
    assert.ok(valid.some(({ text }) => text.includes("[]")), "some example has an empty list");
    for (const { what, config } of valid) {
      const handed = cjsonEncode(config);
      const verdict = builtFilterAccepts(handed);
      assert.ok(verdict.ok, `${what} as ${handed}: ${verdict.errors.join("; ")}`);
    }
  });
});
