// `npm start` as a new user runs it: the printed curl makes an event appear in the output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

test("npm start: the printed curl becomes a printed event", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts", "--port", "0", "--quiet"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const waitFor = async (re: RegExp, ms: number) => {
    const end = Date.now() + ms;
    while (!re.test(out)) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${re} in output:\n${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return re.exec(out)!;
  };
  try {
    const [, curlUrl] = await waitFor(/curl -i (http:\/\/127\.0\.0\.1:\d+\/items\?limit=2)/, 30000);
    await waitFor(/collector\s+http:\/\/127\.0\.0\.1:\d+/, 1000);
    const res = await fetch(curlUrl);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), [{ id: 1, name: "item 1" }, { id: 2, name: "item 2" }]);
    const [line] = await waitFor(/event 1 {2}GET http:\/\/127\.0\.0\.1:\d+\/items\?limit=2 → 200/, 5000);
    assert.ok(line);
    assert.doesNotMatch(out, /\[(error|crit|emerg)\]/);
  } finally {
    child.kill("SIGTERM");
  }
});
