// Section 10: the gateway in Kong's real host. One nginx + ngx_wasm_module build (the Kong 3.9 pin,
// WAMR's fast JIT, then its interpreter) serves with no filter, with build/noop.wasm and with
// build/moesif.wasm at its defaults, in front of a second nginx that answers from a static file, in
// interleaved rounds; autocannon loads it in this process at a fixed number of connections, the
// collector answers in a thread of its own. Latency is taken from every response at full precision
// (autocannon's own histogram keeps whole milliseconds, coarser than these latencies).
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { spawn, ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
// @ts-expect-error: the build script is plain JavaScript without declarations
import { sourcesDir } from "../scripts/nwm/build.mjs";
import { startNginx, nginxBinary, Nginx, FilterSpec } from "../tests/nwm/nginx.ts";
import { CollectorThread } from "../tests/support/collector-worker.ts";
import { freePort } from "../tests/support/ports.ts";

const require = createRequire(import.meta.url);
const autocannon = require("autocannon");
const rootDir = fileURLToPath(new URL("..", import.meta.url));

/** The Kong release whose pin is measured. */
export const KONG = "3.9.1";
export const CONNECTIONS = 8;
export const PATH = "/v1/items?limit=10";
/** A GET as a client sends it: a few ordinary headers beside autocannon's Host. */
export const HEADERS = { "user-agent": "bench/1.0", accept: "application/json", "accept-encoding": "identity" };
export const BODY = Buffer.from(JSON.stringify({ items: Array.from({ length: 10 }, (_, i) => ({ id: i, name: `item ${i}`, price: i * 1.25 })) }));

export type Runtime = "jit" | "interp";
/**
 * The build issue 23's cuts started from (issue 22's, 114,741 bytes), measured beside the current one
 * so that its before and after come from the same rounds on the same machine.
 */
export const BEFORE_BUILD = path.join(rootDir, "bench/baseline/moesif-issue22.wasm");
export const SETUPS = ["no filter", "no-op filter", "Moesif filter, issue 22 build", "Moesif filter"] as const;
/** The setups that run the Moesif filter (both send to the one collector). */
export const MOESIF_SETUPS: readonly Setup[] = ["Moesif filter, issue 22 build", "Moesif filter"];
export type Setup = (typeof SETUPS)[number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why the real host cannot be measured here, or null when it can (the sources are there). */
export function realHostMissing(): string | null {
  return sourcesDir() ? null : "no pinned NWM/nginx/WAMR sources (../shared/vendor or NWM_SOURCES; see scripts/nwm/README.md)";
}

export interface Upstream {
  url: string;
  /** The nginx master's pid. */
  pid: number;
  stop(): Promise<void>;
}

/**
 * The upstream: the same nginx binary without a wasm block, one worker, serving BODY from a static
 * file (this build has no rewrite module, so no `return`), keep-alive without a request limit.
 */
export async function startStaticUpstream(runtime: Runtime = "jit"): Promise<Upstream> {
  const binary = await nginxBinary(KONG, runtime);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nwm-upstream-"));
  fs.mkdirSync(path.join(dir, "logs"));
  fs.mkdirSync(path.join(dir, "www/v1"), { recursive: true });
  fs.writeFileSync(path.join(dir, "www/v1/items"), BODY);
  // nginx's worker runs as nobody when started as root: mkdtemp's folder is the owner's only.
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  fs.writeFileSync(path.join(dir, "nginx.conf"), `
worker_processes 1;
master_process on;
daemon off;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    default_type application/json;
    open_file_cache max=16;
    server {
        listen 127.0.0.1:${port};
        location / { root ${dir}/www; }
    }
}
`);
  const child: ChildProcess = spawn(binary, ["-p", dir, "-c", "nginx.conf"], { stdio: "ignore", detached: true });
  let exited = false;
  child.on("exit", () => (exited = true));
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) break;
    if (exited || i > 100) throw new Error(`the upstream nginx did not start: ${fs.readFileSync(path.join(dir, "logs/error.log"), "utf8").slice(-1000)}`);
    await sleep(50);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      if (!exited) {
        child.kill("SIGQUIT");
        for (let i = 0; i < 100 && !exited; i++) await sleep(50);
      }
      try { process.kill(-child.pid!, "SIGKILL"); } catch {}
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The filters of a setup; the Moesif filter at its defaults with the collector's address. */
export function filtersOf(setup: Setup, collectorUrl: string): FilterSpec[] {
  if (setup === "no filter") return [];
  if (setup === "no-op filter") return [{ name: "noop", wasm: path.join(rootDir, "build/noop.wasm"), config: "" }];
  const wasm = setup === "Moesif filter" ? undefined : BEFORE_BUILD;
  return [{ wasm, config: { application_id: "bench", api_endpoint: collectorUrl } }];
}

/** A gateway for a setup: keep-alive to the client without a request limit, the filter's log at warn. */
export function startGateway(setup: Setup, runtime: Runtime, upstream: string, collectorUrl: string): Promise<Nginx> {
  return startNginx({
    kong: KONG, runtime, upstream, filters: filtersOf(setup, collectorUrl), logLevel: "warn",
    http: ["keepalive_requests 1000000;", "keepalive_timeout 60s;"],
  });
}

/** The worker's pid: the master's only child (one worker); waits for nginx to write its pid file. */
export async function workerPid(ng: Nginx): Promise<number> {
  const pidFile = path.join(ng.dir, "logs/nginx.pid");
  let seen = "";
  for (let i = 0; i < 100; i++) {
    if (fs.existsSync(pidFile)) {
      const master = Number(fs.readFileSync(pidFile, "utf8").trim());
      const children = fs.readFileSync(`/proc/${master}/task/${master}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
      if (children.length === 1) return children[0];
      seen = `${master}: ${children.join(", ") || "none"}`;
    }
    await sleep(50);
  }
  throw new Error(`expected one nginx worker in ${ng.dir}, found ${seen || "no pid file"}`);
}

/** CPU time (ns) a process has used so far, all its threads (scheduler accounting, ns precision). */
export function cpuNs(pid: number): number {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {} // a thread that ended meanwhile
  }
  return ns;
}

export interface LoadRun {
  /** 2xx responses, and everything else (errors, timeouts, other statuses). */
  completed: number;
  /** Requests written, answered or not: those in flight when a run stops are served but not counted. */
  sent: number;
  errors: number;
  seconds: number;
  rps: number;
  /** Every 2xx response's latency, ms. */
  latencies: Float64Array;
}

/** autocannon in this process: for `seconds`, or until `amount` responses; at most `rate` requests/s when given. */
export function load(url: string, opts: { seconds?: number; amount?: number; connections?: number; rate?: number }): Promise<LoadRun> {
  return new Promise((resolve, reject) => {
    let lat = new Float64Array(1 << 16);
    let n = 0;
    let other = 0;
    const t0 = process.hrtime.bigint();
    const instance = autocannon({
      url: url + PATH, connections: opts.connections ?? CONNECTIONS, headers: HEADERS,
      ...(opts.amount ? { amount: opts.amount } : { duration: opts.seconds ?? 1 }),
      ...(opts.rate ? { overallRate: opts.rate } : {}),
    }, (err: Error | null, result: any) => {
      if (err) return reject(err);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      resolve({ completed: n, sent: result.requests.sent, errors: other + result.errors + result.timeouts, seconds, rps: n / seconds, latencies: lat.subarray(0, n) });
    });
    instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status < 200 || status >= 300) {
        other++;
        return;
      }
      if (n === lat.length) {
        const bigger = new Float64Array(lat.length * 2);
        bigger.set(lat);
        lat = bigger;
      }
      lat[n++] = ms;
    });
  });
}

export interface Stats {
  rps: number; mean: number; p50: number; p99: number;
  /** CPU µs per answered request: the gateway's worker, and this process (autocannon and the collector thread). */
  workerUs: number; benchUs: number;
}

export function stats(run: LoadRun): Stats {
  const s = Float64Array.from(run.latencies).sort();
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN);
  let sum = 0;
  for (const x of s) sum += x;
  return { rps: run.rps, mean: sum / s.length, p50: q(0.5), p99: q(0.99), workerUs: NaN, benchUs: NaN };
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export interface SetupResult {
  setup: Setup;
  /** Median of the rounds. */
  median: Stats;
  rounds: Stats[];
  errors: number;
}

export interface RuntimeResult {
  runtime: Runtime;
  rounds: number;
  seconds: number;
  setups: SetupResult[];
  /** Per round, each filter ÷ the no-op filter in the same round; the median round's ratio. */
  ratios: { setup: Setup; mean: number; p99: number; rps: number }[];
  /**
   * Moesif filter: requests answered (warm-up included) and sent (the few in flight when a run
   * stops are served but not counted as answered), distinct events at the collector, answered
   * requests without an event (drops), repeats.
   */
  delivery: { requests: number; sent: number; delivered: number; dropped: number; duplicates: number; batches: number };
  badLines: string[];
}

export interface GatewayNwm {
  kong: string;
  connections: number;
  /** Set when the section could not run. */
  skipped?: string;
  /** A runtime that could not be measured, and why. */
  notes: string[];
  runtimes: RuntimeResult[];
}

export interface Gateways {
  /** One per SETUPS entry, in order, and each one's worker pid. */
  gateways: Nginx[];
  pids: number[];
  collector: CollectorThread;
}

/**
 * The static upstream, the collector and the three gateways of SETUPS for `work`, stopped (and their
 * folders removed) whatever happens: the measurement here and the CPU split (nwm-profile.ts).
 */
export async function withGateways<T>(runtime: Runtime, work: (g: Gateways) => Promise<T>): Promise<T> {
  const upstream = await startStaticUpstream();
  const collector = await CollectorThread.start(0);
  const gateways: Nginx[] = [];
  try {
    for (const s of SETUPS) gateways.push(await startGateway(s, runtime, upstream.url, collector.url));
    return await work({ gateways, pids: await Promise.all(gateways.map(workerPid)), collector });
  } finally {
    for (const g of gateways) {
      await g.stop();
      fs.rmSync(g.dir, { recursive: true, force: true });
    }
    await collector.close();
    await upstream.stop();
  }
}

/**
 * Every setup in each runtime: the three gateways run side by side (idle while another is
 * measured), warmed up, then measured in `rounds` interleaved rounds of `seconds` each, the order
 * rotated every round so that no setup always follows the same one.
 */
export function measureRuntime(runtime: Runtime, rounds: number, seconds: number, warmSeconds: number): Promise<RuntimeResult> {
  return withGateways(runtime, async ({ gateways, pids, collector }) => {
    const answered = SETUPS.map(() => 0);
    const sent = SETUPS.map(() => 0);
    const errors = SETUPS.map(() => 0);
    const account = (k: number, run: LoadRun) => {
      answered[k] += run.completed;
      sent[k] += run.sent;
      errors[k] += run.errors;
    };
    for (let k = 0; k < SETUPS.length; k++) account(k, await load(gateways[k].url, { seconds: warmSeconds }));
    const perRound: Stats[][] = SETUPS.map(() => []);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < SETUPS.length; i++) {
        const k = (i + r) % SETUPS.length;
        const w0 = cpuNs(pids[k]);
        const b0 = process.cpuUsage();
        const run = await load(gateways[k].url, { seconds });
        const b = process.cpuUsage(b0);
        account(k, run);
        perRound[k].push({ ...stats(run), workerUs: (cpuNs(pids[k]) - w0) / 1000 / run.completed, benchUs: (b.user + b.system) / run.completed });
      }
    }
    // Delivery: every request the Moesif gateways answered is an event at the collector. A partial
    // batch leaves within batch_max_wait (1 s at the defaults).
    const ms = MOESIF_SETUPS.map((s) => SETUPS.indexOf(s as Setup));
    const requests = ms.reduce((n, k) => n + answered[k], 0);
    let counts = await collector.counts();
    for (let t = Date.now(); new Set(counts.ids).size < requests && Date.now() - t < 5000; ) {
      await sleep(100);
      counts = await collector.counts();
    }
    const delivered = new Set(counts.ids).size;
    const noop = perRound[SETUPS.indexOf("no-op filter")];
    const ratio = (k: number, key: keyof Stats) => median(perRound[k].map((s, r) => s[key] / noop[r][key]));
    return {
      runtime, rounds, seconds,
      setups: SETUPS.map((setup, k) => ({
        setup, rounds: perRound[k], errors: errors[k],
        median: Object.fromEntries((["rps", "mean", "p50", "p99", "workerUs", "benchUs"] as const).map((key) => [key, median(perRound[k].map((s) => s[key]))])) as unknown as Stats,
      })),
      ratios: SETUPS.map((setup, k) => ({ setup, mean: ratio(k, "mean"), p99: ratio(k, "p99"), rps: ratio(k, "rps") })),
      delivery: { requests, sent: ms.reduce((n, k) => n + sent[k], 0), delivered, dropped: Math.max(0, requests - delivered), duplicates: counts.ids.length - delivered, batches: counts.batches },
      badLines: gateways.flatMap((g) => g.badLines()),
    };
  });
}

/** Section 10's figures: the fast JIT always, the interpreter unless quick. */
export async function gatewayNwm(quick: boolean): Promise<GatewayNwm> {
  const result: GatewayNwm = { kong: KONG, connections: CONNECTIONS, runtimes: [], notes: [] };
  const missing = realHostMissing();
  if (missing) return { ...result, skipped: missing };
  for (const runtime of quick ? (["jit"] as const) : (["jit", "interp"] as const)) {
    try {
      await nginxBinary(KONG, runtime);
    } catch (e) {
      const why = `the host for Kong ${KONG} (${runtime}) could not be built: ${(e as Error).message.split("\n")[0]}`;
      if (runtime === "jit") return { ...result, skipped: why };
      result.notes.push(why);
      continue;
    }
    result.runtimes.push(quick ? await measureRuntime(runtime, 2, 1, 0.5) : await measureRuntime(runtime, 5, 4, 2));
  }
  return result;
}

const f = (x: number, d = 2) => x.toFixed(d);
const LABEL = { jit: "WAMR fast JIT", interp: "WAMR fast interpreter" } as const;

/**
 * Section 10 as markdown lines: the heading, then the table, delivery and errors, or one line
 * saying why it was skipped.
 */
export function renderGatewayNwm(r: GatewayNwm, quick: boolean): string[] {
  const out: string[] = [`## 10. Gateway in Kong's real host (nginx + ngx_wasm_module)`, ""];
  if (r.skipped) return [...out, `Skipped: ${r.skipped}.`, ""];
  const first = r.runtimes[0];
  out.push(`The host Kong ${r.kong} runs filters in, built by \`scripts/nwm/build.mjs\` (nginx 1.25.3 + ngx_wasm_module at the release's pin, WAMR 2.4.5 behind NWM's v8 backend): one worker, in front of a second nginx that answers a GET from a static file (${BODY.length} bytes of JSON, keep-alive). The same binary serves with no filter, with \`build/noop.wasm\` (Continue from every callback), with \`build/moesif.wasm\` at its defaults (application_id and api_endpoint only) and with the build issue 23's cuts started from (\`bench/baseline/moesif-issue22.wasm\`, the same configuration): both send their batches to a collector in a thread of its own that answers at once and reads each batch's transaction ids from its bytes, without parsing it (\`tests/collector/collector.ts\`, \`lightIds\`; parsing cost this process about as much CPU per event as the filter costs the gateway, a cost a real collector pays on another machine). autocannon, in this process, keeps ${r.connections} connections busy on \`GET ${PATH}\` with ${Object.keys(HEADERS).length} headers besides Host; latency is every response's, at full precision. Each runtime's four gateways run side by side and are measured in ${first.rounds} interleaved rounds of ${first.seconds} s (the order rotated each round) after a warm-up; a figure is the median round, a ratio the median of the rounds' ratios to the no-op filter in the same round, so a slow spell of this shared 2-core machine (load generator, both nginx workers and the collector share it) falls on every setup alike. The load is closed-loop (each connection sends its next request when the answer comes), so the gateways run saturated and mean latency is about connections ÷ throughput: its ratio is the ratio of what a request costs the machine: the gateway worker's CPU (its own column, from the scheduler's accounting), autocannon's and, for the Moesif filter, the collector's reading of its batches on the same two cores (the last column).${quick ? " QUICK run: the fast JIT only, short rounds." : ""}`);
  out.push("");
  out.push("| runtime | gateway | requests/s | mean ms | p50 ms | p99 ms | mean ÷ no-op | p99 ÷ no-op | throughput ÷ no-op | worker CPU µs/request | load generator + collector CPU µs/request |");
  out.push("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const rt of r.runtimes) {
    for (const s of rt.setups) {
      const ratio = rt.ratios.find((x) => x.setup === s.setup)!;
      out.push(`| ${LABEL[rt.runtime]} | ${s.setup} | ${Math.round(s.median.rps)} | ${f(s.median.mean, 3)} | ${f(s.median.p50, 3)} | ${f(s.median.p99, 3)} | ${f(ratio.mean)}× | ${f(ratio.p99)}× | ${f(ratio.rps)}× | ${f(s.median.workerUs, 1)} | ${f(s.median.benchUs, 1)} |`);
    }
  }
  out.push("");
  const roundsOf = (rt: RuntimeResult, setup: Setup) => rt.setups[SETUPS.indexOf(setup)].rounds;
  const perRound = (rt: RuntimeResult, setup: Setup, key: keyof Stats) => roundsOf(rt, setup).map((s, i) => f(s[key] / roundsOf(rt, "no-op filter")[i][key])).join(", ");
  for (const m of MOESIF_SETUPS) {
    out.push(`${m} ÷ the no-op filter, round by round: ${r.runtimes.map((rt) => `${LABEL[rt.runtime]}: mean ${perRound(rt, m, "mean")}; p99 ${perRound(rt, m, "p99")}; throughput ${perRound(rt, m, "rps")}`).join(". ")}.`);
    out.push("");
  }
  const cpuOf = (rt: RuntimeResult, setup: Setup) => rt.setups[SETUPS.indexOf(setup)].median;
  const adds = (rt: RuntimeResult, m: Setup) => `${m}: the gateway worker ${f(cpuOf(rt, m).workerUs - cpuOf(rt, "no-op filter").workerUs, 1)} µs (${f(cpuOf(rt, m).workerUs / cpuOf(rt, "no-op filter").workerUs)}×), this process ${f(cpuOf(rt, m).benchUs - cpuOf(rt, "no-op filter").benchUs, 1)} µs`;
  out.push(`What each Moesif build adds per request against the no-op filter, in CPU (median rounds; this process is autocannon and the collector, a cost of this bench on the same two cores, not of a gateway's machine): ${r.runtimes.map((rt) => `${LABEL[rt.runtime]}: ${MOESIF_SETUPS.map((m) => adds(rt, m)).join("; ")}`).join(". ")}.`);
  out.push("");
  const d = (rt: RuntimeResult) => rt.delivery;
  out.push(`Delivery (distinct events at the collector against the requests the two Moesif gateways answered, warm-up included; a request still in flight when a run stops is served, so logged, but not counted as answered, hence a few more events than answers): ${r.runtimes.map((rt) => `${LABEL[rt.runtime]} ${d(rt).delivered} events for ${d(rt).requests} answered (${d(rt).sent} sent), drops ${d(rt).dropped}, duplicates ${d(rt).duplicates}, ${d(rt).batches} batches`).join("; ")}. Errors: ${r.runtimes.map((rt) => rt.setups.map((s) => `${s.setup} ${s.errors}`).join(", ") + ` (${rt.runtime})`).join("; ")}. error.log lines at error or worse: ${r.runtimes.reduce((n, rt) => n + rt.badLines.length, 0)}.`);
  out.push("");
  const meanOf = (rt: RuntimeResult, s: Setup) => rt.setups[SETUPS.indexOf(s)].median.mean;
  out.push(`What having a filter at all costs (the no-op filter ÷ no filter, mean latency, median rounds): ${r.runtimes.map((rt) => `${LABEL[rt.runtime]} ${f(meanOf(rt, "no-op filter") / meanOf(rt, "no filter"))}×`).join(", ")}. Where the Moesif filter's added time goes in the worker's CPU (its code, NWM's host functions, nginx) is measured by \`bench/nwm-profile.ts\` (perf).`);
  out.push("");
  for (const note of r.notes) out.push(`Not measured: ${note}.`, "");
  for (const rt of r.runtimes) for (const l of rt.badLines.slice(0, 3)) out.push(`    ${l}`);
  return out;
}

if (process.argv[1]?.endsWith("gateway-nwm.ts")) {
  const quick = process.env.BENCH_QUICK === "1";
  for (const line of renderGatewayNwm(await gatewayNwm(quick), quick)) console.log(line);
}
