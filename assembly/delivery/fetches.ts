// The two fetches — GET /v1/config (sampling, cohorts) and GET /v1/rules (governance) — and when
// each is due (configfetch.ts: at start, when a batch answer names another tag, every 5 minutes;
// failures backed off; presumed losses backed off 5 min, 10, 20, up to an hour). The core asks for
// one only when no batch is waiting: a fetch never holds a batch back.
import { ConfigFetch } from "./configfetch";
import { KIND_CONFIG, KIND_RULES } from "./inflight";
import { Outcome, AppData } from "./commands";
import { Reports } from "./reports";
import { random01 } from "../codec/random";

export class Fetches {
  config: ConfigFetch = new ConfigFetch();
  rules: ConfigFetch = new ConfigFetch();
  private rulesFailing: bool = false;

  constructor(public rulesOn: bool) {}

  /** The fetch that is due now (KIND_CONFIG or KIND_RULES), or 0. */
  due(nowMs: i64): i32 {
    if (this.config.due(nowMs)) return KIND_CONFIG;
    if (this.rulesOn && this.rules.due(nowMs)) return KIND_RULES;
    return 0;
  }

  private of(kind: i32): ConfigFetch {
    return kind == KIND_RULES ? this.rules : this.config;
  }

  sent(kind: i32, token: u32): void {
    this.of(kind).sent(token);
  }

  failed(kind: i32, nowMs: i64): void {
    this.of(kind).failed(nowMs, random01());
  }

  lost(kind: i32, nowMs: i64): void {
    this.of(kind).lost(nowMs);
  }

  /** A batch answer named these tags: what changed is fetched again. */
  batchTags(configTag: string, rulesTag: string): void {
    this.config.batchTag(configTag);
    if (this.rulesOn) this.rules.batchTag(rulesTag);
  }

  /** The answer to a fetch. A failed or unusable one keeps what is in force, and is tried again later. */
  answered(kind: i32, o: Outcome, readsAnswers: bool, data: AppData | null, reports: Reports, nowMs: i64): void {
    const f = this.of(kind);
    const rules = kind == KIND_RULES;
    const ok = o.status >= 200 && o.status < 300;
    const body = o.body;
    let usable = false;
    if (ok && readsAnswers && body !== null && data !== null) usable = rules ? data.rules(body) : data.config(body);
    if (usable) {
      f.loaded(nowMs, rules ? o.rulesTag : o.configTag, random01());
      if (rules) this.rulesFailing = false;
      else if (this.rulesOn) this.rules.batchTag(o.rulesTag);
      reports.fetched(rules, f.tag);
      return;
    }
    // A timeout is a call presumed lost, not a collector that said no.
    if (o.timedOut) f.lost(nowMs);
    else f.failed(nowMs, random01());
    if (rules) {
      if (!this.rulesFailing) reports.rulesFailed(o.status);
      this.rulesFailing = true;
    } else if (!ok) {
      reports.configFailed(o.status, f.retryAtMs - nowMs);
    }
  }
}
