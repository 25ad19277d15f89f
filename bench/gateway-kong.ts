// Section 10: the gateway in a Kong you installed (KONG_BIN, the `kong` executable). One Kong per
// setup, each with one worker, DB-less, one route to a static upstream (a second Kong answering a
// fixed JSON body, tests/kong/static-upstream.ts): Kong alone, the no-op filter (build/noop.wasm),
// this filter at its defaults (application_id and api_endpoint only) and, where Kong has Moesif's
// Lua plugin installed (KONG_PLUGINS=bundled,moesif), that plugin on the same route. Kong refuses to
// start when a plugin and a filter share a name ("duplicate plugin/wasm filter name: moesif",
// kong/conf_loader/init.lua:834 at 3.9.3), so there the filter goes in as moesif_wasm.
//
// Two loads, as issue 28 reported them: GET with a small JSON answer, and a JSON POST of 1 KB
// answered with 2 KB. autocannon, in this process, keeps CONNECTIONS busy; the setups are measured
// in interleaved rounds (the order rotated each round) after a warm-up; a figure is the median
// round. The worker's CPU per request comes from the scheduler's accounting (/proc/PID/task/*/schedstat).
// Without KONG_BIN the section says it was not run and keeps the last measured figures with their date.
import fs from "node:fs";
import { createRequire } from "node:module";
import { CollectorThread } from "../tests/support/collector-worker.ts";
import { startKong, kongUnavailable, BUILT, Kong, FilterFile } from "../tests/kong/launcher.ts";
import { extraPlugins } from "../tests/kong/kong-conf.ts";
import { ServiceSpec } from "../tests/kong/declarative.ts";

const require = createRequire(import.meta.url);
const autocannon = require("autocannon");

export const CONNECTIONS = 8;
export const GET_BODY = JSON.stringify({ items: Array.from({ length: 10 }, (_, i) => ({ id: i, name: `item ${i}`, price: i * 1.25 })) });
const pad = (target: number, base: Record<string, unknown>) => {
  const text = JSON.stringify({ ...base, note: "" });
  return JSON.stringify({ ...base, note: "x".repeat(Math.max(0, target - text.length)) });
};
/** JSON POST 1 KB → 2 KB, as in issue 28's figures. */
export const POST_BODY = pad(1024, { order: 42, items: [{ sku: "a-1", qty: 2 }, { sku: "b-7", qty: 1 }], customer: { id: "c-9", email: "a@example.com" } });
export const POST_ANSWER = pad(2048, { id: 42, status: "accepted", items: [{ sku: "a-1", qty: 2, price: 9.99 }, { sku: "b-7", qty: 1, price: 19.5 }] });
const HEADERS = { "user-agent": "bench/1.0", accept: "application/json", "accept-encoding": "identity" };

export const SETUPS = ["Kong alone", "no-op filter", "this filter", "Lua plugin"] as const;
export type Setup = (typeof SETUPS)[number];
export const LOADS = ["GET", "JSON POST 1 KB → 2 KB"] as const;
export type Load = (typeof LOADS)[number];

/** Issue 28's run of this comparison, measured outside this repository's CI: Kong 3.9.3, WAMR fast JIT, one worker, 8 connections, worker CPU µs per request. */
export const REPORTED: Record<Load, Record<Setup, number>> = {
  GET: { "Kong alone": 56.6, "no-op filter": 86.5, "this filter": 122.8, "Lua plugin": 145.6 },
  "JSON POST 1 KB → 2 KB": { "Kong alone": 62.8, "no-op filter": 96.1, "this filter": 157.7, "Lua plugin": 257.5 },
};

/** The last figures measured in this repository (§10 history, the nginx + NWM build): the target rows' fallback. */
export const LAST_MEASURED = { date: "2026-12-03", where: "Kong 3.9.1's Wasm host built from source (nginx + ngx_wasm_module + WAMR fast JIT)", mean: 1.49, p99: 1.92 };

export interface Stats { rps: number; mean: number; p99: number; workerUs: number }
export interface SetupResult { setup: Setup; load: Load; median: Stats; rounds: Stats[]; errors: number }
export interface GatewayKong {
  skipped?: string;
  kong?: string;
  filterName?: string;
  rounds?: number;
  seconds?: number;
  results: SetupResult[];
  /** Per load, this filter ÷ the no-op filter, median of the rounds' ratios. */
  ratios: { load: Load; mean: number; p99: number }[];
  delivery?: { answered: number; delivered: number; duplicates: number };
  badLines: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** CPU time (ns) a process has used so far, all its threads. */
function cpuNs(pid: number): number {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {} // a thread that ended meanwhile
  }
  return ns;
}

