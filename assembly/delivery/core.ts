// The delivery engine as a deterministic state machine with no host in it (sans-I/O, as hyper/h2
// and QUIC stacks are built): the sender's host-facing adapter (sender.ts) feeds it time (tick),
// events (offer) and answers (answered), and carries out what poll() returns — dispatch this batch
// or fetch, log this line, hand over the metrics. What the host allows is a value (HostProfile),
// time is the monotonic clock's (clock.ts), and the parts each own one thing: the in-flight table
// every count and byte of the calls out, the retry scheduler backoff, Retry-After and the age limit,
// the concurrency policy how many calls may be out, the fetch states when the config and rules are
// due. Unit specs drive it directly (assembly/__tests__/delivery/).
import { HostProfile } from "../runtime/profile";
import { EventQueue, BatchWriter } from "./queue";
import { Stats } from "./stats";
import { gzip } from "../codec/deflate";
import { SenderOptions } from "./options";
import { Command, Outcome, AppData, CMD_LOG, CMD_DISPATCH, CMD_METRICS } from "./commands";
import { Pacer } from "./pacer";
import { Ledger } from "./ledger";
import { DeliveryState } from "./dropreport";
import { InFlightTable, Batch, Call, KIND_BATCH } from "./inflight";
import { RetryScheduler } from "./retry";
import { Concurrency, OneAtATime, Adaptive } from "./concurrency";
import { presumeLostMs, FETCH_TIMEOUT_MS, LOST_CALL_CAP_MS } from "./presume";
import { Fetches } from "./fetches";
import { Reports } from "./reports";
import { isIpLiteral } from "./endpoint";

/** An answer slower than this share of the call's timeout is trouble: the collector is falling behind. */
const SLOW_SHARE: i64 = 2;

export class DeliveryCore {
  table: InFlightTable = new InFlightTable();
  retries: RetryScheduler;
  pacer: Pacer;
  ledger: Ledger;
  policy: Concurrency = new OneAtATime();
  fetches: Fetches;
  reports: Reports;
  data: AppData | null = null;
  private profile: HostProfile = new HostProfile();
  private writer: BatchWriter = new BatchWriter();
  private cmd: Command = new Command();
  /** The batch or fetch of the last CMD_DISPATCH, until dispatched() or refused() says how it went. */
  private pendingKind: i32 = 0;
  private pendingBatch: Batch | null = null;
  /** When a ready batch last found every place taken (the adaptive limit grows only from such rounds). */
  private blockedMs: i64 = 0;
  private blocked: bool = false;
  private metricsDue: bool = false;
  private snapshot: DeliveryState = new DeliveryState();
  private tls: bool;
  private resolves: bool;

  constructor(public opts: SenderOptions, public queue: EventQueue, public stats: Stats) {
    const retries = new RetryScheduler(opts.maxRetries, <i64>opts.maxRetryAge);
    const reports = new Reports(opts.debug);
    this.retries = retries;
    this.reports = reports;
    this.pacer = new Pacer(opts, queue, retries);
    this.ledger = new Ledger(stats, retries, reports);
    this.fetches = new Fetches(opts.fetchRules);
    this.tls = opts.endpoint.scheme == "https";
    this.resolves = !isIpLiteral(hostOf(opts.target));
  }

  /** The host, once known (or a test's): picks the concurrency policy. */
  setProfile(p: HostProfile): void {
    if (p.parallelCalls != this.profile.parallelCalls) this.policy = p.parallelCalls ? changetype<Concurrency>(new Adaptive()) : new OneAtATime();
    this.profile = p;
  }

  /** Bytes held for delivery: queued events, batches waiting to be retried, batches in flight. */
  get heldBytes(): i64 {
    return this.queue.bytes + this.retries.bytes + this.table.bytes;
  }

  /** Whether an event could be queued at all (before it is built); counts the drop when not. */
  admits(): bool {
    if (this.queue.length < this.queue.maxEvents && this.heldBytes < <i64>this.opts.eventQueueBytes) return true;
    this.stats.droppedQueueFull++;
    return false;
  }

