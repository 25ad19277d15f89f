// What one API call's event is made of: what the HTTP context gathers as the call passes (bodies,
// identity, Kong's route and service) and hands to the event writer. The capture side fills these;
// the event side reads them.
import { ByteWriter, EMPTY_BYTES } from "../codec/bytes";
import { HeaderMap } from "../runtime/headers";

export const enum BodyState {
  /** No body (or none seen yet). */
  None,
  Captured,
  /** Over the size limit: left out. */
  TooLarge,
  /** Kong spilled the request body to a file the filter cannot read. */
  Unreadable,
  /** Left out so that the event stays under the collector's per-event limit. */
  EventTooLarge,
}

export class BodyCapture {
  state: BodyState = BodyState.None;
  data: ByteWriter | null = null;
  /** Bytes seen so far, or the whole body's size when `sizeKnown`. */
  size: i64 = 0;
  /** Whether `size` is the whole body's (from Content-Length or a whole request body), for the note. */
  sizeKnown: bool = false;

  constructor(public limit: i32) {}

  /** Whether reading another `size` bytes is worth it (false once over the limit). */
  accepts(size: i64): bool {
    if (this.state == BodyState.TooLarge || this.state == BodyState.Unreadable) return false;
    if (this.size + size > <i64>this.limit) {
      // Counting stops here: the rest of a streamed body is not even looked at.
      this.tooLarge(this.size + size, false);
      return false;
    }
    return true;
  }

  add(chunk: Uint8Array): void {
    this.append(chunk, false);
  }

  /**
   * Like add, for a chunk nothing else holds (a block the host just handed over): the first one is
   * kept as the body's buffer instead of being copied into a new one, as most bodies are one chunk.
   */
  take(chunk: Uint8Array): void {
    this.append(chunk, true);
  }

  private append(chunk: Uint8Array, owned: bool): void {
    if (chunk.length == 0) return;
    const d = this.data;
    if (d !== null) d.bytes(chunk);
    else if (owned && chunk.length >= 16) this.data = ByteWriter.taking(chunk);
    else this.data = new ByteWriter(max(chunk.length, 256)).bytes(chunk);
    this.size += chunk.length;
    this.state = BodyState.Captured;
  }

  tooLarge(size: i64, known: bool): void {
    this.state = BodyState.TooLarge;
    this.size = size;
    this.sizeKnown = known;
    this.data = null;
  }

  /** Leaves the body out of the event (it would make the event too big); keeps nothing. */
  omit(): void {
    if (this.state != BodyState.Captured) return;
    this.state = BodyState.EventTooLarge;
    this.data = null;
  }

  unreadable(size: i64): void {
    this.state = BodyState.Unreadable;
    this.size = size;
    this.data = null;
  }
}

/** Who made the call. */
export class Identity {
  userId: Uint8Array | null = null;
  companyId: Uint8Array | null = null;
  sessionToken: Uint8Array | null = null;
}

/** What Kong says about the route and service (Kong 3.6+; service_name 3.9+). */
export class KongInfo {
  routeId: Uint8Array | null = null;
  routeName: Uint8Array | null = null;
  serviceId: Uint8Array | null = null;
  serviceName: Uint8Array | null = null;
}

/** What the HTTP context gathered for one API call; everything the event needs. */
export class Capture {
  requestMs: u64 = 0;
  responseMs: u64 = 0;
  method: Uint8Array = EMPTY_BYTES;
  scheme: Uint8Array = EMPTY_BYTES;
  host: Uint8Array = EMPTY_BYTES;
  path: Uint8Array = EMPTY_BYTES;
  requestHeaders: HeaderMap = HeaderMap.empty();
  responseHeaders: HeaderMap = HeaderMap.empty();
  status: i32 = 0;
  ipAddress: Uint8Array | null = null;
  requestBody: BodyCapture | null = null;
  responseBody: BodyCapture | null = null;
  identity: Identity = new Identity();
  transactionId: Uint8Array | null = null;
  /** The filter generated the id and set it on the request after reading the request headers. */
  transactionIdAdded: bool = false;
  kong: KongInfo = new KongInfo();
  /** Why some headers are missing (Kong hands a filter at most 100 map entries), or null. */
  requestHeadersNote: string | null = null;
  responseHeadersNote: string | null = null;
  /** The governance rule that blocked the call, or null. */
  blockedBy: string | null = null;
  /** 1 / sample rate: how many calls this event stands for. */
  weight: i32 = 1;
}
