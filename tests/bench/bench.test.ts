// `npm run bench` must keep working: a quick run (small samples, nothing written) end to end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { kongUnavailable } from "../kong/launcher.ts";
import { extraPlugins } from "../kong/kong-conf.ts";

test("npm run bench (quick): every section and the targets table", () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  // Section 10 runs in the Kong KONG_BIN names, when there is one; else it says it was not run and
  // keeps the last measured figures with their date.
  const kong = kongUnavailable();
  const inKong = !("skip" in kong);
  const r = spawnSync(process.execPath, ["--import", "tsx", "bench/bench.ts"], { cwd: root, env: { ...process.env, BENCH_QUICK: "1" }, encoding: "utf8", timeout: 300000 });
  assert.equal(r.status, 0, r.stderr);
  const headings = ["## 1. Filter cost per request", "## 1b. Before and after", "## 2. End to end", "## 3. Memory", "## 4. Size", "Where the bytes are", "## 5. Compression", "## 6. Hostile bodies", "## 7. Governance", "## 8. Where the time goes", "## 9. Delivery throughput",
    "## 10. Gateway in Kong (KONG_BIN)", "### Last measured in this repository, 2026-12-03", "## 11. Where the filter's added cost goes in Kong's Wasm host (measured 2026-12-03)", "## Targets"];
  for (const heading of headings) assert.ok(r.stdout.includes(heading), `missing ${heading}`);
  assert.match(r.stdout, /\| Moesif filter \| \d+ \|/);
  assert.match(r.stdout, /\| moesif\.wasm within its size budget \(issue 23's 110,770 bytes plus issues 29 and 30, bench\/size\.ts; §4\) \| ≤ 113,500 bytes \| [\d,]+ bytes \|/);
  assert.match(r.stdout, /Errors: no filter 0, no-op filter 0, Moesif filter 0\./);
  // The history says how it was measured: a build that is no longer in the repository.
  assert.match(r.stdout, /in a nginx \+ ngx_wasm_module \(NWM\) \+ WAMR build of Kong 3\.9\.1's Wasm host that is no longer in this repository/);
  assert.match(r.stdout, /\| WAMR fast JIT \| Moesif filter \| 7168 \|/, "the last measured table, as measured");
  if (inKong) {
    const setups = ["Kong alone", "no-op filter", "this filter", ...(extraPlugins(process.env.KONG_PLUGINS).includes("moesif") ? ["Lua plugin"] : [])];
    for (const load of ["GET", "JSON POST 1 KB → 2 KB"]) for (const s of setups) assert.match(r.stdout, new RegExp(`\\| ${load} \\| ${s} \\| \\d+ \\|`), `${load} ${s}`);
    assert.match(r.stdout, /\| GET \| this filter \| \d+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 122\.8 \|/, "beside issue 28's figure");
    assert.match(r.stdout, /Delivery: (\d+) events for \1 requests answered by this filter's gateway, duplicates 0\./);
    assert.match(r.stdout, /\| mean latency vs the no-op filter in Kong \(Kong [\d.]+, GET; §10\) \| ≤ 1\.35× \| \d+\.\d+× \|/);
  } else {
    assert.match(r.stdout, /## 10\. Gateway in Kong \(KONG_BIN\)\n\nNot run this time: /);
    assert.match(r.stdout, /\| GET \| 56\.6 \| 86\.5 \| 122\.8 \| 145\.6 \|/, "issue 28's figures");
    assert.match(r.stdout, /\| JSON POST 1 KB → 2 KB \| 62\.8 \| 96\.1 \| 157\.7 \| 257\.5 \|/);
    assert.match(r.stdout, /measured outside this repository's CI/);
    assert.match(r.stdout, /\| mean latency vs the no-op filter in Kong \(§10\) \| ≤ 1\.35× \| not measured this run \(.*\); last measured 2026-12-03 in .*: 1\.49× \|/);
  }
});
