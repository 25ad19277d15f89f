// Kong's real proxy-wasm host for tests and benchmarks: the nginx + ngx_wasm_module binary that
// scripts/nwm/build.mjs builds for a Kong pin, started on 127.0.0.1 with the filter in a location,
// in front of an upstream. One worker, as the load figures are per worker. The binaries come from
// the build's cache; tests/nwm/run.mjs builds them before the suite (or says why it is skipped).
import { spawn, ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
// @ts-expect-error: the build script is plain JavaScript without declarations
import { buildHost, resolvePin } from "../../scripts/nwm/build.mjs";
import { freePort } from "../support/ports.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Kong release the suite stands for → what the filter is told it runs in (ngx.kong_version). */
export const REAL_HOST_VERSIONS = ["3.4.2", "3.6.1", "3.7.1", "3.8.0", "3.9.1"] as const;
export type RealHostVersion = (typeof REAL_HOST_VERSIONS)[number];

/** The versions this run covers: NWM_KONG="3.9.1,3.6.1" narrows it (a developer's loop). */
export function versionsUnderTest(): RealHostVersion[] {
  const only = process.env.NWM_KONG?.split(",").map((v) => v.trim()).filter(Boolean);
  return only ? REAL_HOST_VERSIONS.filter((v) => only.some((o) => v.startsWith(o))) : [...REAL_HOST_VERSIONS];
}

export const pinOf = (version: string): string => resolvePin(version);

/** Lines of error.log that a clean run never has. */
export const BAD_LOG_LINE = /\[(error|crit|alert|emerg)\]|exited on signal|trap/;
// The glue's WAMR stub says this at start-up (scripts/nwm/glue/v8bridge.c): not a trap.
const BENIGN_LOG_LINE = /enabled v8 trap handler/;

export interface FilterSpec {
  /** A module file; build/moesif.wasm by default (copied, as the build may be rerun meanwhile). */
  wasm?: string;
  name?: string;
  /** The filter configuration: an object is sent as JSON. */
  config: Record<string, unknown> | string;
}

export interface NginxOptions {
  kong: RealHostVersion | string;
  runtime?: "jit" | "interp";
  upstream: string;
  /** Filters in chain order; none = plain nginx (the benchmark's baseline). */
  filters: FilterSpec[];
  /** Directives added to the proxied location (client_body_buffer_size, proxy_wasm_* ...). */
  location?: string[];
  /** Directives added to the http block. */
  http?: string[];
  workerConnections?: number;
  /** The port to listen on (a free one by default). */
  port?: number;
  /** The filter's log level in error.log (info by default; a benchmark sets warn). */
  logLevel?: "debug" | "info" | "notice" | "warn" | "error";
  /**
   * More server blocks, each on a free port of its own, in front of the same upstream: one nginx
   * (one worker, one filter instance) for many filter configurations, as Kong runs many filter
   * chains. A filter named like one of `filters` (default "moesif") shares its module.
   */
  servers?: ServerSpec[];
  /**
   * The directives of Kong's proxy template (kong/templates/nginx_kong.lua, 3.4–3.9) that change what
   * a filter sees: `server_tokens off` (NWM's default Server header is then "nginx"),
   * `proxy_pass_header Server` and `Date` (the upstream's reach the client), and Kong's defaults
   * `client_body_buffer_size 8k` (nginx_http_client_body_buffer_size) and `client_max_body_size 0`
   * (in the http block: set another size in `location`, not `http`).
   */
  kongTemplate?: boolean;
}

export interface ServerSpec {
  filters: FilterSpec[];
  /** Directives added to this server's proxied location. */
  location?: string[];
}

export interface Nginx {
  url: string;
  port: number;
  dir: string;
  kong: string;
  pin: string;
  /** error.log as it stands now. */
  log(): string;
  /** error.log lines with [error]/[crit]/[alert]/[emerg], a trap or a crashed worker. */
  badLines(): string[];
  /** Worker crashes so far ("worker process N exited on signal S"). */
  crashes(): number;
  /** The `servers` of the options, in order. */
  servers: { url: string; port: number }[];
  stop(): Promise<void>;
}

/** n ports free now, none of them in `taken`. */
async function freePorts(n: number, taken: number[] = []): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const port = await freePort();
    if (!taken.includes(port)) ports.push(port);
  }
  return ports;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// When the process ends, an nginx a test could not stop (it failed or timed out before its cleanup)
// goes with it: left running, it and its stderr pipe would keep the test process alive until CI's
// time limit. Each nginx's prefix (config, logs, module copies) goes too; NWM_KEEP=1 keeps them for
// reading a failed run's error.log.
const prefixes: string[] = [];
const running = new Set<number>();
process.on("exit", () => {
  for (const pid of running) try { process.kill(-pid, "SIGKILL"); } catch {}
  if (process.env.NWM_KEEP === "1") return;
  for (const dir of prefixes) fs.rmSync(dir, { recursive: true, force: true });
});

/** The nginx binary for a version, built or taken from the cache. */
export async function nginxBinary(kong: string, runtime: "jit" | "interp" = "jit"): Promise<string> {
  return buildHost({ kong, runtime, log: () => {} });
}

const quote = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

