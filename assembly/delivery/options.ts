// What delivery needs of the configuration, made once per configuration by the root, and the
// limits that do not change with it.
import { Endpoint } from "./endpoint";

/**
 * The tick's period. Before Kong 3.8 it can be set only once, so it is short: a full batch waits
 * for a free place, then at most one tick (or, where the host allows it, the next answer), and a
 * quiet worker's tick costs a callback that finds nothing to send. batch_max_wait paces partial
 * batches, not ticks.
 */
export const TICK_MS: i32 = 20;
/**
 * A batch is sent once its events reach half of this (1 MB), and holds at most this: events are
 * taken whole, so the one that crosses 1 MB goes with it. Well under the collector's 50 MB limit.
 */
export const MAX_BATCH_BYTES = 2 * 1024 * 1024;

export class SenderOptions {
  applicationId: string = "";
  endpoint: Endpoint = new Endpoint();
  /** An explicit dispatch target (an Envoy cluster name, a host:port), else the endpoint's host:port. */
  upstream: string = "";
  userAgent: string = "";
  batchSize: i32 = 50;
  /** A partial batch leaves once this long has passed since the last partial batch left. */
  batchMaxWait: i32 = 1000;
  maxCallbackTimeSpent: i32 = 750;
  /** The timeout given to each batch dispatch (Kong applies it to each step of the call). */
  timeoutMs: i32 = 5000;
  maxRetries: i32 = 6;
  maxRetryAge: i32 = 600000;
  /** All the bytes held for delivery (queue, retries, calls in flight) stay under this. */
  eventQueueBytes: i32 = 4 * 1024 * 1024;
  /** Fetch the governance rules (GET /v1/rules). */
  fetchRules: bool = false;
  enableCompression: bool = false;
  debug: bool = false;

  /** The dispatch target: the explicit upstream, else the endpoint's host:port. */
  get target(): string {
    return this.upstream.length > 0 ? this.upstream : this.endpoint.upstream;
  }
}