function run(url: string, load: Load, seconds: number): Promise<{ stats: Omit<Stats, "workerUs">; completed: number; errors: number }> {
  return new Promise((resolve, reject) => {
    const lat: number[] = [];
    let other = 0;
    const t0 = process.hrtime.bigint();
    const post = load !== "GET";
    const instance = autocannon({
      url: url + (post ? "/v1/orders" : "/v1/items?limit=10"), connections: CONNECTIONS, duration: seconds,
      method: post ? "POST" : "GET", headers: post ? { ...HEADERS, "content-type": "application/json" } : HEADERS, body: post ? POST_BODY : undefined,
    }, (err: Error | null, result: any) => {
      if (err) return reject(err);
      const s = (Number(process.hrtime.bigint() - t0) / 1e9);
      lat.sort((a, b) => a - b);
      const mean = lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length);
      resolve({ stats: { rps: lat.length / s, mean, p99: lat[Math.min(lat.length - 1, Math.floor(0.99 * lat.length))] ?? NaN }, completed: lat.length, errors: other + result.errors + result.timeouts });
    });
    instance.on("response", (_c: unknown, status: number, _b: number, ms: number) => (status >= 200 && status < 300 ? lat.push(ms) : other++));
  });
}

/** Section 10's figures, or why they were not measured. */
export async function gatewayKong(quick: boolean): Promise<GatewayKong> {
  const found = kongUnavailable();
  if ("skip" in found) return { skipped: found.skip, results: [], ratios: [], badLines: [] };
  const lua = extraPlugins(process.env.KONG_PLUGINS);
  const withLua = lua.includes("moesif");
  const filterName = withLua ? "moesif_wasm" : "moesif";
  const setups = SETUPS.filter((s) => s !== "Lua plugin" || withLua);
  const upstreamKong = await startKong({
    bin: found.bin, version: found.version, filters: [], logLevel: "warn",
    config: { services: [{ name: "static", url: "http://127.0.0.1:9", routes: [
      { name: "items", paths: ["/v1/items"], plugins: [{ name: "request-termination", config: { status_code: 200, content_type: "application/json", body: GET_BODY } }] },
      { name: "orders", paths: ["/v1/orders"], plugins: [{ name: "request-termination", config: { status_code: 200, content_type: "application/json", body: POST_ANSWER } }] },
    ] }] },
  });
  const collector = await CollectorThread.start(0);
  const luaCollector = await CollectorThread.start(0);
  const gateways: Kong[] = [];
  try {
    for (const setup of setups) {
      const service: ServiceSpec = { name: "bench", url: upstreamKong.proxyUrl, routes: [{ name: "bench", paths: ["/"] }] };
      const filters: FilterFile[] = [];
      if (setup === "no-op filter") (filters.push(BUILT.noop()), (service.routes[0].filters = [{ name: "noop" }]));
      if (setup === "this filter") (filters.push(BUILT.moesif(filterName)), (service.routes[0].filters = [{ name: filterName, config: { application_id: "bench", api_endpoint: collector.url } }]));
      // Moesif's Lua plugin (kong-plugin-moesif): application_id and api_endpoint, as the filter.
      if (setup === "Lua plugin") service.routes[0].plugins = [{ name: "moesif", config: { application_id: "bench", api_endpoint: luaCollector.url } }];
      gateways.push(await startKong({ bin: found.bin, version: found.version, filters, workers: 1, logLevel: "warn", plugins: ["bundled", ...lua], config: { services: [service] } }));
    }
    const pids = gateways.map((g) => {
      const w = g.workerPids();
      if (w.length !== 1) throw new Error(`expected one worker in ${g.prefix}, found ${w.length}`);
      return w[0];
    });
    const rounds = quick ? 2 : 5;
    const seconds = quick ? 1 : 4;
    const results: SetupResult[] = [];
    let answered = 0;
    const moesif = setups.indexOf("this filter");
    for (const load of LOADS) {
      for (const g of gateways) answered += (await run(g.proxyUrl, load, quick ? 0.5 : 2)).completed * (g === gateways[moesif] ? 1 : 0);
      const per: Stats[][] = setups.map(() => []);
      const errors = setups.map(() => 0);
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < setups.length; i++) {
          const k = (i + r) % setups.length;
          const w0 = cpuNs(pids[k]);
          const x = await run(gateways[k].proxyUrl, load, seconds);
          per[k].push({ ...x.stats, workerUs: (cpuNs(pids[k]) - w0) / 1000 / Math.max(1, x.completed) });
          errors[k] += x.errors;
          if (k === moesif) answered += x.completed;
        }
      }
      setups.forEach((setup, k) => results.push({
        setup, load, rounds: per[k], errors: errors[k],
        median: { rps: median(per[k].map((s) => s.rps)), mean: median(per[k].map((s) => s.mean)), p99: median(per[k].map((s) => s.p99)), workerUs: median(per[k].map((s) => s.workerUs)) },
      }));
    }
    // Every request the filter's gateway answered is an event: the last partial batch leaves within batch_max_wait.
    let counts = await collector.counts();
    for (const end = Date.now() + 5000; new Set(counts.ids).size < answered && Date.now() < end; ) {
      await sleep(100);
      counts = await collector.counts();
    }
    const ratioOf = (load: Load, key: "mean" | "p99") => {
      const mine = results.find((x) => x.load === load && x.setup === "this filter")!;
      const noop = results.find((x) => x.load === load && x.setup === "no-op filter")!;
      return median(mine.rounds.map((s, i) => s[key] / noop.rounds[i][key]));
    };
    return {
      kong: found.version, filterName, rounds, seconds, results,
      ratios: LOADS.map((load) => ({ load, mean: ratioOf(load, "mean"), p99: ratioOf(load, "p99") })),
      delivery: { answered, delivered: new Set(counts.ids).size, duplicates: counts.ids.length - new Set(counts.ids).size },
      badLines: gateways.flatMap((g) => g.badLines()),
    };
  } finally {
    for (const g of gateways) await g.stop();
    await collector.close();
    await luaCollector.close();
    await upstreamKong.stop();
  }
}