export async function startNginx(opts: NginxOptions): Promise<Nginx> {
  const binary = await nginxBinary(opts.kong, opts.runtime ?? "jit");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nwm-${pinOf(opts.kong)}-`));
  // mkdtemp makes it 0700: a worker that runs as another user than the master (nobody, under root)
  // could not reach client_body_temp/ to spill a large request body (a [crit] and a 500).
  fs.chmodSync(dir, 0o755);
  prefixes.push(dir);
  fs.mkdirSync(path.join(dir, "logs"));
  const port = opts.port ?? (await freePort());
  const files = new Map<string, string>();
  const chain = (filters: FilterSpec[]) => filters.map((f, i) => {
    const name = f.name ?? (i === 0 ? "moesif" : `filter${i}`);
    const file = path.join(dir, `${name}.wasm`);
    if (!files.has(name)) {
      fs.copyFileSync(f.wasm ?? path.join(REPO, "build/moesif.wasm"), file);
      files.set(name, file);
    }
    return { name, file, config: typeof f.config === "string" ? f.config : JSON.stringify(f.config) };
  });
  const modules = chain(opts.filters);
  const servers: { port: number; chain: typeof modules; location: string[] }[] = [];
  const serverPorts = await freePorts(opts.servers?.length ?? 0, [port]);
  for (const [i, s] of (opts.servers ?? []).entries()) servers.push({ port: serverPorts[i], chain: chain(s.filters), location: s.location ?? [] });
  const kongHttp = opts.kongTemplate ? ["server_tokens off;", "client_body_buffer_size 8k;", "client_max_body_size 0;"] : [];
  const kongLocation = opts.kongTemplate ? ["proxy_pass_header Server;", "proxy_pass_header Date;"] : [];
  const server = (listen: number, filters: typeof modules, location: string[]) => `
    server {
        listen 127.0.0.1:${listen};
        location / {
${filters.map((m) => `            proxy_wasm ${m.name} ${quote(m.config)};`).join("\n")}
${[...kongLocation, ...location].map((d) => `            ${d}`).join("\n")}
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }`;
  const upstream = new URL(opts.upstream);
  // ngx.kong_version: how an operator of plain nginx tells the filter which Kong release's host this
  // is (assembly/runtime/hostinfo.ts); Kong itself answers kong.version. A map, as this nginx is
  // built without the rewrite module (no `set`).
  const conf = `
worker_processes 1;
master_process on;
daemon off;
error_log logs/error.log ${opts.logLevel ?? "info"};
pid logs/nginx.pid;
events { worker_connections ${opts.workerConnections ?? 1024}; }
${files.size ? `wasm {\n${[...files].map(([name, file]) => `    module ${name} ${file};`).join("\n")}\n}` : ""}
http {
    access_log off;
    map $host $kong_version { default "${opts.kong}"; }
    upstream backend { server ${upstream.hostname}:${upstream.port}; keepalive 64; }
${[...kongHttp, ...(opts.http ?? [])].map((d) => `    ${d}`).join("\n")}${server(port, modules, opts.location ?? [])}${servers.map((s) => server(s.port, s.chain, s.location)).join("")}
}
`;
  fs.writeFileSync(path.join(dir, "nginx.conf"), conf);
  // Its own process group, so that a stuck worker ends with it.
  const child: ChildProcess = spawn(binary, ["-p", dir, "-c", "nginx.conf"], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let exited = false;
  let stderr = "";
  running.add(child.pid!);
  child.on("exit", () => {
    exited = true;
    running.delete(child.pid!);
  });
  child.stderr!.on("data", (d) => (stderr += d));
  const logFile = path.join(dir, "logs/error.log");
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "");
  const up = async () => {
    for (let i = 0; i < 100 && !exited; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
        s.on("error", () => resolve(false));
      });
      if (ok) return true;
      await sleep(50);
    }
    return false;
  };
  if (!(await up())) {
    try { process.kill(-child.pid!, "SIGKILL"); } catch {}
    throw new Error(`nginx (Kong ${opts.kong}, ${pinOf(opts.kong)}) did not start: ${stderr.trim() || log().slice(-2000)}`);
  }
  const lines = () => log().split("\n");
  return {
    url: `http://127.0.0.1:${port}`, port, dir, kong: opts.kong, pin: pinOf(opts.kong), log,
    badLines: () => lines().filter((l) => BAD_LOG_LINE.test(l) && !BENIGN_LOG_LINE.test(l)),
    crashes: () => lines().filter((l) => /exited on signal/.test(l)).length,
    servers: servers.map((s) => ({ url: `http://127.0.0.1:${s.port}`, port: s.port })),
    async stop() {
      if (!exited) {
        child.kill("SIGQUIT");
        for (let i = 0; i < 100 && !exited; i++) await sleep(50);
      }
      try { process.kill(-child.pid!, "SIGKILL"); } catch {}
    },
  };
}

/** The filter's own lines in error.log at a level, without nginx's prefix. */
export function filterLines(log: string, level: string): string[] {
  return log.split("\n").filter((l) => l.includes(`[${level}]`) && l.includes("moesif")).map((l) => l.replace(/^.*?\[\w+\] \d+#\d+: (\*\d+ )?/, ""));
}
