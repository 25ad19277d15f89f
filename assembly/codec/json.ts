// A small JSON reader for the filter configuration: parsed once per root, so a tree of strings is
// fine here. (Bodies are never parsed this way; they are scanned as bytes.) It returns null with an
// error message instead of throwing, and bounds nesting so hostile input cannot exhaust the stack.
import { decodeUtf8, hex4At } from "./bytes";

export const enum JKind { Null, Bool, Number, String, Array, Object }

/**
 * A parsed value. `kind` names its class (each subclass's constructor sets it, and nothing changes
 * it), so once a caller has tested `kind` the `as…` views need no check of their own: a checked
 * cast (`<JObject>v`) would repeat the test and carry a trap path and its message, about 1.5 KB
 * over the 51 places the configuration, the rules and the JWT claims are read.
 */
export class JValue {
  constructor(readonly kind: JKind) {}
  @inline asBool(): JBool { return changetype<JBool>(this); }
  @inline asNumber(): JNumber { return changetype<JNumber>(this); }
  @inline asString(): JString { return changetype<JString>(this); }
  @inline asArray(): JArray { return changetype<JArray>(this); }
  @inline asObject(): JObject { return changetype<JObject>(this); }
}
export class JBool extends JValue {
  constructor(public value: bool) { super(JKind.Bool); }
}
export class JNumber extends JValue {
  /** `raw` is the number exactly as written (a numeric claim becomes this text, every digit kept). */
  constructor(public value: f64, public raw: string) { super(JKind.Number); }
}
export class JString extends JValue {
  constructor(public value: string) { super(JKind.String); }
}
export class JArray extends JValue {
  items: Array<JValue> = [];
  constructor() { super(JKind.Array); }
}
export class JObject extends JValue {
  keys: Array<string> = [];
  values: Array<JValue> = [];
  constructor() { super(JKind.Object); }

  /** The last value given for `key` (JSON parsers commonly let the last duplicate win). */
  get(key: string): JValue | null {
    for (let i = this.keys.length - 1; i >= 0; i--) if (this.keys[i] == key) return this.values[i];
    return null;
  }

  /**
   * A member by its literal name, else by a dotted path through nested objects (`user.id`), the
   * way Moesif names JWT claims and body fields; null when missing.
   */
  field(name: string): JValue | null {
    const v = this.get(name);
    if (v !== null || name.indexOf(".") <= 0) return v;
    const parts = name.split(".");
    let cur: JValue | null = this;
    for (let i = 0; i < parts.length && cur !== null; i++) cur = cur.kind == JKind.Object ? cur.asObject().get(parts[i]) : null;
    return cur;
  }
}

const MAX_DEPTH = 64;

export class JsonParser {
  private pos: i32 = 0;
  error: string = "";

  constructor(private src: Uint8Array) {}

  /** Parses one whole document; null (and `error`) when it is not valid JSON. */
  parse(): JValue | null {
    this.skipWs();
    const v = this.value(0);
    if (v === null) return null;
    this.skipWs();
    if (this.pos != this.src.length) return this.fail("unexpected data after the JSON value");
    return v;
  }

  private fail(msg: string): JValue | null {
    if (this.error.length == 0) this.error = msg + " at byte " + this.pos.toString();
    return null;
  }

  @inline private peek(): i32 {
    return this.pos < this.src.length ? <i32>unchecked(this.src[this.pos]) : -1;
  }

  private skipWs(): void {
    while (this.pos < this.src.length) {
      const c = unchecked(this.src[this.pos]);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.pos++;
    }
  }

  private literal(word: string): bool {
    const n = word.length;
    if (this.pos + n > this.src.length) return false;
    for (let i = 0; i < n; i++) if (<i32>unchecked(this.src[this.pos + i]) != word.charCodeAt(i)) return false;
    this.pos += n;
    return true;
  }

  private value(depth: i32): JValue | null {
    if (depth > MAX_DEPTH) return this.fail("JSON nested too deeply");
    const c = this.peek();
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    if (c == 0x22) {
      const s = this.string();
      return s === null ? null : new JString(s);
    }
    if (c == 0x74) return this.literal("true") ? new JBool(true) : this.fail("invalid literal");
    if (c == 0x66) return this.literal("false") ? new JBool(false) : this.fail("invalid literal");
    if (c == 0x6e) return this.literal("null") ? new JValue(JKind.Null) : this.fail("invalid literal");
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    return this.fail(c < 0 ? "unexpected end of JSON" : "unexpected character");
  }

  private object(depth: i32): JValue | null {
    const obj = new JObject();
    this.pos++;
    this.skipWs();
    if (this.peek() == 0x7d) { this.pos++; return obj; }
    while (true) {
      this.skipWs();
      if (this.peek() != 0x22) return this.fail("expected a string key");
      const key = this.string();
      if (key === null) return null;
      this.skipWs();
      if (this.peek() != 0x3a) return this.fail("expected ':'");
      this.pos++;
      this.skipWs();
      const v = this.value(depth + 1);
      if (v === null) return null;
      obj.keys.push(key);
      obj.values.push(v);
      this.skipWs();
      const c = this.peek();
      this.pos++;
      if (c == 0x7d) return obj;
      if (c != 0x2c) { this.pos--; return this.fail("expected ',' or '}'"); }
    }
    return obj;
  }

