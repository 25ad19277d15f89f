// The launcher's use of Kong's CLI, without Kong: tests/kong/fixtures/fake-kong answers `version`,
// `start -c -p`, `health -p` and `stop -p` the way Kong's commands do (and records each call), so
// that what the launcher writes and runs is checked on every `npm test`. Whether a real Kong
// accepts it is the Kong suite's to show (npm run test:kong with KONG_BIN).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startKong, kongVersion, kongUnavailable, BUILT } from "./launcher.ts";
import { kongConf } from "../packaging/kongfiles.ts";

const FAKE = fileURLToPath(new URL("./fixtures/fake-kong", import.meta.url));

test("start, health, the Admin API, stop: the calls Kong's CLI takes, the files Kong reads", async () => {
  const calls = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "fake-kong-")), "calls");
  const saved = { ...process.env };
  Object.assign(process.env, { FAKE_KONG_CALLS: calls, FAKE_KONG_NODE: process.execPath, FAKE_KONG_VERSION: "3.6.1", KONG_DATABASE: "postgres" });
  try {
    assert.equal(kongVersion(FAKE), "3.6.1");
    const kong = await startKong({
      bin: FAKE, filters: [BUILT.moesif("moesif_wasm"), BUILT.noop()], workers: 1,
      config: { services: [{ name: "s", url: "http://127.0.0.1:9", routes: [{ name: "r", paths: ["/"], filters: [{ name: "moesif_wasm", config: { application_id: "x" } }] }] }] },
    });
    let dir = "";
    try {
      dir = kong.dir;
      assert.equal(kong.version, "3.6.1");
      const conf = kongConf(path.join(kong.dir, "kong.conf"));
      assert.equal(conf.proxy_listen, `127.0.0.1:${kong.proxyPort}`);
      assert.equal(conf.admin_listen, kong.adminUrl.replace("http://", ""));
      assert.deepEqual(fs.readdirSync(conf.wasm_filters_path).sort(), ["moesif_wasm.meta.json", "moesif_wasm.wasm", "noop.wasm"]);
      assert.deepEqual(fs.readFileSync(path.join(conf.wasm_filters_path, "moesif_wasm.wasm")), fs.readFileSync("build/moesif.wasm"));
      const doc = JSON.parse(fs.readFileSync(conf.declarative_config, "utf8"));
      assert.deepEqual(doc.filter_chains[0].filters, [{ name: "moesif_wasm", enabled: true, config: { application_id: "x" } }]);
      assert.equal((await fetch(kong.proxyUrl)).status, 200);
      assert.equal((await kong.admin("GET", "/status")).status, 200);
      assert.match(kong.log(), /fake nginx started/);
      assert.deepEqual(kong.badLines(), []);
      assert.equal(kong.workerPids().length, 1, "one worker, told from its master by its process title");
    } finally {
      await kong.stop();
    }
    const lines = fs.readFileSync(calls, "utf8").trim().split("\n");
    const prefix = path.join(dir, "prefix");
    assert.equal(lines[0], "version");
    assert.equal(lines[1], `version`);
    assert.equal(lines[2], `start -c ${path.join(dir, "kong.conf")} -p ${prefix}`);
    assert.ok(lines.slice(3, -1).every((l) => l === `health -p ${prefix}`), lines.join("\n"));
    assert.equal(lines.at(-1), `stop -p ${prefix}`);
    assert.ok(!fs.existsSync(dir), "the run's folder is gone");
    await assert.rejects(fetch(kong.proxyUrl), "nothing listens after stop");
  } finally {
    process.env = saved;
  }
});

test("a Kong that will not start: the reason, error.log's tail, and nothing left running", async () => {
  const saved = { ...process.env };
  Object.assign(process.env, { FAKE_KONG_NODE: process.execPath, FAKE_KONG_FAIL_START: "wasm_filters_path is not a valid directory" });
  try {
    let dir = "";
    await assert.rejects(startKong({ bin: FAKE, version: "3.9.3", filters: [], config: { services: [] } }), (e: Error) => {
      dir = /did not start in (\S+):/.exec(e.message)?.[1] ?? "";
      assert.match(e.message, /kong start exited 1: Error: nginx: \[emerg\] wasm_filters_path is not a valid directory/);
      assert.match(e.message, /error\.log:\n.*\[emerg\] 1#0: wasm_filters_path/);
      return true;
    });
    assert.ok(dir && !fs.existsSync(dir), "its folder is gone");
  } finally {
    process.env = saved;
  }
});

test("without KONG_BIN, or with one that cannot run, the suite says why", () => {
  const saved = process.env.KONG_BIN;
  try {
    delete process.env.KONG_BIN;
    assert.deepEqual(kongUnavailable(), { skip: "no KONG_BIN (the `kong` executable of a Kong 3.4–3.9 you installed)" });
    process.env.KONG_BIN = "/nonexistent/kong";
    assert.match((kongUnavailable() as { skip: string }).skip, /could not be run/);
  } finally {
    if (saved === undefined) delete process.env.KONG_BIN;
    else process.env.KONG_BIN = saved;
  }
});
