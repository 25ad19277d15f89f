// Sampling from Moesif's application config (GET /v1/config): a default rate, per-user and
// per-company rates, and regex rules over the request. The rate of an event is the lowest of the
// rates that apply to it, else the default; rates keep their fraction (33.4, 0.5), as Moesif's
// agents read them. An event is kept when rate > random × 100 and then stands for
// weight = floor(100 / rate) calls. A config that is missing or malformed means: keep everything.
import { JsonParser, JKind, JObject, JArray, JNumber, JString, JValue } from "../codec/json";
import { Regex } from "../codec/regex";
import { EMPTY_BYTES } from "../codec/bytes";

const PATH_VERB = 0;
const PATH_ROUTE = 1;
const PATH_IP = 2;
const PATH_STATUS = 3;

class Condition {
  constructor(public path: i32, public re: Regex) {}
}

class Rule {
  conditions: Array<Condition> = [];
  rate: f64 = 100;
}

/** What the sampling decision looks at. */
// Made for every call: the shared empty array as default, not four new ones.
export class SampleInput {
  userId: string | null = null;
  companyId: string | null = null;
  verb: Uint8Array = EMPTY_BYTES;
  route: Uint8Array = EMPTY_BYTES;
  ip: Uint8Array = EMPTY_BYTES;
  status: Uint8Array = EMPTY_BYTES;
}

/** A rate from 0 to 100, fraction kept; -1 when it is not one. */
function rateOf(v: JValue | null): f64 {
  if (v === null || v.kind != JKind.Number) return -1;
  const n = v.asNumber().value;
  if (!isFinite(n) || n < 0 || n > 100) return -1;
  return n;
}

/** How many calls a kept event stands for: floor(100 / rate), within an i32. */
export function weightFor(rate: f64): i32 {
  if (!(rate > 0)) return 1;
  const w = Math.floor(100 / rate);
  return w >= 2147483647 ? 2147483647 : max(1, <i32>w);
}

export class Sampling {
  sampleRate: f64 = 100;
  users: Map<string, f64> = new Map<string, f64>();
  companies: Map<string, f64> = new Map<string, f64>();
  rules: Array<Rule> = [];
  /** Problems found while reading the config (bad rates, patterns that do not compile). */
  warnings: Array<string> = [];

  get keepsAll(): bool {
    return this.sampleRate >= 100 && this.users.size == 0 && this.companies.size == 0 && this.rules.length == 0;
  }

  /** Reads the application config; null when it is not a JSON object (then everything is kept). */
  static parse(body: Uint8Array): Sampling | null {
    const root = new JsonParser(body).parse();
    if (root === null || root.kind != JKind.Object) return null;
    const o = root.asObject();
    const s = new Sampling();
    const rate = rateOf(o.get("sample_rate"));
    if (rate >= 0) s.sampleRate = rate;
    readRates(o.get("user_sample_rate"), s.users);
    readRates(o.get("company_sample_rate"), s.companies);
    const rules = o.get("regex_config");
    if (rules !== null && rules.kind == JKind.Array) {
      const items = rules.asArray().items;
      for (let i = 0; i < items.length && i < 100; i++) {
        const rule = readRule(items[i], s.warnings);
        if (rule !== null) s.rules.push(rule);
      }
    }
    return s;
  }

  /** The sample rate (0–100) that applies to an event. */
  rateFor(e: SampleInput): f64 {
    let rate: f64 = -1;
    const user = e.userId;
    if (user !== null && this.users.has(user)) rate = this.users.get(user);
    const company = e.companyId;
    if (company !== null && this.companies.has(company)) {
      const r = this.companies.get(company);
      rate = rate < 0 ? r : min(rate, r);
    }
    // The first rule whose conditions all match.
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i];
      let all = rule.conditions.length > 0;
      for (let k = 0; all && k < rule.conditions.length; k++) {
        const c = rule.conditions[k];
        const v = c.path == PATH_VERB ? e.verb : c.path == PATH_ROUTE ? e.route : c.path == PATH_IP ? e.ip : e.status;
        all = c.re.test(v);
      }
      if (all) {
        rate = rate < 0 ? rule.rate : min(rate, rule.rate);
        break;
      }
    }
    return rate < 0 ? this.sampleRate : rate;
  }
}

function readRates(v: JValue | null, into: Map<string, f64>): void {
  if (v === null || v.kind != JKind.Object) return;
  const o = v.asObject();
  for (let i = 0; i < o.keys.length; i++) {
    const r = rateOf(o.values[i]);
    if (r >= 0) into.set(o.keys[i], r);
  }
}

function readRule(v: JValue, warnings: Array<string>): Rule | null {
  if (v.kind != JKind.Object) return null;
  const o = v.asObject();
  const rate = rateOf(o.get("sample_rate"));
  const conds = o.get("conditions");
  if (rate < 0 || conds === null || conds.kind != JKind.Array) return null;
  const rule = new Rule();
  rule.rate = rate;
  const items = conds.asArray().items;
  for (let i = 0; i < items.length; i++) {
    if (items[i].kind != JKind.Object) return null;
    const c = items[i].asObject();
    const path = c.get("path");
    const value = c.get("value");
    if (path === null || path.kind != JKind.String || value === null || value.kind != JKind.String) return null;
    const p = path.asString().value;
    const which = p == "request.verb" ? PATH_VERB : p == "request.route" ? PATH_ROUTE
      : p == "request.ip_address" ? PATH_IP : p == "response.status" ? PATH_STATUS : -1;
    if (which < 0) {
      warnings.push("sampling rule on unknown field \"" + p + "\" ignored");
      return null;
    }
    const re = new Regex(value.asString().value);
    if (re.error.length > 0) {
      warnings.push("sampling rule pattern \"" + value.asString().value + "\" ignored: " + re.error);
      return null;
    }
    rule.conditions.push(new Condition(which, re));
  }
  return rule.conditions.length > 0 ? rule : null;
}
