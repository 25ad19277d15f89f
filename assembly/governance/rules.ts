// Moesif's governance rules (GET /v1/rules, docs/protocol.md) and cohorts (user_rules and
// company_rules in GET /v1/config), parsed once per rule set into a plan: patterns compiled with
// the linear-time matcher sampling uses, merge-tag templates split, rules kept in the server's
// order by category. A malformed rule is skipped and said in `warnings`, never the whole set; a
// pattern that does not compile makes its condition false.
import { JsonParser, JValue, JKind, JObject, JArray, JString, JNumber, JBool } from "../codec/json";
import { Regex } from "../codec/regex";
import { asciiLower, utf8 } from "../codec/bytes";

export const enum Field { Verb, Route, Ip, Header, Body, Never }

export class Condition {
  /** The name as bytes, made once: a header is looked up by it for every request. */
  key: Uint8Array;
  constructor(public field: Field, public name: string, public re: Regex | null) {
    this.key = utf8(name);
  }
}

/** `{{name}}` or `{{name|default}}` pieces of a string; literal pieces have name === null. */
export class Piece {
  constructor(public text: string, public name: string | null, public fallback: string | null) {}
}

export class Template {
  pieces: Array<Piece> = [];
}

export const enum Kind { User, Company, Regex }

export class Rule {
  id: string = "";
  kind: Kind = Kind.Regex;
  block: bool = false;
  notMatching: bool = false;
  unidentified: bool = false;
  /** OR of groups, AND inside a group; none at all matches every request. */
  groups: Array<Array<Condition>> = [];
  /** The blocked response's status; -1 when the rule has none usable. */
  status: i32 = -1;
  headerNames: Array<string> = [];
  headerValues: Array<Template> = [];
  body: JValue | null = null;
  usesBody: bool = false;
  usesRoute: bool = false;
  usesIp: bool = false;
}

export class RuleSet {
  user: Array<Rule> = [];
  company: Array<Rule> = [];
  regex: Array<Rule> = [];
  /** Some rule tests a request.body field: the decision may need the body. */
  usesBody: bool = false;
  /**
   * What the rules read, so that a request reads only that (the path and the client's address are
   * host calls, the identity a header scan and perhaps a JWT): otherwise it waits for the log phase.
   */
  usesRoute: bool = false;
  usesIp: bool = false;
  get usesIdentity(): bool {
    return this.user.length > 0 || this.company.length > 0;
  }
  warnings: Array<string> = [];

  get empty(): bool {
    return this.user.length == 0 && this.company.length == 0 && this.regex.length == 0;
  }
}

/** What a user's or company's cohort entry says: the rule it is in, and its merge values. */
export class CohortEntry {
  constructor(public ruleId: string, public values: Map<string, string>) {}
}

export class Cohorts {
  users: Map<string, Array<CohortEntry>> = new Map<string, Array<CohortEntry>>();
  companies: Map<string, Array<CohortEntry>> = new Map<string, Array<CohortEntry>>();
}

function str(o: JObject, key: string): string | null {
  const v = o.get(key);
  return v !== null && v.kind == JKind.String ? v.asString().value : null;
}

/** true only for JSON true: `"block": null` does not block (the Lua plugin's bug 12). */
function isTrue(o: JObject, key: string): bool {
  const v = o.get(key);
  return v !== null && v.kind == JKind.Bool && v.asBool().value;
}

export function template(s: string): Template {
  const t = new Template();
  let at = 0;
  while (at < s.length) {
    const open = s.indexOf("{{", at);
    const close = open < 0 ? -1 : s.indexOf("}}", open + 2);
    const inner = close < 0 ? "" : s.substring(open + 2, close);
    if (open < 0 || close < 0 || inner.length == 0 || inner.indexOf("{") >= 0 || inner.indexOf("}") >= 0) {
      const end = open < 0 || close < 0 ? s.length : open + 2;
      t.pieces.push(new Piece(s.substring(at, end), null, null));
      at = end;
      continue;
    }
    if (open > at) t.pieces.push(new Piece(s.substring(at, open), null, null));
    const bar = inner.indexOf("|");
    t.pieces.push(new Piece("", bar < 0 ? inner : inner.substring(0, bar), bar < 0 ? null : inner.substring(bar + 1)));
    at = close + 2;
  }
  return t;
}

function condition(v: JValue, rule: Rule, warnings: Array<string>): Condition | null {
  if (v.kind != JKind.Object) return null;
  const path = str(v.asObject(), "path");
  const value = str(v.asObject(), "value");
  if (path === null || value === null) return null;
  let field = Field.Never;
  let name = "";
  if (path == "request.verb") field = Field.Verb;
  else if (path == "request.route") { field = Field.Route; rule.usesRoute = true; }
  else if (path == "request.ip_address") { field = Field.Ip; rule.usesIp = true; }
  else if (path.startsWith("request.headers.") && path.length > 16) { field = Field.Header; name = asciiLower(path.substring(16)); }
  else if (path.startsWith("request.body.") && path.length > 13) { field = Field.Body; name = path.substring(13); rule.usesBody = true; }
  // response.* (and anything else) cannot be known before the upstream answers: never a match.
  const re = new Regex(value);
  if (re.error.length > 0) {
    warnings.push("governance rule " + rule.id + ": pattern \"" + value + "\" does not compile (" + re.error + "); its condition never matches");
    return new Condition(field, name, null);
  }
  return new Condition(field, name, re);
}

