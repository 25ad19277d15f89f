// The filter's garbage collector. scripts/wasm.mjs compiles it in place of AssemblyScript's
// "minimal" collector (~lib/rt/tcms), over the same allocator (~lib/rt/tlsf) and with the same
// object header, so the compiler and the standard library see no difference. What differs is what
// the profile showed (BENCHMARKS.md §8): a request makes some fifty small objects, and freeing each
// into TLSF (merging it with its neighbours) for the next request to split the same memory out of
// it again took more time than marking. Here a dead small block goes onto a free list of its exact
// size instead, LIFO, so the next request reuses what was touched last; TLSF sees large blocks and
// what the lists may not hold.
//
// A two-colour mark and sweep that runs only when asked. exports.ts asks as a callback returns to
// the host, the one point where no object is held by a wasm local alone (nothing scans the wasm
// stack), if __collect_due() says so: once GROWTH times as many objects were made since the last
// collection as survived it (at least MIN_OBJECTS), so marking costs in proportion to the garbage it
// frees however large the configuration and the queue are; or once MAX_GARBAGE bytes were, since
// bodies are few objects and most of the bytes. The request path's callbacks ask for the second only.
import { BLOCK, BLOCK_OVERHEAD, OBJECT_OVERHEAD, OBJECT_MAXSIZE, TOTAL_OVERHEAD, AL_MASK } from "~lib/rt/common";
import { E_ALLOCATION_TOO_LARGE, E_ALREADY_PINNED, E_NOT_PINNED } from "~lib/util/error";

// An object's header, as ~lib/rt/common's OBJECT lays it out (rtId and rtSize are read by the
// standard library): the list link with the colour in its two low bits, the previous object, then
// the runtime id and size.
@unmanaged class Obj extends BLOCK {
  nextWithColor: usize;
  prev: Obj;
  rtId: u32;
  rtSize: u32;

  @inline get next(): Obj {
    return changetype<Obj>(this.nextWithColor & ~COLOR_MASK);
  }

  @inline set next(o: Obj) {
    this.nextWithColor = changetype<usize>(o) | (this.nextWithColor & COLOR_MASK);
  }

  @inline get color(): i32 {
    return <i32>(this.nextWithColor & COLOR_MASK);
  }

  /** The block's size in memory: TLSF keeps its payload size in mmInfo, tags in the low bits. */
  @inline get size(): usize {
    return BLOCK_OVERHEAD + (this.mmInfo & ~3);
  }

  unlink(): void {
    const next = this.next;
    // An object in static data is on no list until it is first marked.
    if (next == null) return;
    const prev = this.prev;
    next.prev = prev;
    prev.next = next;
  }

  linkTo(list: Obj, color: i32): void {
    const last = list.prev;
    this.nextWithColor = changetype<usize>(list) | color;
    this.prev = last;
    last.next = this;
    list.prev = this;
  }
}

// @ts-ignore: decorator
@inline const COLOR_MASK: usize = 3;
// @ts-ignore: decorator
@inline const PINNED: i32 = 3;

// The colour of unmarked objects; marked ones have the other. Flipped by each collection, so
// the survivors need no repainting.
// @ts-ignore: decorator
@lazy let white: i32 = 0;

/** A list's head: static memory of its own (each caller passes one, memory.data is per call site). */
function emptyList(at: usize): Obj {
  const head = changetype<Obj>(at);
  head.nextWithColor = at;
  head.prev = head;
  return head;
}

// Objects not yet marked (after a collection: everything allocated since), marked ones, pinned ones.
// @ts-ignore: decorator
@lazy let fromSpace: Obj = emptyList(memory.data(offsetof<Obj>()));
// @ts-ignore: decorator
@lazy let toSpace: Obj = emptyList(memory.data(offsetof<Obj>()));
// @ts-ignore: decorator
@lazy let pinSpace: Obj = emptyList(memory.data(offsetof<Obj>()));

