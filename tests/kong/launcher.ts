// Starts and stops a Kong the user installed (KONG_BIN: the `kong` executable Kong's packages put on
// the PATH) for one test, the demo (`npm start -- --kong-bin`) or the bench: a fresh prefix in a
// temp folder, the filters in a folder of their own, a DB-less declarative configuration, and
// `kong stop` whatever happens (at the end, or when this process exits).
//
// Kong's CLI, as read at 3.4.2 … 3.9.3:
//  - `kong version` prints the release alone (kong/cmd/version.lua: `print(meta._VERSION)`).
//  - `kong start -c FILE -p PREFIX` prepares the prefix (renders nginx.conf into it), starts nginx
//    daemonized and returns once nginx has started; a failure to start stops what it started and
//    exits non-zero with the reason (kong/cmd/start.lua:45-110 at 3.9.3, xpcall then error()).
//  - `kong health -p PREFIX` exits 0 only when the nginx of PREFIX/pids/nginx.pid runs
//    (kong/cmd/health.lua: kill.is_running(conf.nginx_pid); PREFIX_PATHS.nginx_pid,
//    kong/conf_loader/constants.lua:218 at 3.9.3). It says nothing of the listeners, so this also
//    waits for the Admin API's GET /status and a connection to the proxy port.
//  - `kong stop -p PREFIX` sends nginx SIGTERM (fast shutdown) and waits for it to go
//    (kong/cmd/stop.lua, nginx_signals.stop).
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/ports.ts";
import { renderKongConf, kongEnv, KongConfOptions } from "./kong-conf.ts";
import { declarativeDoc, DeclarativeSpec } from "./declarative.ts";
import { parseKongVersion, unsupportedRelease } from "./version.ts";
import * as scan from "./logscan.ts";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `kong` executable from KONG_BIN (or the given path), or null when none is set. */
export function kongBin(given?: string): string | null {
  const bin = given ?? process.env.KONG_BIN;
  return bin && bin.trim() ? bin.trim() : null;
}

/** The release of a `kong` executable (`kong version`), or an Error saying why it could not be run. */
export function kongVersion(bin: string): string {
  const r = spawnSync(bin, ["version"], { encoding: "utf8", timeout: 60_000 });
  if (r.error) throw new Error(`${bin} version: ${r.error.message}`);
  const v = parseKongVersion(r.stdout);
  if (r.status !== 0 || !v) throw new Error(`${bin} version exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(0, 500)}`);
  return v;
}

/** Why the Kong suite cannot run here, or null with the release it runs against. */
export function kongUnavailable(): { skip: string } | { bin: string; version: string } {
  const bin = kongBin();
  if (!bin) return { skip: "no KONG_BIN (the `kong` executable of a Kong 3.4–3.9 you installed)" };
  let version: string;
  try {
    version = kongVersion(bin);
  } catch (e) {
    return { skip: `KONG_BIN=${bin} could not be run: ${(e as Error).message}` };
  }
  const unsupported = unsupportedRelease(version);
  return unsupported ? { skip: unsupported } : { bin, version };
}

export interface FilterFile {
  /** The name Kong gives it: its file name in wasm_filters_path, without `.wasm`. */
  name: string;
  wasm: string;
  /** The <name>.meta.json to put beside it (Kong 3.5+ validates the config with it). */
  meta?: string;
}

/** The filters of this repository's build, under their own names. */
export const BUILT = {
  moesif: (name = "moesif"): FilterFile => ({ name, wasm: path.join(REPO, "build/moesif.wasm"), meta: path.join(REPO, "build/moesif.meta.json") }),
  noop: (): FilterFile => ({ name: "noop", wasm: path.join(REPO, "build/noop.wasm") }),
  probe: (): FilterFile => ({ name: "probe", wasm: path.join(REPO, "build/probe.wasm") }),
};

export interface KongOptions {
  /** The executable; KONG_BIN by default. */
  bin?: string;
  /** The release (`kong version`), when the caller knows it already. */
  version?: string;
  filters: FilterFile[];
  /** The declarative configuration: a spec (its kongVersion filled in here) or a finished document. */
  config: Omit<DeclarativeSpec, "kongVersion"> | { doc: Record<string, unknown> };
  workers?: number;
  plugins?: string[];
  logLevel?: KongConfOptions["logLevel"];
  extra?: KongConfOptions["extra"];
  /** The proxy port (a free one by default). */
  proxyPort?: number;
}

export interface Kong {
  version: string;
  bin: string;
  /** The folder holding the prefix, the filters, kong.conf and the declarative file. */
  dir: string;
  prefix: string;
  proxyUrl: string;
  proxyPort: number;
  adminUrl: string;
  /** error.log as it stands now. */
  log(): string;
  /** error.log's lines at error or worse, crashed workers and traps, but the `allowed` ones. */
  badLines(allowed?: RegExp[]): string[];
  workerExits(): string[];
  /** The pids of nginx's worker processes now (not the master, not Kong's privileged agent). */
  workerPids(): number[];
  /** An Admin API call: status and the answer's JSON (or text). */
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

// Every Kong this process started, stopped when it exits however it exits: a test that failed or
// timed out before its cleanup, an interrupted `npm start`. KONG_KEEP=1 keeps their folders (to
// read a failed run's error.log).
const running = new Map<string, { bin: string; dir: string; env: NodeJS.ProcessEnv }>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const [prefix, k] of running) stopSync(k.bin, prefix, k.env);
    if (process.env.KONG_KEEP !== "1") for (const k of running.values()) fs.rmSync(k.dir, { recursive: true, force: true });
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    // Only when nobody else handles it: then the default would end the process without "exit".
    process.once(signal, () => {
      if (process.listenerCount(signal) === 0) process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
    });
  }
}

