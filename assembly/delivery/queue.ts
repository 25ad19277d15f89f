// The per-root event queue: a FIFO of finished events (JSON bytes). Its bounds (events, and bytes
// together with what the sender holds) are enforced by the root when it admits an event.
import { uninitialised } from "../codec/bytes";

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

  /** Puts events back at the front, in order (a batch that could not be sent). */
  putBack(events: Array<Uint8Array>): void {
    if (events.length == 0) return;
    const rest = this.items.slice(this.head);
    const next = events.slice(0);
    for (let i = 0; i < rest.length; i++) next.push(rest[i]);
    for (let i = 0; i < events.length; i++) this.bytes += events[i].length;
    this.items = next;
    this.head = 0;
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

/** The batch body: a JSON array of the events, joined without copying them twice. */
export function joinBatch(events: Array<Uint8Array>): Uint8Array {
  let size = 2 + max(events.length - 1, 0);
  for (let i = 0; i < events.length; i++) size += events[i].length;
  // Every byte is written below: no zero fill first.
  const out = uninitialised(size);
  let p = out.dataStart;
  store<u8>(p++, 0x5b);
  for (let i = 0; i < events.length; i++) {
    if (i > 0) store<u8>(p++, 0x2c);
    const e = events[i];
    memory.copy(p, e.dataStart, e.length);
    p += e.length;
  }
  store<u8>(p, 0x5d);
  return out;
}
