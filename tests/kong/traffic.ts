// What the Kong suite's delivery tests share: a paced client that keeps each request's transaction id
// (the filter puts it on the response, X-Moesif-Transaction-Id), and a sink that records when each
// event reached the collector(s), how often, and what every batch call met.
import http from "node:http";
import { Collector, Fault, ReceivedBatch } from "../collector/collector.ts";
import { freePort } from "../support/ports.ts";

export interface SentRequest {
  path: string;
  status: number;
  /** The transaction id the filter gave the request (its response header), "" when none. */
  id: string;
  /** When the response ended (Date.now()). */
  doneAt: number;
}

export interface DriveOptions {
  /** Requests in all, or run for `seconds` at `rate`. */
  count?: number;
  seconds?: number;
  /** Requests per second: request i starts at i / rate s (or as soon as a connection is free). */
  rate: number;
  /** Requests in flight at most (keep-alive connections). */
  connections?: number;
  /** The path of request i. */
  path?: (i: number) => string;
  /** A JSON body for request i (then a POST), or undefined (a GET). */
  body?: (i: number) => string | undefined;
}

/** Sends requests at a fixed rate through `url` and keeps what each answer said. */
export async function drive(url: string, opts: DriveOptions): Promise<SentRequest[]> {
  const connections = opts.connections ?? 4;
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const count = opts.count ?? Math.round(opts.rate * (opts.seconds ?? 1));
  const path = opts.path ?? ((i: number) => `/r/${i}`);
  const out: SentRequest[] = [];
  const start = Date.now();
  let next = 0;
  const one = (i: number) => new Promise<void>((resolve) => {
    const p = path(i);
    const body = opts.body?.(i);
    const headers: http.OutgoingHttpHeaders = { host: "api.example.com" };
    if (body !== undefined) Object.assign(headers, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    const req = http.request(url + p, { agent, headers, method: body === undefined ? "GET" : "POST" }, (res) => {
      res.resume();
      res.on("end", () => {
        const id = res.headers["x-moesif-transaction-id"];
        out.push({ path: p, status: res.statusCode ?? 0, id: typeof id === "string" ? id : "", doneAt: Date.now() });
        resolve();
      });
      res.on("error", () => (out.push({ path: p, status: 0, id: "", doneAt: Date.now() }), resolve()));
    });
    req.on("error", () => (out.push({ path: p, status: 0, id: "", doneAt: Date.now() }), resolve()));
    req.end(body);
  });
  const lane = async () => {
    while (next < count) {
      const i = next++;
      const due = start + (i * 1000) / opts.rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await one(i);
    }
  };
  await Promise.all(Array.from({ length: connections }, lane));
  agent.destroy();
  return out;
}

/** One batch request as the collector saw it, before any fault was applied. */
export interface BatchCall {
  at: number;
  /** The fault it met (null: accepted). */
  fault: Fault | null;
  /** The transaction ids in its body (parsed here, as a faulted call's body is never parsed). */
  ids: string[];
}

/**
 * Collectors that report to one record: a test may close its collector and start another on the
 * same port (an outage), and still see every event, when it first arrived and how many times.
 */
export class Sink {
  readonly arrivals = new Map<string, number>();
  readonly counts = new Map<string, number>();
  readonly calls: BatchCall[] = [];
  readonly collectors: Collector[] = [];

  async collector(port?: number): Promise<Collector> {
    const onBatch = (b: ReceivedBatch) => {
      const now = Date.now();
      for (const e of b.events) {
        const id = String(e.transaction_id);
        this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
        if (!this.arrivals.has(id)) this.arrivals.set(id, now);
      }
    };
    // A port that can be bound again after a close: a scenario may take the collector down and
    // bring it back on the same port (see freePort).
    const c = await new Collector({ port: port ?? (await freePort()), onBatch }).start();
    this.tap(c);
    this.collectors.push(c);
    return c;
  }

  /**
   * Records each batch call and the fault it meets. The Collector keeps its faults to itself, so
   * this wraps its (private) batch handler on the instance: the fault the call will meet is the
   * first queued one, else the standing one, exactly as Collector.batch picks it.
   */
  private tap(c: Collector): void {
    type BatchHandler = (req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer, many: boolean) => void;
    const inner = c as unknown as { batch: BatchHandler; faults: Fault[]; standingFault: Fault | null };
    const original = inner.batch.bind(c);
    inner.batch = (req, res, raw, many) => {
      let ids: string[] = [];
      try {
        const parsed: unknown = JSON.parse(raw.toString("utf8"));
        ids = (Array.isArray(parsed) ? parsed : [parsed]).map((e) => String((e as { transaction_id?: unknown }).transaction_id));
      } catch {
        // a compressed or broken body: no ids
      }
      this.calls.push({ at: Date.now(), fault: inner.faults[0] ?? inner.standingFault ?? null, ids });
      original(req, res, raw, many);
    };
  }

  /** Events that arrived more than once. */
  duplicates(): string[] {
    return [...this.counts].filter(([, n]) => n > 1).map(([id]) => id);
  }

  /** Waits until every id in `ids` has arrived, or `timeoutMs` passed; true when they all did. */
  async waitFor(ids: Iterable<string>, timeoutMs: number): Promise<boolean> {
    const want = [...ids];
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (want.every((id) => this.arrivals.has(id))) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return want.every((id) => this.arrivals.has(id));
  }

  async close(): Promise<void> {
    for (const c of this.collectors) await c.close().catch(() => {});
  }
}