  /** Takes a finished event into the queue; a full queue counts it. */
  offer(event: Uint8Array): bool {
    if (this.heldBytes + <i64>event.length <= <i64>this.opts.eventQueueBytes && this.queue.push(event)) return true;
    this.stats.droppedQueueFull++;
    return false;
  }

  /** Time passes: calls are presumed lost, places given up, lines and metrics fall due. */
  tick(nowMs: i64): void {
    let c = this.table.takeLost(nowMs);
    while (c !== null) {
      this.lost(c, nowMs);
      c = this.table.takeLost(nowMs);
    }
    let g = this.table.expiredGhost(nowMs);
    while (g !== null) {
      this.ledger.forget(g);
      g = this.table.expiredGhost(nowMs);
    }
    // Before Kong 3.9 a batch call past its timeout argument gives up its place: delivery goes on
    // while it may still be answered (its batch stays held, and counted, until then).
    if (!this.profile.reportsFailures) {
      const sent = this.table.markOverdue(nowMs, <i64>this.opts.timeoutMs);
      if (sent >= 0) this.policy.trouble(sent, nowMs);
    }
    this.policy.observe(this.table, nowMs);
    if (this.profile.known && !this.profile.readsAnswers) this.reports.fetchesOff(this.opts, this.profile.undeclared);
    this.reports.periodic(this.stats, this.state(), nowMs);
    this.metricsDue = true;
  }

  /**
   * The next thing to do, or null. `dispatch`: calls may leave now (never from an answer on Kong).
   * A CMD_DISPATCH must be followed by dispatched() or refused() before the next poll.
   */
  poll(nowMs: i64, dispatch: bool): Command | null {
    const cmd = this.cmd;
    if (this.reports.pending()) {
      cmd.kind = CMD_LOG;
      cmd.level = this.reports.level();
      cmd.text = this.reports.take();
      return cmd;
    }
    if (this.metricsDue) {
      this.metricsDue = false;
      cmd.kind = CMD_METRICS;
      return cmd;
    }
    if (!dispatch || this.pendingKind != 0) return null;
    if (!this.policy.room(this.table)) {
      this.noteBlocked(nowMs);
      return null;
    }
    cmd.kind = CMD_DISPATCH;
    const b = this.pacer.next(nowMs);
    if (b !== null) {
      const raw = this.writer.join(b.events);
      cmd.body = this.opts.enableCompression ? gzip(raw) : raw;
      b.sentBytes = cmd.body.length;
      cmd.call = KIND_BATCH;
      cmd.timeoutMs = this.opts.timeoutMs;
      this.pendingKind = KIND_BATCH;
      this.pendingBatch = b;
      return cmd;
    }
    // A fetch yields to batches: none leaves while a batch is waiting.
    const kind = this.profile.known && this.profile.readsAnswers && !this.pacer.waiting(nowMs) ? this.fetches.due(nowMs) : 0;
    if (kind == 0) return null;
    cmd.call = kind;
    cmd.body = new Uint8Array(0);
    cmd.timeoutMs = <i32>min(<i64>this.opts.timeoutMs, FETCH_TIMEOUT_MS);
    this.pendingKind = kind;
    return cmd;
  }

  /** The last CMD_DISPATCH left as call `token`. */
  dispatched(token: u32, nowMs: i64): void {
    const kind = this.pendingKind;
    const b = this.pendingBatch;
    this.pendingKind = 0;
    this.pendingBatch = null;
    const timeout = kind == KIND_BATCH ? <i64>this.opts.timeoutMs : min(<i64>this.opts.timeoutMs, FETCH_TIMEOUT_MS);
    const lostAfter = presumeLostMs(this.profile.reportsFailures, timeout, b !== null ? <i64>b.sentBytes : 0, this.tls, this.resolves);
    this.table.add(new Call(token, kind, b, nowMs, nowMs + lostAfter));
    this.policy.observe(this.table, nowMs);
    if (b !== null) this.reports.sent(b, token, this.table.holding, this.policy.limit);
    else this.fetches.sent(kind, token);
  }

