// What an HTTP context needs of its filter configuration, handed to it by the root: the parsed
// configuration, what follows from it for events and identities (computed once), the counters,
// and the sender to give finished events to. The request side never reaches back into the root.
import { Config } from "./config";
import { EventOptions } from "../event/event";
import { IdentityConfig } from "../capture/identify";
import { Sender } from "../delivery/sender";
import { Stats } from "../delivery/stats";
import { RuleStore } from "./rulestore";

export class CallSettings {
  constructor(
    public config: Config,
    public eventOptions: EventOptions,
    public identity: IdentityConfig,
    public sender: Sender,
    public stats: Stats,
    /** Governance's rules and cohorts; null with disable_governance. */
    public governance: RuleStore | null,
  ) {}
}