// Objects that survived the last collection, and objects and bytes allocated since.
// @ts-ignore: decorator
@lazy let survivors: u32 = 0;
// @ts-ignore: decorator
@lazy let newObjects: u32 = 0;
// @ts-ignore: decorator
@lazy let newBytes: usize = 0;

/** Objects a collection waits for, at the least: a few requests' worth, so a small heap is not marked after every call. */
// @ts-ignore: decorator
@inline const MIN_OBJECTS: u32 = 1024;
/**
 * New objects per survivor a collection waits for. A busy worker's survivors are mostly the queue's
 * events (two objects each), marked again at every collection: at 4 they cost a quarter of a mark per
 * object made, not one (Kong's real host, BENCHMARKS §11), for at most four queues' worth of small
 * dead objects held a little longer, within MAX_GARBAGE.
 */
// @ts-ignore: decorator
@inline const GROWTH: u32 = 4;
/** Bytes after which a collection is due whatever the count: bodies are few objects but most of the memory. */
// @ts-ignore: decorator
@inline const MAX_GARBAGE: usize = 2 * 1024 * 1024;

// Free lists of dead blocks by exact size: list k holds blocks whose TLSF payload is 16k - 4 bytes
// (every TLSF block size is of that form), up to MAX_LISTED. Each list is threaded through the first
// word of its blocks' payloads. TLSF still counts the blocks as in use, so it never touches them.
// @ts-ignore: decorator
@inline const MAX_LISTED: usize = 2048 - BLOCK_OVERHEAD;
// @ts-ignore: decorator
@inline const LISTS: usize = (MAX_LISTED + BLOCK_OVERHEAD) >> 4;
// @ts-ignore: decorator
@lazy const HEADS: usize = memory.data(<i32>((LISTS + 1) * sizeof<usize>()));
/** Bytes the lists may hold: memory kept from TLSF, so bounded (and small next to the heap's bounds). */
// @ts-ignore: decorator
@inline const LISTED_CAP: usize = 512 * 1024;
// @ts-ignore: decorator
@lazy let listed: usize = 0;

/** TLSF's payload size for a request of `size` bytes (tlsf.ts computeSize, for sizes of 16 and up). */
// @ts-ignore: decorator
@inline function blockSize(size: usize): usize {
  return ((size + BLOCK_OVERHEAD + AL_MASK) & ~AL_MASK) - BLOCK_OVERHEAD;
}

// @ts-ignore: decorator
@inline function headOf(payload: usize): usize {
  return HEADS + ((payload + BLOCK_OVERHEAD) >> 4) * sizeof<usize>();
}

// @ts-ignore: decorator
@global @unsafe
export function __new(size: usize, id: i32): usize {
  if (size > OBJECT_MAXSIZE) throw new Error(E_ALLOCATION_TOO_LARGE);
  // OBJECT_OVERHEAD is 16, so the request is at least TLSF's minimum block.
  const payload = blockSize(OBJECT_OVERHEAD + size);
  let obj: Obj;
  if (payload <= MAX_LISTED && load<usize>(headOf(payload)) != 0) {
    const head = headOf(payload);
    const block = load<usize>(head);
    store<usize>(head, load<usize>(block + BLOCK_OVERHEAD));
    listed -= payload;
    obj = changetype<Obj>(block);
  } else {
    obj = changetype<Obj>(__alloc(OBJECT_OVERHEAD + size) - BLOCK_OVERHEAD);
  }
  obj.rtId = id;
  obj.rtSize = <u32>size;
  obj.linkTo(fromSpace, white);
  newBytes += obj.size;
  newObjects++;
  return changetype<usize>(obj) + TOTAL_OVERHEAD;
}

