// Which governance rules apply to a request, and what follows: a blocked response, or headers to
// add to the upstream's. Candidates are selected as Moesif's agents select them (regex rules always;
// user and company rules by cohort and applied_to, or applied_to_unidentified without an id), and
// combined deterministically: user rules before company rules before regex rules, each category in
// /v1/rules order, and the FIRST blocking rule wins. Headers of every matched rule are merged, a
// name set by a rule of higher precedence winning. Merge tags take the cohort entry's values.
import { ByteWriter, utf8, asciiLower, EMPTY_BYTES } from "../codec/bytes";
import { JsonParser, JValue, JKind, JObject, JArray, JString, JNumber, JBool } from "../codec/json";
import { writeJsonText } from "../codec/jsonwrite";
import { HeaderMap } from "../runtime/headers";
import { RuleSet, Rule, Cohorts, CohortEntry, Condition, Field, Template, template } from "./rules";

/** What a rule can look at, read once per request. */
export class GovernanceInput {
  verb: Uint8Array = EMPTY_BYTES;
  /** The path without the query string. */
  route: Uint8Array = EMPTY_BYTES;
  ip: Uint8Array | null = null;
  headers: HeaderMap = HeaderMap.empty();
  userId: string | null = null;
  companyId: string | null = null;
  /** The request body, when a rule may test it and the filter could read it. */
  body: Uint8Array | null = null;
  /** application/graphql: the body is the query. */
  graphql: bool = false;
  private parsed: JValue | null = null;
  private triedParse: bool = false;

  /** A JSON body's field by name (a literal key first, else a dotted path); null when missing. */
  bodyField(name: string): Uint8Array | null {
    const body = this.body;
    if (body === null) return null;
    if (this.graphql) return name == "query" ? body : null;
    if (!this.triedParse) {
      this.triedParse = true;
      this.parsed = new JsonParser(body).parse();
    }
    const root = this.parsed;
    if (root === null || root.kind != JKind.Object) return null;
    const v = root.asObject().field(name);
    if (v === null) return null;
    if (v.kind == JKind.String) return utf8(v.asString().value);
    if (v.kind == JKind.Number) return utf8(v.asNumber().raw);
    if (v.kind == JKind.Bool) return utf8(v.asBool().value ? "true" : "false");
    return null;
  }
}

/** What governance decided for one request. */
export class Decision {
  /** The winning blocking rule's id, or null when nothing blocks. */
  blockedBy: string | null = null;
  status: i32 = 0;
  headerNames: Array<string> = [];
  headerValues: Array<string> = [];
  /** The blocked response's body (JSON), or empty. */
  body: Uint8Array = EMPTY_BYTES;
}

class Match {
  constructor(public rule: Rule, public values: Map<string, string> | null) {}
}

function headerValue(map: HeaderMap, lowerName: Uint8Array): Uint8Array | null {
  let i = map.find(lowerName);
  if (i < 0) return null;
  const first = map.value(i);
  i = map.find(lowerName, i + 1);
  if (i < 0) return first;
  const w = new ByteWriter(first.length * 2);
  w.bytes(first);
  for (; i >= 0; i = map.find(lowerName, i + 1)) w.ascii(", ").bytes(map.value(i));
  return w.toBytes();
}

function fieldValue(c: Condition, input: GovernanceInput): Uint8Array | null {
  switch (c.field) {
    case Field.Verb: return input.verb;
    case Field.Route: return input.route;
    case Field.Ip: return input.ip;
    case Field.Header: return headerValue(input.headers, c.key);
    case Field.Body: return input.bodyField(c.name);
  }
  return null;
}

function matches(rule: Rule, input: GovernanceInput): bool {
  const groups = rule.groups;
  if (groups.length == 0) return true;
  // Indices below the lengths: no bounds checks (this runs per rule, per request).
  for (let g = 0; g < groups.length; g++) {
    const group = unchecked(groups[g]);
    let all = true;
    for (let k = 0; all && k < group.length; k++) {
      const c = unchecked(group[k]);
      const re = c.re;
      if (re === null) { all = false; break; }
      const v = fieldValue(c, input);
      all = v !== null && re.test(v);
    }
    if (all) return true;
  }
  return false;
}

function entryFor(entries: Array<CohortEntry> | null, id: string): CohortEntry | null {
  if (entries === null) return null;
  for (let i = 0; i < entries.length; i++) if (unchecked(entries[i]).ruleId == id) return unchecked(entries[i]);
  return null;
}