const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "—");

/** Section 10 as markdown lines: this run's figures (or why there are none) beside issue 28's, then the last measured history. */
export function renderGatewayKong(r: GatewayKong, history: string, quick: boolean): string[] {
  const out: string[] = ["## 10. Gateway in Kong (KONG_BIN)", ""];
  const reported = (load: Load, setup: Setup) => f(REPORTED[load][setup]);
  if (r.skipped) {
    out.push(`Not run this time: ${r.skipped}. \`KONG_BIN=$(which kong) npm run bench\` runs it in the Kong you installed: one Kong per setup, one worker each, ${CONNECTIONS} connections, Kong alone, the no-op filter, this filter and, where Kong has Moesif's Lua plugin (\`KONG_PLUGINS=bundled,moesif\`), that plugin on the same route (the filter then goes in as \`moesif_wasm\`: Kong refuses a plugin and a filter of one name), in interleaved rounds, GET and a JSON POST of 1 KB answered with 2 KB.`, "");
    out.push("Reported in issue 28, measured outside this repository's CI (Kong 3.9.3, WAMR fast JIT, one worker, 8 connections; worker CPU µs per request):", "");
    out.push("| load | Kong alone | no-op filter | this filter | Lua plugin 2.1.2 |", "|---|---|---|---|---|");
    for (const load of LOADS) out.push(`| ${load} | ${SETUPS.map((s) => reported(load, s)).join(" | ")} |`);
    out.push("");
  } else {
    out.push(`Kong ${r.kong} (KONG_BIN), one Kong per setup with one worker, DB-less, one route to a second Kong answering a fixed JSON body (request-termination); this filter as \`${r.filterName}\` at its defaults (application_id and api_endpoint), sending to a collector in a thread of its own. autocannon keeps ${CONNECTIONS} connections busy; ${r.rounds} interleaved rounds of ${r.seconds} s per load after a warm-up, a figure is the median round, a ratio the median of the rounds' ratios to the no-op filter. Worker CPU per request from the scheduler's accounting. Beside it, issue 28's figures (Kong 3.9.3, WAMR fast JIT; measured outside this repository's CI, reported in issue 28).${quick ? " QUICK run: short rounds." : ""}`, "");
    out.push("| load | setup | requests/s | mean ms | p99 ms | worker CPU µs/request | issue 28's worker CPU µs/request |", "|---|---|---|---|---|---|---|");
    for (const x of r.results) out.push(`| ${x.load} | ${x.setup} | ${Math.round(x.median.rps)} | ${f(x.median.mean, 3)} | ${f(x.median.p99, 3)} | ${f(x.median.workerUs)} | ${reported(x.load, x.setup)} |`);
    out.push("");
    out.push(`This filter ÷ the no-op filter: ${r.ratios.map((x) => `${x.load} mean ${f(x.mean, 2)}×, p99 ${f(x.p99, 2)}×`).join("; ")}. Delivery: ${r.delivery!.delivered} events for ${r.delivery!.answered} requests answered by this filter's gateway, duplicates ${r.delivery!.duplicates}. Errors: ${r.results.map((x) => `${x.setup} (${x.load}) ${x.errors}`).join(", ")}. error.log lines at error or worse: ${r.badLines.length}.`, "");
    for (const l of r.badLines.slice(0, 3)) out.push(`    ${l}`);
    if (r.badLines.length) out.push("");
  }
  out.push(`### Last measured in this repository, ${LAST_MEASURED.date}`, "", history.trim(), "");
  return out;
}
