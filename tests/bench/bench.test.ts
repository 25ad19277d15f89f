// `npm run bench` must keep working: a quick run (small samples, nothing written) end to end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
// @ts-expect-error: the build script is plain JavaScript without declarations
import { buildHost, sourcesDir } from "../../scripts/nwm/build.mjs";

test("npm run bench (quick): every section and the targets table", async () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  // Section 10 runs in Kong's real host when its sources are here: built first (or taken from the
  // cache), so that the bench's timeout holds no build.
  const realHost = sourcesDir() !== null;
  if (realHost) await buildHost({ kong: "3.9", runtime: "jit", log: () => {} });
  const r = spawnSync(process.execPath, ["--import", "tsx", "bench/bench.ts"], { cwd: root, env: { ...process.env, BENCH_QUICK: "1" }, encoding: "utf8", timeout: 300000 });
  assert.equal(r.status, 0, r.stderr);
  const headings = ["## 1. Filter cost per request", "## 1b. Before and after", "## 2. End to end", "## 3. Memory", "## 4. Size", "Where the bytes are", "## 5. Compression", "## 6. Hostile bodies", "## 7. Governance", "## 8. Where the time goes", "## 9. Delivery throughput", "## Targets"];
  if (realHost) headings.push("## 10. Gateway in Kong's real host (nginx + ngx_wasm_module)");
  for (const heading of headings) {
    assert.ok(r.stdout.includes(heading), `missing ${heading}`);
  }
  assert.match(r.stdout, /\| Moesif filter \| \d+ \|/);
  assert.match(r.stdout, /\| moesif\.wasm no larger than when issue 23 was filed \(§4\) \| ≤ 110,770 bytes \| [\d,]+ bytes \|/);
  assert.match(r.stdout, /Errors: no filter 0, no-op filter 0, Moesif filter 0\./);
  if (realHost) {
    assert.match(r.stdout, /\| WAMR fast JIT \| Moesif filter \| \d+ \|/);
    assert.match(r.stdout, /WAMR fast JIT \d+ events for \d+ answered \(\d+ sent\), drops 0, duplicates 0/);
    assert.match(r.stdout, /\| WAMR fast JIT \| Moesif filter, issue 22 build \| \d+ \|/);
    assert.match(r.stdout, /Errors: no filter 0, no-op filter 0, Moesif filter, issue 22 build 0, Moesif filter 0 \(jit\)\./);
    assert.match(r.stdout, /\| mean latency vs the no-op filter in Kong's real host .*\| ≤ 1\.35× \| \d+\.\d+×; the issue 22 build in the same rounds: \d+\.\d+× \|/);
  } else {
    assert.match(r.stdout, /## 10\. Gateway in Kong's real host \(nginx \+ ngx_wasm_module\)\n\nSkipped: no pinned NWM\/nginx\/WAMR sources/);
  }
});