function select(rules: Array<Rule>, cohorts: Map<string, Array<CohortEntry>>, id: string | null, input: GovernanceInput, out: Array<Match>): void {
  const entries = id !== null && cohorts.has(id) ? cohorts.get(id) : null;
  for (let i = 0; i < rules.length; i++) {
    const r = unchecked(rules[i]);
    let applies: bool;
    let values: Map<string, string> | null = null;
    if (id === null) {
      applies = r.unidentified;
    } else {
      const entry = entryFor(entries, r.id);
      applies = r.notMatching ? entry === null : entry !== null;
      if (entry !== null) values = entry.values;
    }
    if (applies && matches(r, input)) out.push(new Match(r, values));
  }
}

function render(t: Template, values: Map<string, string> | null): string {
  let out = "";
  for (let i = 0; i < t.pieces.length; i++) {
    const p = t.pieces[i];
    const name = p.name;
    if (name === null) { out += p.text; continue; }
    const v = values !== null && values.has(name) ? values.get(name) : "";
    const fallback = p.fallback;
    out += v.length > 0 ? v : fallback !== null ? fallback : "UNKNOWN";
  }
  return out;
}

/** The rule's body as JSON, merge tags substituted in its strings (not its keys), escaped as JSON. */
function writeBody(w: ByteWriter, v: JValue, values: Map<string, string> | null): void {
  switch (v.kind) {
    case JKind.String: writeJsonText(w, render(template(v.asString().value), values)); return;
    case JKind.Number: w.ascii(v.asNumber().raw); return;
    case JKind.Bool: w.ascii(v.asBool().value ? "true" : "false"); return;
    case JKind.Array: {
      const items = v.asArray().items;
      w.byte(0x5b);
      for (let i = 0; i < items.length; i++) {
        if (i > 0) w.byte(0x2c);
        writeBody(w, items[i], values);
      }
      w.byte(0x5d);
      return;
    }
    case JKind.Object: {
      const o = v.asObject();
      w.byte(0x7b);
      for (let i = 0; i < o.keys.length; i++) {
        if (i > 0) w.byte(0x2c);
        writeJsonText(w, o.keys[i]);
        w.byte(0x3a);
        writeBody(w, o.values[i], values);
      }
      w.byte(0x7d);
      return;
    }
  }
  w.ascii("null");
}

// Header names are ASCII tokens, and folded as such (as the Lua plugin's string.lower does): the
// Unicode case tables String#toLowerCase would bring cost 8 KB of the module.
function hasHeader(names: Array<string>, name: string): bool {
  const lower = asciiLower(name);
  for (let i = 0; i < names.length; i++) if (asciiLower(names[i]) == lower) return true;
  return false;
}

/**
 * Evaluates the rules for a request. Returns null when no rule matched; else the decision: a block
 * (status, headers, body, blockedBy) or only headers to add to the upstream's response.
 */
export function decide(rules: RuleSet, cohorts: Cohorts, input: GovernanceInput): Decision | null {
  const matched = new Array<Match>();
  select(rules.user, cohorts.users, input.userId, input, matched);
  select(rules.company, cohorts.companies, input.companyId, input, matched);
  for (let i = 0; i < rules.regex.length; i++) if (matches(rules.regex[i], input)) matched.push(new Match(rules.regex[i], null));
  if (matched.length == 0) return null;
  const d = new Decision();
  let winner: Match | null = null;
  for (let i = 0; i < matched.length && winner === null; i++) {
    const r = matched[i].rule;
    if (r.block && r.status >= 0) winner = matched[i];
  }
  // Headers: a blocked response gets every matched rule's; an answered one the non-blocking rules'.
  for (let i = 0; i < matched.length; i++) {
    const m = matched[i];
    if (winner === null && m.rule.block) continue;
    for (let k = 0; k < m.rule.headerNames.length; k++) {
      const name = m.rule.headerNames[k];
      if (hasHeader(d.headerNames, name)) continue;
      d.headerNames.push(name);
      d.headerValues.push(render(m.rule.headerValues[k], m.values));
    }
  }
  if (winner !== null) {
    const w = winner;
    d.blockedBy = w.rule.id;
    d.status = w.rule.status;
    const body = w.rule.body;
    if (body !== null && body.kind != JKind.Null) {
      const out = new ByteWriter(256);
      writeBody(out, body, w.values);
      d.body = out.toBytes();
    }
  }
  return d;
}
