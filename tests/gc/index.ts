// The filter's collector (assembly/runtime/gc.ts, compiled in by scripts/wasm.mjs like every
// module of this project) under random churn: objects of every size class and some large ones,
// kept, dropped, replaced, linked into small trees and grown, with each kept object's bytes
// checked after collections. Driven by tests/gc/gc.test.ts. Test-only; not shipped.
import "../../assembly/runtime/abort";

class Node {
  kids: Array<Node> = [];
  constructor(public id: u32, public data: Uint8Array) {}
}

const SLOTS = 64;
const MAX_KIDS = 8;
let slots = new StaticArray<Node | null>(SLOTS);
let state: u32 = 1;
let nextId: u32 = 1;

function rand(): u32 {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

@inline function patternAt(id: u32, i: i32): u8 {
  return <u8>(id * 31 + <u32>i * 7 + (<u32>i >> 8));
}

function make(): Node {
  const r = rand();
  // Mostly small (the free lists), some up to 8 KB (TLSF), a few far larger.
  let size = <i32>(r % 200);
  if ((r >> 24) % 16 == 0) size = <i32>(rand() % 8192);
  if ((r >> 24) == 255) size = 16384 + <i32>(rand() % 200000);
  const id = nextId++;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = patternAt(id, i);
  return new Node(id, data);
}

function intact(n: Node, depth: i32): bool {
  const d = n.data;
  for (let i = 0; i < d.length; i++) if (d[i] != patternAt(n.id, i)) return false;
  if (depth > 0) for (let k = 0; k < n.kids.length; k++) if (!intact(n.kids[k], depth - 1)) return false;
  return true;
}

export function seed(v: u32): void {
  state = v | 1;
  slots = new StaticArray<Node | null>(SLOTS);
}

/** n steps of allocation: garbage, kept in a slot (dropping what was there), linked under a kept node. */
export function churn(n: i32): void {
  for (let k = 0; k < n; k++) {
    const node = make();
    const op = rand() % 8;
    const slot = <i32>(rand() % SLOTS);
    if (op < 3) continue;
    if (op < 6) {
      slots[slot] = node;
      continue;
    }
    const parent = slots[slot];
    if (parent === null) continue;
    // Grows the parent's array (__renew) until it is full, then replaces a kid.
    if (parent.kids.length < MAX_KIDS) parent.kids.push(node);
    else parent.kids[<i32>(rand() % MAX_KIDS)] = node;
  }
}

/** Kept nodes whose bytes are not what they were written with (0 when the collector is right). */
export function check(): i32 {
  let bad = 0;
  for (let i = 0; i < SLOTS; i++) {
    const n = slots[i];
    if (n !== null && !intact(n, 1)) bad++;
  }
  return bad;
}

export function collect(): void {
  __collect();
}

export function due(): bool {
  return __collect_due(false);
}

/** Due on the request path: only by bytes. */
export function due_by_memory(): bool {
  return __collect_due(true);
}

export function pages(): i32 {
  return memory.size();
}

/** A node reachable from nowhere but its pin. */
export function pinned(): usize {
  return __pin(changetype<usize>(make()));
}

export function pinned_intact(ptr: usize): bool {
  return intact(changetype<Node>(ptr), 0);
}

export function unpin(ptr: usize): void {
  __unpin(ptr);
}

/** n buffers of `size` bytes, dropped at once: garbage of few objects and many bytes, as bodies are. */
export function garbage(n: i32, size: i32): void {
  for (let i = 0; i < n; i++) new Uint8Array(size);
}
