// Scaling out and attaching everywhere, checked without a Kong or a cluster: the hybrid-mode files
// (both planes carry the filter where Kong looks for it), the container recipe, and the three ways
// to attach the filter to every service — the Admin API (against an emulation of Kong's), a
// declarative file (on real kong.yml files), and Kubernetes annotations (with a stand-in kubectl).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync, chmodSync, existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { spawnSync, execFile } from "node:child_process";
import { parse as parseYaml } from "yaml";
import { root, kongDir, yamlDocs, kongConf } from "./kongfiles.ts";
import { AdminApi } from "../support/admin-api.ts";
import { attachAdmin, attachDeclarative, summary } from "../../scripts/attach.ts";
import { KongWasmHost } from "../host/kong-host.ts";
import { moesifWasm } from "../support/harness.ts";

const CONFIG = { application_id: "attach-app", request_header_masks: ["authorization"] };

/** Runs the attach command without blocking this process (whose event loop serves the Admin API emulation). */
function attachCommand(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "scripts/attach.ts", ...args], { cwd: root, encoding: "utf8" }, (error, stdout, stderr) => {
      resolve({ status: error ? Number((error as NodeJS.ErrnoException & { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
const base = kongConf(join(kongDir, "kong.conf"));

describe("hybrid mode", () => {
  const cp = kongConf(join(kongDir, "hybrid/control-plane.conf"));
  const dp = kongConf(join(kongDir, "hybrid/data-plane.conf"));

  test("both planes turn wasm on and keep the filter where kong.conf does (Kong syncs only to data planes that have every filter)", () => {
    for (const conf of [cp, dp]) {
      assert.equal(conf.wasm, "on");
      assert.equal(conf.wasm_filters_path, base.wasm_filters_path);
    }
    assert.equal(cp.role, "control_plane");
    assert.equal(dp.role, "data_plane");
    assert.equal(dp.database, "off");
    assert.equal(cp.cluster_cert, dp.cluster_cert);
    assert.match(dp.cluster_control_plane, /^[\w.-]+:8005$/);
  });

  test("the data plane, which runs the filter, has kong.conf's body buffer and resolver settings", () => {
    assert.equal(dp.nginx_http_client_body_buffer_size, base.nginx_http_client_body_buffer_size);
    assert.equal(dp.nginx_wasm_proxy_wasm_lua_resolver, base.nginx_wasm_proxy_wasm_lua_resolver);
  });

  test("Helm: both releases mount the same filter at the same path; data planes reach the control plane's cluster service", () => {
    const cpValues = yamlDocs(join(kongDir, "k8s/values-cp.yaml"))[0];
    const dpValues = yamlDocs(join(kongDir, "k8s/values-dp.yaml"))[0];
    assert.equal(cpValues.env.role, "control_plane");
    assert.equal(dpValues.env.role, "data_plane");
    for (const key of ["wasm", "wasm_filters_path", "cluster_cert", "cluster_cert_key"]) assert.equal(dpValues.env[key], cpValues.env[key], key);
    assert.deepEqual(dpValues.deployment, cpValues.deployment, "the same ConfigMap, mounted the same way");
    assert.deepEqual(dpValues.secretVolumes, cpValues.secretVolumes);
    assert.equal(cpValues.proxy.enabled, false, "the control plane proxies nothing");
    // The chart names the cluster service <release>-kong-cluster; the release is in the install line.
    const release = /helm install (\S+) kong\/kong -n (\S+) -f values-cp\.yaml/.exec(readFileSync(join(kongDir, "k8s/values-cp.yaml"), "utf8"))!;
    assert.equal(dpValues.env.cluster_control_plane, `${release[1]}-kong-cluster.${release[2]}.svc.cluster.local:${cpValues.cluster.tls.servicePort}`);
  });
});

describe("the container recipe", () => {
  const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");

  test("FROM the official Kong 3.9 image, with the built filter where its settings say", () => {
    assert.match(dockerfile, /^ARG KONG_VERSION=3\.9$/m);
    assert.match(dockerfile, /^FROM kong:\$\{KONG_VERSION\}$/m);
    const copy = /^COPY (.+) (\S+)$/m.exec(dockerfile)!;
    const sources = copy[1].split(/\s+/);
    assert.deepEqual(sources, ["build/moesif.wasm", "build/moesif.meta.json"]);
    for (const s of sources) assert.ok(existsSync(join(root, s)), `${s} exists (after npm run build)`);
    assert.equal(copy[2].replace(/\/$/, ""), base.wasm_filters_path);
  });

  test("its settings are kong.conf's, as KONG_* variables", () => {
    const envBlock = dockerfile.slice(dockerfile.indexOf("\nENV "));
    const env = Object.fromEntries([...envBlock.matchAll(/KONG_([A-Z0-9_]+)=(\S+)/g)].map((m) => [m[1].toLowerCase(), m[2]]));
    assert.deepEqual(env, base);
  });

  test(".dockerignore lets in only the built filter", () => {
    const lines = readFileSync(join(root, ".dockerignore"), "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
    assert.deepEqual(lines, ["*", "!build/moesif.wasm", "!build/moesif.meta.json"]);
  });
});

describe("attach to every service: the Admin API", () => {
  let kong: AdminApi;
  before(async () => {
    kong = await new AdminApi().start();
    kong.service("orders");
    const inventory = kong.service("inventory");
    kong.chain("inventory-transform", { service: inventory }, ["datakit"]);
    const legacy = kong.service("legacy");
    kong.chain("moesif-legacy-api", { route: kong.route("legacy-api", legacy) }, ["moesif"]);
    const billing = kong.service("billing");
    kong.chain("billing-moesif", { service: billing }, ["moesif"]);
    kong.service("search");
  });
  after(() => kong.close());

  test("a dry run changes nothing and says what it would do", async () => {
    const reports = await attachAdmin(kong.url, CONFIG, { dryRun: true });
    assert.deepEqual(reports.map((r) => `${r.service} ${r.outcome}`), ["orders attached", "inventory added", "legacy skipped", "billing already", "search attached"]);
    assert.ok(kong.calls.every((c) => c.startsWith("GET ")));
  });

  test("attaches where missing, adds to an existing chain, leaves the rest; run again, it does nothing", async () => {
    const reports = await attachAdmin(kong.url, CONFIG);
    assert.equal(summary(reports).split("\n").at(-1), "5 services: 2 attached, 1 added to an existing chain, 1 already had the filter, 1 skipped");
    const chainOf = (name: string) => kong.chains.find((c) => c.service?.id === kong.services.find((s) => s.name === name)!.id);
    assert.deepEqual(chainOf("orders")!.filters, [{ name: "moesif", config: CONFIG }]);
    assert.equal(chainOf("orders")!.name, "moesif-orders");
    assert.deepEqual(chainOf("inventory")!.filters!.map((f) => f.name), ["datakit", "moesif"]);
    assert.equal(chainOf("legacy"), undefined, "its route runs the filter: a service chain would record its calls twice");
    assert.ok(reports.find((r) => r.service === "legacy")!.detail.includes("legacy-api"));
    const before = JSON.stringify(kong.chains);
    const again = await attachAdmin(kong.url, CONFIG);
    assert.deepEqual(again.map((r) => r.outcome), ["already", "already", "skipped", "already", "already"]);
    assert.equal(JSON.stringify(kong.chains), before);
  });

  test("npm run attach: the command line, and Kong's refusal reported", async () => {
    const other = await new AdminApi(["datakit"]).start();
    other.service("one");
    try {
      const ok = await attachCommand(["--admin", kong.url, "--config", JSON.stringify(CONFIG)]);
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stdout, /^5 services: 0 attached, 0 added to an existing chain, 4 already had the filter, 1 skipped$/m);
      // A Kong without the filter in its wasm_filters_path refuses the chain: the tool says so and fails.
      const refused = await attachCommand(["--admin", other.url, "--config", JSON.stringify(CONFIG)]);
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /attach: POST services\/[\w-]+\/filter-chains: 400 .*no such filter: moesif/);
      const usage = await attachCommand([]);
      assert.equal(usage.status, 2);
    } finally {
      await other.close();
    }
  });
});

describe("attach to every service: a declarative file", () => {
  const fixture = readFileSync(join(root, "tests/fixtures/declarative/kong.yml"), "utf8");

  test("every service gets the filter once, comments stay, and a second run changes nothing", () => {
    const { text, reports } = attachDeclarative(fixture, CONFIG);
    assert.deepEqual(reports.map((r) => `${r.service} ${r.outcome}`), [
      "orders attached", "inventory skipped", "payments added", "5f7c3a8e-0d2b-4d7e-9f61-3c1b2a4d5e6f attached",
    ]);
    assert.match(text, /# the busiest one/);
    assert.match(text, /# Moesif on one route only, from before/);
    const doc = parseYaml(text);
    const top = doc.filter_chains;
    assert.deepEqual(top.find((c: any) => c.service === "orders"), { name: "moesif-orders", service: "orders", filters: [{ name: "moesif", config: CONFIG }] });
    assert.ok(top.some((c: any) => c.service === "5f7c3a8e-0d2b-4d7e-9f61-3c1b2a4d5e6f"));
    assert.deepEqual(doc.services[2].filter_chains[0].filters.map((f: any) => f.name), ["datakit", "moesif"]);
    assert.ok(!top.some((c: any) => c.service === "inventory"), "inventory-api already runs it");
    // One chain per service, as Kong requires.
    const perService = new Map<string, number>();
    for (const c of top.filter((c: any) => c.service)) perService.set(c.service, (perService.get(c.service) ?? 0) + 1);
    assert.ok([...perService.values()].every((n) => n === 1));
    const second = attachDeclarative(text, CONFIG);
    assert.equal(second.text, text);
    assert.ok(second.reports.every((r) => r.outcome === "already" || r.outcome === "skipped"));
  });

  test("on kong/kong.yml, and the configuration it writes starts the filter", () => {
    const { text, reports } = attachDeclarative(readFileSync(join(kongDir, "kong.yml"), "utf8"), CONFIG);
    assert.deepEqual(reports.map((r) => `${r.service} ${r.outcome}`), ["orders already", "inventory skipped"]);
    assert.equal(text, readFileSync(join(kongDir, "kong.yml"), "utf8"));
    const added = attachDeclarative(fixture, CONFIG).text;
    for (const chain of parseYaml(added).filter_chains) {
      for (const f of chain.filters.filter((x: any) => x.config.application_id === CONFIG.application_id)) {
        const host = new KongWasmHost(moesifWasm(), [{ name: f.name, config: JSON.stringify(f.config) }], { autoTick: false });
        host.start();
        host.stop();
        assert.deepEqual(host.logs.filter((l) => l.level === "error"), []);
      }
    }
  });

  test("npm run attach --declarative writes the file (or --out)", () => {
    const dir = mkdtempSync(join(tmpdir(), "attach-"));
    const file = join(dir, "kong.yml");
    writeFileSync(file, fixture);
    const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/attach.ts", "--declarative", file, "--config", JSON.stringify(CONFIG)], { cwd: root, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^4 services: 2 attached, 1 added to an existing chain, 0 already had the filter, 1 skipped$/m);
    assert.equal(readFileSync(file, "utf8"), attachDeclarative(fixture, CONFIG).text);
  });
});

describe("attach to every service: Kubernetes annotations", () => {
  test("adds the KongPlugin to each Service's konghq.com/plugins, keeping what is there; idempotent", () => {
    const dir = mkdtempSync(join(tmpdir(), "kubectl-"));
    const state = join(dir, "services.json");
    writeFileSync(state, JSON.stringify({ orders: "", inventory: "rate-limit", billing: "rate-limit, moesif" }));
    // A stand-in kubectl that keeps Services' annotations in a file: get -o name, get -o jsonpath, annotate.
    const kubectl = join(dir, "kubectl");
    writeFileSync(kubectl, `#!/usr/bin/env node
const fs = require("fs");
const s = JSON.parse(fs.readFileSync(${JSON.stringify(state)}, "utf8"));
const a = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(join(dir, "calls"))}, a.join(" ") + "\\n");
if (a[0] === "get" && a[1] === "services") { for (const n of Object.keys(s)) console.log("service/" + n); process.exit(0); }
if (a[0] === "get") { process.stdout.write(s[a[3].split("/")[1]]); process.exit(0); }
if (a[0] === "annotate") { const kv = a[a.length - 1]; s[a[3].split("/")[1]] = kv.slice(kv.indexOf("=") + 1); fs.writeFileSync(${JSON.stringify(state)}, JSON.stringify(s)); process.exit(0); }
process.exit(1);
`);
    chmodSync(kubectl, 0o755);
    const run = () => spawnSync("bash", [join(root, "scripts/attach-k8s.sh"), "apis"], { encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
    const first = run();
    assert.equal(first.status, 0, first.stderr);
    assert.deepEqual(JSON.parse(readFileSync(state, "utf8")), { orders: "moesif", inventory: "rate-limit,moesif", billing: "rate-limit, moesif" });
    assert.match(first.stdout, /^3 services in apis: 2 attached, 1 already had moesif$/m);
    assert.ok(readFileSync(join(dir, "calls"), "utf8").split("\n").filter((l) => l.startsWith("annotate")).every((l) => l.includes("-n apis") && l.includes("--overwrite")));
    const second = run();
    assert.match(second.stdout, /^3 services in apis: 0 attached, 3 already had moesif$/m);
  });
});
