#!/usr/bin/env node
// npm test's last step: the real-host suite (tests/nwm/*.test.ts) in nginx + ngx_wasm_module at
// every Kong pin. Builds what the cache lacks first (scripts/nwm/build.mjs), so that no test's
// timeout includes a build. Without the pinned sources it says so in one line and passes: a user's
// clone has no ../shared/vendor.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { buildHost, sourcesDir, NwmError } from "../../scripts/nwm/build.mjs";

const versions = (process.env.NWM_KONG ?? "3.4,3.6,3.7,3.8,3.9").split(",").map((v) => v.trim()).filter(Boolean);
if (!sourcesDir()) {
  console.log("real-host suite skipped: no pinned NWM/nginx/WAMR sources (../shared/vendor or NWM_SOURCES); see scripts/nwm/README.md");
  process.exit(0);
}
const t0 = Date.now();
try {
  for (const kong of versions) await buildHost({ kong, runtime: "jit" });
} catch (e) {
  console.error(e instanceof NwmError ? e.message : e);
  process.exit(e?.exitCode ?? 1);
}
console.log(`real-host suite: nginx + ngx_wasm_module for Kong ${versions.join(", ")} ready in ${Math.round((Date.now() - t0) / 1000)} s`);
// Node 20's --test takes no glob: the files are named here.
const files = process.argv.slice(2).length ? process.argv.slice(2) : fs.readdirSync("tests/nwm").filter((f) => f.endsWith(".test.ts")).sort().map((f) => `tests/nwm/${f}`);
// A file that hangs (a test stuck past its cleanup) fails after FILE_TIMEOUT_MS instead of holding
// CI until its time limit, and --test-force-exit ends a file whose tests are done but whose servers
// or nginx were left open (nginx.ts kills those on exit).
const FILE_TIMEOUT_MS = 15 * 60_000;
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", `--test-timeout=${FILE_TIMEOUT_MS}`, "--test-force-exit", ...files], { stdio: "inherit", shell: false });
process.exit(r.status ?? 1);