  private array(depth: i32): JValue | null {
    const arr = new JArray();
    this.pos++;
    this.skipWs();
    if (this.peek() == 0x5d) { this.pos++; return arr; }
    while (true) {
      this.skipWs();
      const v = this.value(depth + 1);
      if (v === null) return null;
      arr.items.push(v);
      this.skipWs();
      const c = this.peek();
      this.pos++;
      if (c == 0x5d) return arr;
      if (c != 0x2c) { this.pos--; return this.fail("expected ',' or ']'"); }
    }
    return arr;
  }

  private number(): JValue | null {
    const start = this.pos;
    if (this.peek() == 0x2d) this.pos++;
    let c = this.peek();
    if (c == 0x30) this.pos++;
    else if (c >= 0x31 && c <= 0x39) { while ((c = this.peek()) >= 0x30 && c <= 0x39) this.pos++; }
    else return this.fail("invalid number");
    if (this.peek() == 0x2e) {
      this.pos++;
      if (!((c = this.peek()) >= 0x30 && c <= 0x39)) return this.fail("invalid number");
      while ((c = this.peek()) >= 0x30 && c <= 0x39) this.pos++;
    }
    c = this.peek();
    if (c == 0x65 || c == 0x45) {
      this.pos++;
      c = this.peek();
      if (c == 0x2b || c == 0x2d) this.pos++;
      if (!((c = this.peek()) >= 0x30 && c <= 0x39)) return this.fail("invalid number");
      while ((c = this.peek()) >= 0x30 && c <= 0x39) this.pos++;
    }
    const text = String.UTF8.decodeUnsafe(this.src.dataStart + start, this.pos - start);
    return new JNumber(numberValue(text), text);
  }

  private hex4(): i32 {
    if (this.pos + 4 > this.src.length) return -1;
    const v = hex4At(this.src.dataStart + this.pos);
    if (v >= 0) this.pos += 4;
    return v;
  }

  private string(): string | null {
    this.pos++;
    let out = "";
    let runStart = this.pos;
    while (true) {
      const c = this.peek();
      if (c < 0) { this.fail("unterminated string"); return null; }
      if (c < 0x20) { this.fail("control character in string"); return null; }
      if (c == 0x22) {
        out += decodeUtf8(this.src.dataStart + runStart, this.pos - runStart);
        this.pos++;
        return out;
      }
      if (c != 0x5c) { this.pos++; continue; }
      out += decodeUtf8(this.src.dataStart + runStart, this.pos - runStart);
      this.pos++;
      const e = this.peek();
      this.pos++;
      if (e == 0x22) out += "\"";
      else if (e == 0x5c) out += "\\";
      else if (e == 0x2f) out += "/";
      else if (e == 0x62) out += "\b";
      else if (e == 0x66) out += "\f";
      else if (e == 0x6e) out += "\n";
      else if (e == 0x72) out += "\r";
      else if (e == 0x74) out += "\t";
      else if (e == 0x75) {
        const u = this.hex4();
        if (u < 0) { this.fail("invalid \\u escape"); return null; }
        out += String.fromCharCode(u);
      } else { this.pos--; this.fail("invalid escape"); return null; }
      runStart = this.pos;
    }
    return out;
  }
}

/**
 * The value of a JSON number already checked against the grammar. Exact for integers up to 2^53
 * (all a configuration or a sampling rate needs); close enough otherwise. Written here so the
 * filter does not carry a general strtod.
 */
function numberValue(t: string): f64 {
  let i = 0;
  const n = t.length;
  let neg = false;
  if (t.charCodeAt(0) == 0x2d) { neg = true; i++; }
  let v: f64 = 0;
  while (i < n && t.charCodeAt(i) >= 0x30 && t.charCodeAt(i) <= 0x39) v = v * 10 + <f64>(t.charCodeAt(i++) - 0x30);
  let scale = 0;
  if (i < n && t.charCodeAt(i) == 0x2e) {
    i++;
    while (i < n && t.charCodeAt(i) >= 0x30 && t.charCodeAt(i) <= 0x39) { v = v * 10 + <f64>(t.charCodeAt(i++) - 0x30); scale--; }
  }
  if (i < n) {
    i++; // e or E
    let eneg = false;
    if (t.charCodeAt(i) == 0x2b) i++;
    else if (t.charCodeAt(i) == 0x2d) { eneg = true; i++; }
    let e = 0;
    while (i < n) { e = min(e * 10 + (t.charCodeAt(i++) - 0x30), 100000); }
    scale += eneg ? -e : e;
  }
  // Apply the power of ten in steps, so exact results stay exact (1e3 is 1000).
  while (scale > 0 && v != Infinity) { v *= 10; scale--; }
  while (scale < 0 && v != 0) { v /= 10; scale++; }
  return neg ? -v : v;
}
