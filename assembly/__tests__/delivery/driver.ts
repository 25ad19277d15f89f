// A fake host for delivery's core: it carries out the core's commands as the adapter would, hands
// out call tokens, keeps the calls out, and answers them when a spec says. Events are `{"i":N}`, so
// what a call carried is read back from its body.
import { DeliveryCore } from "../../delivery/core";
import { Outcome } from "../../delivery/commands";
import { CMD_LOG, CMD_DISPATCH } from "../../delivery/commands";
import { KIND_BATCH } from "../../delivery/inflight";
import { EventQueue } from "../../delivery/queue";
import { Stats } from "../../delivery/stats";
import { SenderOptions } from "../../delivery/options";
import { MonoClock } from "../../delivery/clock";
import { parseEndpoint } from "../../delivery/endpoint";
import { HostProfile } from "../../runtime/profile";
import { b, s } from "../helpers";

export class Out {
  constructor(public token: u32, public kind: i32, public ids: Array<i32>, public sentMs: i64, public timeoutMs: i32) {}
}

export function profileOf(parallel: bool, reportsFailures: bool, readsAnswers: bool = true): HostProfile {
  const p = new HostProfile();
  p.known = true;
  p.parallelCalls = parallel;
  p.reportsFailures = reportsFailures;
  p.readsAnswers = readsAnswers;
  return p;
}

export function optionsFor(url: string = "http://127.0.0.1:9"): SenderOptions {
  const o = new SenderOptions();
  o.endpoint = parseEndpoint(url)!;
  o.batchSize = 5;
  o.batchMaxWait = 1000;
  o.timeoutMs = 1000;
  o.maxRetries = 6;
  o.maxRetryAge = 600000;
  o.eventQueueBytes = 4000;
  return o;
}

export class Driver {
  core: DeliveryCore;
  stats: Stats;
  clock: MonoClock = new MonoClock();
  wallMs: i64 = 1700000000000;
  nowMs: i64 = 0;
  nextToken: u32 = 1;
  out: Array<Out> = [];
  logs: Array<string> = [];
  offered: i32 = 0;
  /** The most calls ever out at once (the driver's view: dispatched, not yet answered nor presumed lost). */
  maxOut: i32 = 0;
  refuseNext: bool = false;
  /** Fetches are answered 200 at the tick that sent them (set false to leave them hanging). */
  autoFetch: bool = true;

  constructor(public opts: SenderOptions, public profile: HostProfile, maxEvents: i32 = 1000) {
    const stats = new Stats();
    this.stats = stats;
    this.core = new DeliveryCore(opts, new EventQueue(maxEvents), stats);
    this.core.setProfile(profile);
    this.clock.read(this.wallMs);
  }

  offer(n: i32 = 1): void {
    for (let i = 0; i < n; i++) {
      const id = this.offered++;
      if (this.core.admits()) this.core.offer(b('{"i":' + id.toString() + "}"));
    }
  }

  /** Wall time moves by `ms` (back when negative), then a tick. */
  tick(ms: i64 = 20): void {
    this.wallMs += ms;
    this.nowMs = this.clock.read(this.wallMs);
    this.core.tick(this.nowMs);
    this.run(true);
    if (!this.autoFetch) return;
    for (let i = this.out.length - 1; i >= 0; i--) if (this.out[i].kind != KIND_BATCH) this.answer(this.out[i], 200);
  }

  run(dispatch: bool): void {
    let cmd = this.core.poll(this.nowMs, dispatch);
    while (cmd !== null) {
      if (cmd.kind == CMD_LOG) this.logs.push(cmd.text);
      else if (cmd.kind == CMD_DISPATCH) {
        if (this.refuseNext) {
          this.refuseNext = false;
          this.core.refused("InternalFailure", this.nowMs);
        } else {
          const token = this.nextToken++;
          this.out.push(new Out(token, cmd.call, cmd.call == KIND_BATCH ? idsOf(cmd.body) : [], this.nowMs, cmd.timeoutMs));
          this.core.dispatched(token, this.nowMs);
          if (this.core.table.size > this.maxOut) this.maxOut = this.core.table.size;
        }
      }
      cmd = this.core.poll(this.nowMs, dispatch);
    }
  }

  /** Answers the call `o` (taking it out of `out`). */
  answer(o: Out, status: i32, retryAfterMs: i64 = 0, timedOut: bool = false): void {
    const i = this.out.indexOf(o);
    if (i >= 0) this.out.splice(i, 1);
    const a = new Outcome();
    a.status = status;
    a.retryAfterMs = retryAfterMs;
    a.timedOut = timedOut;
    if (status == 0) a.failure = timedOut ? "timeout" : "broken connection";
    if (o.kind != KIND_BATCH && status == 200) a.body = b("{}");
    this.nowMs = this.clock.read(this.wallMs);
    this.core.answered(o.token, a, this.nowMs);
    this.run(this.profile.dispatchesFromAnswers);
  }

  batches(): Array<Out> {
    const r: Array<Out> = [];
    for (let i = 0; i < this.out.length; i++) if (this.out[i].kind == KIND_BATCH) r.push(this.out[i]);
    return r;
  }

  logged(prefix: string): bool {
    for (let i = 0; i < this.logs.length; i++) if (this.logs[i].startsWith(prefix)) return true;
    return false;
  }
}

/** The event numbers in a batch body `[{"i":1},{"i":2}]`. */
export function idsOf(body: Uint8Array): Array<i32> {
  const text = s(body);
  const ids: Array<i32> = [];
  let n = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) n = (n < 0 ? 0 : n * 10) + (c - 0x30);
    else if (n >= 0) {
      ids.push(n);
      n = -1;
    }
  }
  return ids;
}
