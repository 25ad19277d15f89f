// The byte exchange of the test-only wasm entries (tests/codecs, tests/config; AssemblyScript):
// Node asks input(len) for a place, writes its bytes there, calls one of the entry's run_*
// exports, and reads what it set through result_ptr/result_len.
let inBuf = new Uint8Array(0);
let outBuf = new Uint8Array(0);

export function input(len: i32): usize {
  // The collector runs only when asked (assembly/runtime/gc.ts): collect between runs (only
  // globals hold objects here).
  __collect();
  inBuf = new Uint8Array(len);
  return inBuf.dataStart;
}

export function result_ptr(): usize {
  return outBuf.dataStart;
}

export function result_len(): i32 {
  return outBuf.length;
}

/** The bytes Node gave with input(). */
export function given(): Uint8Array {
  return inBuf;
}

/** What result_ptr/result_len hand back to Node. */
export function answer(b: Uint8Array): void {
  outBuf = b;
}
