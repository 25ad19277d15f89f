// npm run test:kong (and npm test's last step): the suite in a real Kong, tests/kong/real/*.test.ts.
// It runs in the Kong the user installed, named by KONG_BIN (`KONG_BIN=$(which kong) npm run
// test:kong`); without it, or with a Kong that has no Wasm host, it says so in one line and passes,
// as a clone on a machine without Kong must.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { kongUnavailable, REPO } from "./launcher.ts";

const kong = kongUnavailable();
if ("skip" in kong) {
  console.log(`Kong suite skipped: ${kong.skip}; KONG_BIN=$(which kong) npm run test:kong runs it`);
  process.exit(0);
}
for (const f of ["build/moesif.wasm", "build/moesif.meta.json", "build/noop.wasm", "build/probe.wasm"]) {
  if (!fs.existsSync(path.join(REPO, f))) {
    console.error(`Kong suite: ${f} is missing; run npm run build first`);
    process.exit(1);
  }
}
console.log(`Kong suite: Kong ${kong.version} (${kong.bin})`);
const dir = path.join(REPO, "tests/kong/real");
// Node 20's --test takes no glob: the files are named here (or on the command line).
const files = process.argv.slice(2).length ? process.argv.slice(2) : fs.readdirSync(dir).filter((f) => f.endsWith(".test.ts")).sort().map((f) => path.join(dir, f));
// One file at a time (each starts its own Kongs on a small machine); a file stuck past its cleanup
// fails after FILE_TIMEOUT_MS instead of holding CI, and the launcher stops its Kongs on exit.
const FILE_TIMEOUT_MS = 15 * 60_000;
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", `--test-timeout=${FILE_TIMEOUT_MS}`, "--test-force-exit", ...files], {
  stdio: "inherit",
  env: { ...process.env, KONG_SUITE_BIN: kong.bin, KONG_SUITE_VERSION: kong.version },
});
process.exit(r.status ?? 1);
