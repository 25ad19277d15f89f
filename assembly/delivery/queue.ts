// The per-root event queue: a FIFO of finished events (JSON bytes). Its bounds (events, and bytes
// together with what the sender holds) are enforced by the root when it admits an event.

export class EventQueue {
  private items: Array<Uint8Array> = [];
  private head: i32 = 0;
  bytes: i64 = 0;

  constructor(public maxEvents: i32) {}

  get length(): i32 {
    return this.items.length - this.head;
  }

  push(event: Uint8Array): bool {
    if (this.length >= this.maxEvents) return false;
    this.items.push(event);
    this.bytes += event.length;
    return true;
  }

  /** Removes and returns up to `count` events from the front, at most `maxBytes` of them (but at least one). */
  take(count: i32, maxBytes: i64 = I64.MAX_VALUE): Array<Uint8Array> {
    const out = new Array<Uint8Array>();
    let size: i64 = 0;
    let n = 0;
    const avail = min(count, this.length);
    while (n < avail) {
      const e = this.items[this.head + n];
      if (n > 0 && size + e.length > maxBytes) break;
      out.push(e);
      size += e.length + 1;
      this.bytes -= e.length;
      n++;
    }
    this.head += n;
    this.compact();
    return out;
  }

  // Drops consumed slots once they are the larger part, so memory follows the live length.
  private compact(): void {
    if (this.head == 0) return;
    if (this.head == this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * Where batch bodies are written: one buffer, kept and reused, since the host copies a call's body
 * when it dispatches it (NWM: ngx_http_proxy_wasm_dispatch copies it into a buffer of its own; Envoy
 * likewise). A batch of up to 2 MB made anew each time would need that much contiguous memory at
 * every send, and with long-lived events around it the allocator would grow the heap to find it.
 */
const MAX_JOINED = 2 * 1024 * 1024 + 64 * 1024;

export class BatchWriter {
  private buf: Uint8Array = new Uint8Array(0);

  /** The events as one JSON array: a view of the buffer, valid until the next join. */
  join(events: Array<Uint8Array>): Uint8Array {
    let size = 2 + max(events.length - 1, 0);
    for (let i = 0; i < events.length; i++) size += events[i].length;
    // Small batches double it; past 64 KB it goes straight to the most a batch can need
    // (MAX_BATCH_BYTES, or one event of up to 1 MB): one large block, not a trail of ever larger ones.
    if (this.buf.length < size) this.buf = new Uint8Array(size <= 65536 ? max(size, this.buf.length << 1) : max(size, MAX_JOINED));
    let p = this.buf.dataStart;
    store<u8>(p++, 0x5b);
    for (let i = 0; i < events.length; i++) {
      if (i > 0) store<u8>(p++, 0x2c);
      const e = events[i];
      memory.copy(p, e.dataStart, e.length);
      p += e.length;
    }
    store<u8>(p, 0x5d);
    return this.buf.subarray(0, size);
  }
}
