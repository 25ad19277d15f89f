// `npm run bench` must keep working: a quick run (small samples, nothing written) end to end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

test("npm run bench (quick): every section and the targets table", () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const r = spawnSync(process.execPath, ["--import", "tsx", "bench/bench.ts"], { cwd: root, env: { ...process.env, BENCH_QUICK: "1" }, encoding: "utf8", timeout: 240000 });
  assert.equal(r.status, 0, r.stderr);
  for (const heading of ["## 1. Filter cost per request", "## 1b. Before and after", "## 2. End to end", "## 3. Memory", "## 4. Size", "Where the bytes are", "## 5. Compression", "## 6. Hostile bodies", "## 7. Governance", "## 8. Where the time goes", "## 9. Delivery throughput", "## Targets"]) {
    assert.ok(r.stdout.includes(heading), `missing ${heading}`);
  }
  assert.match(r.stdout, /\| Moesif filter \| \d+ \|/);
  assert.match(r.stdout, /Errors: no filter 0, no-op filter 0, Moesif filter 0\./);
});