  /** The host refused the last CMD_DISPATCH (`why`: its status). */
  refused(why: string, nowMs: i64): void {
    const kind = this.pendingKind;
    const b = this.pendingBatch;
    this.pendingKind = 0;
    this.pendingBatch = null;
    // Retried with backoff like a failed call, never at the next tick: on Kong each refusal from a
    // root context also loses the fake connection NWM made for it (ngx_http_proxy_wasm_dispatch's
    // error path releases the call, not its fake request).
    if (b !== null) this.ledger.retry(b, nowMs, 0, "could not be called: the host refused the dispatch to " + this.opts.target + " (" + why + ")");
    else this.fetches.failed(kind, nowMs);
  }

  /** What a token names (KIND_*), in flight or presumed lost; 0 when nothing: the adapter reads answers by it. */
  kindOf(token: u32): i32 {
    return this.table.kindOf(token);
  }

  answered(token: u32, o: Outcome, nowMs: i64): void {
    const call = this.table.take(token);
    if (call === null) {
      const ghost = this.table.takeGhost(token);
      if (ghost !== null) this.ledger.late(ghost.batch!, o.status >= 200 && o.status < 300, nowMs);
      return;
    }
    if (call.kind != KIND_BATCH) {
      this.fetches.answered(call.kind, o, this.profile.readsAnswers, this.data, this.reports, nowMs);
      return;
    }
    const b = call.batch!;
    const ok = o.status >= 200 && o.status < 300;
    // Delivered already by a call of it presumed lost that was answered after all.
    if (b.delivered) {
      if (ok) this.ledger.duplicate(b, nowMs);
      return;
    }
    if (ok) {
      const limited = this.blocked && call.sentMs <= this.blockedMs;
      if (nowMs - call.sentMs < <i64>this.opts.timeoutMs / SLOW_SHARE) this.policy.clean(limited);
      else this.policy.trouble(call.sentMs, nowMs);
      if (this.profile.readsAnswers) this.fetches.batchTags(o.configTag, o.rulesTag);
      this.ledger.deliver(b);
      this.reports.accepted(b, o.status);
      return;
    }
    const status = o.status;
    if (status == 0 || status == 408 || status == 429 || status >= 500) {
      this.policy.trouble(call.sentMs, nowMs);
      let reason = "answered " + status.toString();
      if (status == 0) {
        // Kong 3.9 says "ok" for a connection that ended before an answer came (a reset after the send).
        const what = o.failure;
        reason = what.length == 0 ? "could not be reached" : what == "ok" ? "closed the connection without answering" : "could not be reached (" + what + ")";
      }
      this.ledger.retry(b, nowMs, status == 0 || !this.profile.readsAnswers ? 0 : o.retryAfterMs, reason);
      return;
    }
    // Any other answer means the batch itself was refused: sending it again would not help.
    this.ledger.reject(b, status, nowMs);
  }

  /** A call presumed lost: a fetch backs off; a batch is retried, and its call kept as a ghost. */
  private lost(c: Call, nowMs: i64): void {
    if (c.kind != KIND_BATCH) {
      this.fetches.lost(c.kind, nowMs);
      return;
    }
    const b = c.batch!;
    const waited = c.lostMs - c.sentMs;
    this.policy.trouble(c.sentMs, nowMs);
    const forgotten = this.table.haunt(c, nowMs + LOST_CALL_CAP_MS);
    if (forgotten !== null) this.ledger.forget(forgotten);
    if (!b.delivered) this.ledger.retry(b, nowMs, 0, "did not answer within " + waited.toString() + " ms");
  }

  private noteBlocked(nowMs: i64): void {
    if (!this.pacer.waiting(nowMs)) return;
    this.blocked = true;
    this.blockedMs = nowMs;
  }

  /** What the drop line says of the sender's state (one object, refilled at each tick). */
  private state(): DeliveryState {
    const s = this.snapshot;
    s.queued = this.queue.length;
    s.maxEvents = this.queue.maxEvents;
    s.heldBytes = this.heldBytes;
    s.maxBytes = this.opts.eventQueueBytes;
    s.inFlight = this.table.size;
    s.limit = this.policy.limit;
    return s;
  }
}

/** The host of a dispatch target "host:port" or "[v6]:port" (a cluster name is its own host). */
function hostOf(target: string): string {
  if (target.startsWith("[")) return target.substring(0, target.indexOf("]") + 1);
  const colon = target.lastIndexOf(":");
  return colon < 0 ? target : target.substring(0, colon);
}
