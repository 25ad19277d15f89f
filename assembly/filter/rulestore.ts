// The governance rules and cohorts in force for one filter configuration: replaced whole when a
// fetch brings a usable set (requests already decided keep their decision; the next one uses the
// new set), kept when a fetch fails. Empty until the first successful fetch: nothing is blocked.
import { AppDataSink } from "../delivery/sender";
import { RuleSet, Cohorts, Rule, parseRules, parseCohorts } from "../governance/rules";
import { logWarn } from "../runtime/host";

export class RuleStore extends AppDataSink {
  ruleSet: RuleSet = new RuleSet();
  cohorts: Cohorts = new Cohorts();

  config(body: Uint8Array): void {
    this.cohorts = parseCohorts(body);
  }

  rules(body: Uint8Array): bool {
    const set = parseRules(body);
    if (set === null) return false;
    for (let i = 0; i < set.warnings.length; i++) logWarn("moesif: " + set.warnings[i]);
    warnUnusable(set.user);
    warnUnusable(set.company);
    warnUnusable(set.regex);
    this.ruleSet = set;
    return true;
  }
}

function warnUnusable(rules: Array<Rule>): void {
  for (let i = 0; i < rules.length; i++) {
    if (rules[i].block && rules[i].status < 0) {
      logWarn("moesif: governance rule " + rules[i].id + " blocks but has no usable response.status (100-999); it never blocks");
    }
  }
}