// @ts-ignore: decorator
@global @unsafe
export function __renew(oldPtr: usize, size: usize): usize {
  const old = changetype<Obj>(oldPtr - TOTAL_OVERHEAD);
  // Static data cannot be resized where it is: a copy on the heap takes its place.
  if (oldPtr < __heap_base) {
    const ptr = __new(size, old.rtId);
    memory.copy(ptr, oldPtr, min(size, old.rtSize));
    return ptr;
  }
  if (size > OBJECT_MAXSIZE) throw new Error(E_ALLOCATION_TOO_LARGE);
  const before = old.size;
  const ptr = __realloc(oldPtr - OBJECT_OVERHEAD, OBJECT_OVERHEAD + size) + OBJECT_OVERHEAD;
  const obj = changetype<Obj>(ptr - TOTAL_OVERHEAD);
  obj.rtSize = <u32>size;
  // The block may have moved: its neighbours on the list must point at it where it is now.
  obj.next.prev = obj;
  obj.prev.next = obj;
  const after = obj.size;
  if (after > before) newBytes += after - before;
  return ptr;
}

// No write barrier: nothing runs between an object's stores and a collection.
// @ts-ignore: decorator
@global @unsafe
export function __link(parentPtr: usize, childPtr: usize, expectMultiple: bool): void {}

// @ts-ignore: decorator
@global @unsafe
export function __visit(ptr: usize, cookie: i32): void {
  if (ptr == 0) return;
  const obj = changetype<Obj>(ptr - TOTAL_OVERHEAD);
  if (obj.color == white) {
    obj.unlink();
    obj.linkTo(toSpace, white ^ 1);
  }
}

// @ts-ignore: decorator
@global @unsafe
export function __pin(ptr: usize): usize {
  if (ptr != 0) {
    const obj = changetype<Obj>(ptr - TOTAL_OVERHEAD);
    if (obj.color == PINNED) throw new Error(E_ALREADY_PINNED);
    obj.unlink();
    obj.linkTo(pinSpace, PINNED);
  }
  return ptr;
}

// @ts-ignore: decorator
@global @unsafe
export function __unpin(ptr: usize): void {
  if (ptr == 0) return;
  const obj = changetype<Obj>(ptr - TOTAL_OVERHEAD);
  if (obj.color != PINNED) throw new Error(E_NOT_PINNED);
  obj.unlink();
  obj.linkTo(fromSpace, white);
}

/**
 * Whether enough was allocated since the last collection for the next to be worth its marking. On
 * the request path only memory makes it due: there a collection would be latency, so the count
 * waits for the log phase.
 */
// @ts-ignore: decorator
@global @unsafe
export function __collect_due(onRequestPath: bool): bool {
  return newBytes >= MAX_GARBAGE || (!onRequestPath && newObjects >= max(survivors * GROWTH, MIN_OBJECTS));
}

// @ts-ignore: decorator
@global @unsafe
export function __collect(): void {
  // Mark: the globals, what pinned objects hold, then everything reachable from those (toSpace
  // grows at its end while it is walked).
  __visit_globals(0);
  let iter = pinSpace.next;
  while (iter != pinSpace) {
    __visit_members(changetype<usize>(iter) + TOTAL_OVERHEAD, 0);
    iter = iter.next;
  }
  let marked: u32 = 0;
  iter = toSpace.next;
  while (iter != toSpace) {
    __visit_members(changetype<usize>(iter) + TOTAL_OVERHEAD, 0);
    iter = iter.next;
    marked++;
  }
  // Sweep: what is left unmarked is garbage.
  const from = fromSpace;
  iter = from.next;
  while (iter != from) {
    const next = iter.next;
    const block = changetype<usize>(iter);
    if (block < __heap_base) {
      // Static data: off every list until it is marked again.
      iter.nextWithColor = 0;
      iter.prev = changetype<Obj>(0);
    } else {
      const payload = iter.mmInfo & ~3;
      if (payload <= MAX_LISTED && listed + payload <= LISTED_CAP) {
        const head = headOf(payload);
        store<usize>(block + BLOCK_OVERHEAD, load<usize>(head));
        store<usize>(head, block);
        listed += payload;
      } else {
        __free(block + BLOCK_OVERHEAD);
      }
    }
    iter = next;
  }
  from.nextWithColor = changetype<usize>(from);
  from.prev = from;
  // The marked are the unmarked of the next collection.
  fromSpace = toSpace;
  toSpace = from;
  white ^= 1;
  survivors = marked;
  newObjects = 0;
  newBytes = 0;
}
