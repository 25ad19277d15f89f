// What passes between delivery's core and its host-facing adapter: the commands the core hands out
// (core.ts, poll), the answers the adapter reads for it, and where fetched data goes.

export const CMD_LOG: i32 = 1;
export const CMD_DISPATCH: i32 = 2;
export const CMD_METRICS: i32 = 3;
export const LOG_INFO: i32 = 2;
export const LOG_WARN: i32 = 3;
export const LOG_ERROR: i32 = 4;

/** What the core asks of its host, one at a time (reused: valid until the next poll). */
export class Command {
  kind: i32 = 0;
  level: i32 = 0;
  text: string = "";
  /** For CMD_DISPATCH: KIND_BATCH, KIND_CONFIG or KIND_RULES, the body and the timeout argument. */
  call: i32 = 0;
  body: Uint8Array = new Uint8Array(0);
  timeoutMs: i32 = 0;
}

/** An answer as the adapter read it (only `status` where the host profile forbids reading more). */
export class Outcome {
  /** 0: no answer (a failure the host reported). */
  status: i32 = 0;
  /** The host said the call timed out (Kong 3.9's :dispatch_status). */
  timedOut: bool = false;
  /** Why there was no answer, as the host said it ("" when it did not). */
  failure: string = "";
  retryAfterMs: i64 = 0;
  configTag: string = "";
  rulesTag: string = "";
  body: Uint8Array | null = null;
}

/** Where a fetched config and rules go; each says whether the body was usable. */
export abstract class AppData {
  abstract config(body: Uint8Array): bool;
  abstract rules(body: Uint8Array): bool;
}