/** The nginx master's pid from PREFIX/pids/nginx.pid, or null. */
function masterPid(prefix: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(prefix, "pids/nginx.pid"), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * `kong stop` (unless it ran already), then, if nginx is still there, SIGKILL to its processes
 * (workers first: a master killed alone leaves them running).
 */
function stopSync(bin: string, prefix: string, env: NodeJS.ProcessEnv, kongStopRan = false): void {
  const master = masterPid(prefix);
  if (!kongStopRan) spawnSync(bin, ["stop", "-p", prefix], { env, stdio: "ignore", timeout: 30_000 });
  if (master !== null && alive(master)) {
    for (const child of childrenOf(master)) try { process.kill(child, "SIGKILL"); } catch {}
    try { process.kill(master, "SIGKILL"); } catch {}
  }
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => (clearTimeout(timer), resolve({ status: null, out: out + e.message })));
    child.on("close", (status) => (clearTimeout(timer), resolve({ status, out })));
  });
}

const connects = (port: number) => new Promise<boolean>((resolve) => {
  const s = net.connect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
  s.on("error", () => resolve(false));
});

export async function startKong(o: KongOptions): Promise<Kong> {
  const bin = kongBin(o.bin);
  if (!bin) throw new Error("no Kong: set KONG_BIN to the `kong` executable");
  const version = o.version ?? kongVersion(bin);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kong-${version}-`));
  // mkdtemp makes it 0700: nginx's workers may run as another user (nobody, when started as root).
  fs.chmodSync(dir, 0o755);
  const prefix = path.join(dir, "prefix");
  const filtersPath = path.join(dir, "filters");
  const declarativeConfig = path.join(dir, "kong.json");
  const conf = path.join(dir, "kong.conf");
  const proxyPort = o.proxyPort ?? (await freePort());
  let adminPort = await freePort();
  while (adminPort === proxyPort) adminPort = await freePort();
  const confOptions: KongConfOptions = { proxyPort, adminPort, filtersPath, declarativeConfig, workers: o.workers, plugins: o.plugins, logLevel: o.logLevel, extra: o.extra };
  try {
    fs.mkdirSync(prefix, { mode: 0o755 });
    fs.mkdirSync(filtersPath, { mode: 0o755 });
    for (const f of o.filters) {
      fs.copyFileSync(f.wasm, path.join(filtersPath, `${f.name}.wasm`));
      if (f.meta) fs.copyFileSync(f.meta, path.join(filtersPath, `${f.name}.meta.json`));
    }
    const doc = "doc" in o.config ? o.config.doc : declarativeDoc({ ...o.config, kongVersion: version });
    fs.writeFileSync(declarativeConfig, JSON.stringify(doc, null, 2));
    fs.writeFileSync(conf, renderKongConf(confOptions));
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const env = kongEnv(process.env, confOptions);
  const errorLog = path.join(prefix, "logs/error.log");
  const log = () => (fs.existsSync(errorLog) ? fs.readFileSync(errorLog, "utf8") : "");

  hookExit();
  running.set(prefix, { bin, dir, env });
  const fail = async (why: string): Promise<never> => {
    stopSync(bin, prefix, env);
    running.delete(prefix);
    const tail = log().slice(-3000);
    if (process.env.KONG_KEEP !== "1") fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`Kong ${version} (${bin}) did not start in ${dir}: ${why}\nerror.log:\n${tail}`);
  };
  const started = await run(bin, ["start", "-c", conf, "-p", prefix], env, 120_000);
  if (started.status !== 0) await fail(`kong start exited ${started.status}: ${started.out.trim().slice(-3000)}`);
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  let healthy = false;
  for (let i = 0; i < 120 && !healthy; i++) {
    healthy = (await run(bin, ["health", "-p", prefix], env, 30_000)).status === 0;
    if (!healthy) await sleep(250);
  }
  if (!healthy) await fail("kong health never said healthy");
  let ready = false;
  for (let i = 0; i < 200 && !ready; i++) {
    const status = await fetch(`${adminUrl}/status`).then((r) => r.status, () => 0);
    ready = status === 200 && (await connects(proxyPort));
    if (!ready) await sleep(100);
  }
  if (!ready) await fail("the Admin API's /status or the proxy port never answered");

  let stopped = false;
  return {
    version, bin, dir, prefix, proxyPort, adminUrl,
    proxyUrl: `http://127.0.0.1:${proxyPort}`,
    log,
    badLines: (allowed = []) => scan.badLines(log(), allowed),
    workerExits: () => scan.workerExits(log()),
    workerPids() {
      const master = masterPid(prefix);
      if (master === null) return [];
      // nginx names its processes by role (ngx_setproctitle): "nginx: worker process"; Kong 3.7+'s
      // dedicated_config_processing adds a "privileged agent process", which is not a worker.
      return childrenOf(master).filter((pid) => {
        try {
          return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("worker process");
        } catch {
          return false;
        }
      });
    },
    async admin(method, p, body) {
      const r = await fetch(adminUrl + p, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: r.status, body: parsed };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await run(bin, ["stop", "-p", prefix], env, 30_000);
      stopSync(bin, prefix, env, true);
      running.delete(prefix);
      if (process.env.KONG_KEEP !== "1") fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