function rule(v: JValue, warnings: Array<string>): Rule | null {
  if (v.kind != JKind.Object) return null;
  const o = v.asObject();
  const r = new Rule();
  const id = str(o, "_id");
  const type = str(o, "type");
  if (id === null || id.length == 0 || type === null) return null;
  r.id = id;
  if (type == "user") r.kind = Kind.User;
  else if (type == "company") r.kind = Kind.Company;
  else if (type == "regex") r.kind = Kind.Regex;
  else return null;
  r.block = isTrue(o, "block");
  const appliedTo = str(o, "applied_to");
  r.notMatching = appliedTo !== null && appliedTo == "not_matching";
  r.unidentified = isTrue(o, "applied_to_unidentified");
  const groups = o.get("regex_config");
  if (groups !== null && groups.kind != JKind.Null) {
    if (groups.kind != JKind.Array) return null;
    const items = groups.asArray().items;
    for (let i = 0; i < items.length; i++) {
      if (items[i].kind != JKind.Object) return null;
      const conds = items[i].asObject().get("conditions");
      const group = new Array<Condition>();
      if (conds !== null && conds.kind == JKind.Array) {
        const cs = conds.asArray().items;
        for (let k = 0; k < cs.length; k++) {
          const c = condition(cs[k], r, warnings);
          if (c === null) return null;
          group.push(c);
        }
      } else if (conds !== null && conds.kind != JKind.Null) return null;
      r.groups.push(group);
    }
  }
  const response = o.get("response");
  if (response !== null && response.kind == JKind.Object) {
    const res = response.asObject();
    const status = res.get("status");
    if (status !== null && status.kind == JKind.Number) {
      const n = status.asNumber().value;
      if (n == Math.floor(n) && n >= 100 && n <= 999) r.status = <i32>n;
    }
    const headers = res.get("headers");
    if (headers !== null && headers.kind == JKind.Object) {
      const h = headers.asObject();
      for (let i = 0; i < h.keys.length; i++) {
        if (h.values[i].kind != JKind.String) continue;
        r.headerNames.push(h.keys[i]);
        r.headerValues.push(template(h.values[i].asString().value));
      }
    }
    r.body = res.get("body");
  }
  return r;
}

/** Reads GET /v1/rules; null when the body is not a JSON array (then the rules in force stay). */
export function parseRules(body: Uint8Array): RuleSet | null {
  const root = new JsonParser(body).parse();
  if (root === null || root.kind != JKind.Array) return null;
  const set = new RuleSet();
  const items = root.asArray().items;
  for (let i = 0; i < items.length; i++) {
    const r = rule(items[i], set.warnings);
    if (r === null) {
      set.warnings.push("governance rule " + i.toString() + " of /v1/rules is malformed and skipped");
      continue;
    }
    if (r.usesBody) set.usesBody = true;
    if (r.usesRoute) set.usesRoute = true;
    if (r.usesIp) set.usesIp = true;
    if (r.kind == Kind.User) set.user.push(r);
    else if (r.kind == Kind.Company) set.company.push(r);
    else set.regex.push(r);
  }
  return set;
}

function scalar(v: JValue): string | null {
  if (v.kind == JKind.String) return v.asString().value;
  if (v.kind == JKind.Number) return v.asNumber().raw;
  if (v.kind == JKind.Bool) return v.asBool().value ? "true" : "false";
  return null;
}

function cohortMap(v: JValue | null, into: Map<string, Array<CohortEntry>>): void {
  if (v === null || v.kind != JKind.Object) return;
  const o = v.asObject();
  for (let i = 0; i < o.keys.length; i++) {
    if (o.values[i].kind != JKind.Array) continue;
    const list = new Array<CohortEntry>();
    const items = o.values[i].asArray().items;
    for (let k = 0; k < items.length; k++) {
      if (items[k].kind != JKind.Object) continue;
      const e = items[k].asObject();
      const ruleId = str(e, "rules");
      if (ruleId === null) continue;
      const values = new Map<string, string>();
      const vs = e.get("values");
      if (vs !== null && vs.kind == JKind.Object) {
        const vo = vs.asObject();
        for (let j = 0; j < vo.keys.length; j++) {
          const s = scalar(vo.values[j]);
          if (s !== null) values.set(vo.keys[j], s);
        }
      }
      list.push(new CohortEntry(ruleId, values));
    }
    into.set(o.keys[i], list);
  }
}

/** Reads the cohorts of GET /v1/config (user_rules, company_rules); empty when there are none. */
export function parseCohorts(configBody: Uint8Array): Cohorts {
  const c = new Cohorts();
  const root = new JsonParser(configBody).parse();
  if (root === null || root.kind != JKind.Object) return c;
  cohortMap(root.asObject().get("user_rules"), c.users);
  cohortMap(root.asObject().get("company_rules"), c.companies);
  return c;
}
