// The filter's own collector (assembly/runtime/gc.ts) under random churn (tests/gc/index.ts, built
// to build/gc.wasm): what stays reachable keeps its bytes through every collection, memory follows
// what is kept rather than what was allocated, a pinned object survives without a reference, and
// a collection is asked for once enough was allocated. The churn is seeded; a failure names the seed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const SEED = Number(process.env.GC_SEED ?? 20261126);

function instance(): Record<string, any> {
  const mod = new WebAssembly.Module(readFileSync(new URL("../../build/gc.wasm", import.meta.url)));
  let ex: Record<string, any> = {};
  const inst = new WebAssembly.Instance(mod, {
    env: {
      proxy_log: (_l: number, p: number, n: number) => {
        throw new Error(Buffer.from((ex.memory as WebAssembly.Memory).buffer, p, n).toString());
      },
    },
  });
  ex = inst.exports as Record<string, any>;
  ex._initialize?.();
  return ex;
}

test("kept objects keep their bytes through collections, at every size", () => {
  for (let s = 0; s < 4; s++) {
    const gc = instance();
    gc.seed(SEED + s);
    for (let round = 0; round < 150; round++) {
      gc.churn(300);
      // Collections when the collector asks, and at odd moments besides.
      if (gc.due() || round % 7 === 3) gc.collect();
      assert.equal(gc.check(), 0, `seed ${SEED + s}, round ${round}: a kept object's bytes changed`);
    }
  }
});

test("memory follows what is kept, not what was allocated", () => {
  const gc = instance();
  gc.seed(SEED);
  const collectWhenDue = (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      gc.churn(200);
      if (gc.due()) gc.collect();
    }
  };
  // The heap settles (at 4 MiB for this seed) within about 500 rounds: live trees, up to 2 MiB of
  // garbage before a collection is due, the free lists.
  collectWhenDue(800);
  const settled = gc.pages();
  // Some 300,000 more objects (some 200 MB, nearly all of it garbage) while 64 trees are kept.
  collectWhenDue(1500);
  assert.equal(gc.check(), 0);
  assert.ok(gc.pages() <= settled + 16, `memory grew from ${settled} to ${gc.pages()} pages`);
});

test("a collection is due once enough was allocated, and not right after one", () => {
  const gc = instance();
  gc.seed(SEED);
  gc.collect();
  assert.equal(gc.due(), 0);
  let steps = 0;
  while (!gc.due() && steps < 100_000) {
    gc.churn(10);
    steps += 10;
  }
  assert.ok(gc.due(), "never due");
  assert.ok(steps >= 100, `due after ${steps} objects`);
  // On the request path a count alone does not make it due: that waits for the log phase.
  assert.equal(gc.due_by_memory(), 0);
  gc.collect();
  assert.equal(gc.due(), 0);
});

test("a few large buffers make a collection due too, on the request path as well: bytes count, not only objects", () => {
  const gc = instance();
  gc.collect();
  gc.garbage(20, 64 * 1024);
  assert.equal(gc.due(), 0, "due after 1.25 MiB");
  gc.garbage(20, 64 * 1024);
  assert.equal(gc.due(), 1, "not due after 2.5 MiB of garbage in 40 objects");
  assert.equal(gc.due_by_memory(), 1, "not due on the request path after 2.5 MiB");
});

test("a pinned object survives with no reference to it, until unpinned", () => {
  const gc = instance();
  gc.seed(SEED);
  const ptr = gc.pinned();
  for (let i = 0; i < 20; i++) {
    gc.churn(300);
    gc.collect();
  }
  assert.equal(gc.pinned_intact(ptr), 1);
  gc.unpin(ptr);
  gc.collect();
  gc.churn(300);
  assert.equal(gc.check(), 0);
});
