// A local collector that speaks Moesif's API (docs/protocol.md): it accepts what Moesif accepts,
// refuses what Moesif refuses, records every event it got, and can be told to misbehave. Whether an
// event is one THIS filter may send (the stricter promise of docs/protocol.md) it records apart, in
// `filterViolations`, which the integration and golden tests hold empty.
import http from "node:http";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import zlib from "node:zlib";
import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { listen } from "../support/ports.ts";

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
(addFormats as unknown as (a: Ajv) => void)(ajv);
const schema = (file: string) => ajv.compile(JSON.parse(readFileSync(new URL(file, import.meta.url), "utf8")));
const validateMoesif = schema("./moesif-event.schema.json");
const validateFilter = schema("./filter-event.schema.json");

/** Why an event is not one this filter may send (filter-event.schema.json), or null when it is. */
export function filterEventProblems(event: unknown): string | null {
  return validateFilter(event) ? null : ajv.errorsText(validateFilter.errors);
}

export interface MoesifEvent {
  request: { time: string; uri: string; verb: string; headers?: Record<string, string>; [k: string]: unknown };
  response: { time: string; status: number; headers?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ReceivedBatch {
  headers: http.IncomingHttpHeaders;
  /** The body as it came off the wire (compressed if it was). */
  rawBody: Buffer;
  /** The body after Content-Encoding was undone. */
  body: Buffer;
  events: MoesifEvent[];
  status: number;
  /** The TLS server name the client asked for (SNI), when served over HTTPS. */
  servername?: string;
}

export interface Fault {
  /** Answer with this status instead of accepting. */
  status?: number;
  retryAfter?: string;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Close the connection without an answer. */
  drop?: boolean;
  /** Never answer (until the collector closes). */
  hang?: boolean;
  /** Hold the answer until release() (a slow collector, as slow as a test needs). */
  hold?: boolean;
}

export interface CollectorOptions {
  port?: number;
  /** When set, batches must carry this X-Moesif-Application-Id. */
  applicationId?: string;
  /** The application config GET /v1/config serves (sampling). */
  appConfig?: Record<string, unknown>;
  onBatch?: (batch: ReceivedBatch) => void;
  /** Serve HTTPS with this key and certificate (the URL then uses https://localhost). */
  tls?: { key: string; cert: string };
  /**
   * Load runs: keep only the events' transaction ids (`ids`), read straight from the batch's bytes
   * (lightIds), neither parsed nor checked against the schemas. At thousands of events a second on
   * the gateway's own two cores, parsing cost this process about as much CPU per event as the
   * filter costs the gateway (BENCHMARKS §10): a cost of the bench, which a real collector pays on
   * another machine. What the events hold is checked by the suites that run without `light`.
   */
  light?: boolean;
}

export class Collector {
  readonly events: MoesifEvent[] = [];
  /** Events Moesif would accept but this filter must never send, with why. */
  readonly filterViolations: { event: MoesifEvent; problems: string }[] = [];
  readonly batches: ReceivedBatch[] = [];
  readonly rejected: { status: number; reason: string }[] = [];
  /** Light mode: the transaction id of every event received, in order (a repeat is a duplicate). */
  readonly ids: string[] = [];
  /** Batch requests being answered now, and the most there ever were at once. */
  concurrent = 0;
  maxConcurrent = 0;
  configRequests = 0;
  /** The X-Moesif-Config-ETag of config and batch answers; null sends none. */
  configEtag: string | null = "etag-1";
  /** Answer GET /v1/config with this status while set (a failing config endpoint). */
  configStatus: number | null = null;
  /** Whether GET /v1/config answers carry the ETag (batch answers always do, when there is one). */
  configAnswerTagged = true;
  /** The governance rules GET /v1/rules serves (a JSON value: an array, or anything to test with). */
  rules: unknown = [];
  /** X-Moesif-Rules-Tag on rules, config and batch answers; null sends none. */
  rulesTag: string | null = "rules-1";
  /** Answer GET /v1/rules with this status while set. */
  rulesStatus: number | null = null;
  rulesRequests = 0;
  appConfig: Record<string, unknown>;
  private faults: Fault[] = [];
  private standingFault: Fault | null = null;
  private server!: http.Server;
  private waiters: (() => void)[] = [];
  private held: (() => void)[] = [];
  url = "";
  port = 0;

  constructor(private opts: CollectorOptions = {}) {
    this.appConfig = opts.appConfig ?? { sample_rate: 100, user_sample_rate: {}, company_sample_rate: {}, regex_config: [] };
  }

  /** The next `times` batch requests meet `fault`. */
  failNext(fault: Fault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  /** Every batch request meets `fault` until clear() (an outage). */
  failAll(fault: Fault): void {
    this.standingFault = fault;
  }

  /** Requests held so far and not yet answered. */
  get holding(): number {
    return this.held.length;
  }

  /** Answers every held request now. */
  release(): void {
    for (const act of this.held.splice(0)) act();
  }

  clear(): void {
    this.faults = [];
    this.standingFault = null;
  }

  /** Resolves when at least `n` events have arrived; rejects after `timeoutMs`. */
  async waitForEvents(n: number, timeoutMs = 5000): Promise<MoesifEvent[]> {
    const end = Date.now() + timeoutMs;
    while (this.events.length < n) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`collector: waited ${timeoutMs} ms for ${n} events, got ${this.events.length}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.events.slice(0, n);
  }

  async start(): Promise<this> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = this.opts.tls ? https.createServer(this.opts.tls, handler) : http.createServer(handler);
    this.port = await listen(this.server, this.opts.port ?? 0);
    this.url = this.opts.tls ? `https://localhost:${this.port}` : `http://127.0.0.1:${this.port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private reply(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://collector");
      if (req.method === "GET" && url.pathname === "/v1/config") {
        this.configRequests++;
        if (this.configStatus !== null) return this.reply(res, this.configStatus, { message: "fault injected" });
        return this.reply(res, 200, this.appConfig, this.configAnswerTagged ? this.etagHeader() : this.rulesTagHeader());
      }
      if (req.method === "GET" && url.pathname === "/v1/rules") {
        this.rulesRequests++;
        if (this.rulesStatus !== null) return this.reply(res, this.rulesStatus, { message: "fault injected" });
        return this.reply(res, 200, this.rules, this.rulesTagHeader());
      }
      if (req.method === "POST" && url.pathname === "/v1/events/batch") return this.batch(req, res, Buffer.concat(chunks), true);
      if (req.method === "POST" && url.pathname === "/v1/events") return this.batch(req, res, Buffer.concat(chunks), false);
      return this.reply(res, 404, { message: "not found" });
    });
  }

  private batch(req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer, many: boolean): void {
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    res.on("close", () => this.concurrent--);
    const fault = this.faults.shift() ?? this.standingFault;
    if (fault) {
      if (fault.hang) return;
      if (fault.drop) {
        req.socket.destroy();
        return;
      }
      const act = () => {
        if (fault.status !== undefined) {
          return this.reply(res, fault.status, { message: "fault injected" }, fault.retryAfter ? { "retry-after": fault.retryAfter } : {});
        }
        this.accept(req, res, raw, many);
      };
      if (fault.hold) this.held.push(act);
      else if (fault.delayMs) setTimeout(act, fault.delayMs);
      else act();
      return;
    }
    this.accept(req, res, raw, many);
  }

  private reject(res: http.ServerResponse, status: number, reason: string): void {
    this.rejected.push({ status, reason });
    this.reply(res, status, { message: reason });
  }

  /** POST /v1/events/batch takes an array of events, POST /v1/events one event. */
  private accept(req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer, many: boolean): void {
    const appId = req.headers["x-moesif-application-id"];
    if (typeof appId !== "string" || appId.length === 0) return this.reject(res, 401, "missing X-Moesif-Application-Id");
    if (this.opts.applicationId !== undefined && appId !== this.opts.applicationId) return this.reject(res, 401, "unknown application id");
    let body: Buffer;
    const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase();
    try {
      if (encoding === "gzip") body = zlib.gunzipSync(raw);
      else if (encoding === "deflate") body = zlib.inflateSync(raw);
      else if (encoding === "identity") body = raw;
      else return this.reject(res, 415, `unsupported Content-Encoding ${encoding}`);
    } catch (e) {
      return this.reject(res, 400, `body does not decode as ${encoding}: ${(e as Error).message}`);
    }
    if (this.opts.light) {
      const ids = lightIds(body, many);
      if (ids === null) return this.reject(res, 400, "every event must be an object with a transaction_id");
      for (const id of ids) this.ids.push(id);
      this.batches.push({ headers: req.headers, rawBody: Buffer.alloc(0), body: Buffer.alloc(0), events: [], status: 201 });
      for (const w of this.waiters.splice(0)) w();
      return this.reply(res, 201, {}, this.etagHeader());
    }
    let parsed: unknown;
    try {
      // fatal: an event that is not valid UTF-8 is a filter bug, not something to paper over.
      parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
    } catch (e) {
      return this.reject(res, 400, `body is not JSON: ${(e as Error).message}`);
    }
    if (many && !Array.isArray(parsed)) return this.reject(res, 400, "body must be a JSON array of events");
    if (!many && (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))) return this.reject(res, 400, "body must be one event");
    const events = (many ? parsed : [parsed]) as MoesifEvent[];
    for (let i = 0; i < events.length; i++) {
      if (!validateMoesif(events[i])) {
        return this.reject(res, 400, `event ${i} is malformed: ${ajv.errorsText(validateMoesif.errors)}`);
      }
    }
    for (const event of events) {
      const problems = filterEventProblems(event);
      if (problems !== null) this.filterViolations.push({ event, problems });
    }
    const servername = (req.socket as TLSSocket).servername || undefined;
    const batch: ReceivedBatch = { headers: req.headers, rawBody: raw, body, events, status: 201, servername };
    this.batches.push(batch);
    this.events.push(...events);
    this.opts.onBatch?.(batch);
    for (const w of this.waiters.splice(0)) w();
    this.reply(res, 201, {}, this.etagHeader());
  }

  private etagHeader(): Record<string, string> {
    return { ...(this.configEtag === null ? {} : { "x-moesif-config-etag": this.configEtag }), ...this.rulesTagHeader() };
  }

  private rulesTagHeader(): Record<string, string> {
    return this.rulesTag === null ? {} : { "x-moesif-rules-tag": this.rulesTag };
  }
}

// The filter writes every event as {"request":{…},…,"transaction_id":"…","direction":"Incoming",…}
// (assembly/event/event.ts). Neither pattern can occur inside a JSON string, where quotes are
// escaped; a body the filter embeds as JSON could hold them, which a load run's bodies do not.
const EVENT_START = Buffer.from('{"request":{');
const ID_BEFORE = Buffer.from(',"transaction_id":"');
const ID_AFTER = Buffer.from('","direction":"');

/**
 * A light collector's reading of a batch (or of one event): the transaction ids, or null unless the
 * body is an array (an object) whose events each carry one. Native substring search, no parsing.
 */
export function lightIds(body: Buffer, many: boolean): string[] | null {
  let start = 0;
  let end = body.length;
  while (start < end && body[start] <= 0x20) start++;
  while (end > start && body[end - 1] <= 0x20) end--;
  if (end - start < 2 || body[start] !== (many ? 0x5b : 0x7b) || body[end - 1] !== (many ? 0x5d : 0x7d)) return null;
  const ids: string[] = [];
  for (let at = body.indexOf(ID_BEFORE, start); at >= 0 && at < end; at = body.indexOf(ID_BEFORE, at + 1)) {
    const from = at + ID_BEFORE.length;
    const close = body.indexOf(ID_AFTER, from);
    if (close < 0 || close - from > 256 || body.subarray(from, close).includes(0x22)) return null;
    ids.push(body.toString("latin1", from, close));
  }
  let events = 0;
  for (let at = body.indexOf(EVENT_START, start); at >= 0 && at < end; at = body.indexOf(EVENT_START, at + 1)) events++;
  return events === ids.length && (many || events === 1) ? ids : null;
}
