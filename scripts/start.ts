// npm start: try the filter with no Kong and no Moesif account. Starts the Kong-like gateway running
// build/moesif.wasm (or, with --kong-bin or KONG_BIN, a Kong you installed), a demo upstream (unless
// --upstream), and a local Moesif-compatible collector (unless --application-id is given), then
// prints every event the collector receives.
import { existsSync, readdirSync, statSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { KongWasmHost, LogLine } from "../tests/host/kong-host.ts";
import { startGateway, Gateway } from "../tests/host/gateway.ts";
import { Collector, MoesifEvent } from "../tests/collector/collector.ts";
import { startUpstream, demoApi } from "../tests/support/upstream.ts";
import { startKong, kongBin, BUILT, Kong } from "../tests/kong/launcher.ts";
import { extraPlugins } from "../tests/kong/kong-conf.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

const HELP = `Usage: npm start -- [options]

  --upstream URL          proxy to this API instead of the built-in demo API
  --application-id ID     send events to Moesif with this Application Id (instead of the local collector)
  --api-endpoint URL      Moesif collector URL (default https://api.moesif.net with --application-id)
  --config JSON           extra filter configuration, e.g. '{"debug":true,"batch_size":10}'
  --port N                gateway port (default 8000, Kong's proxy port; any free port if taken)
  --kong-bin PATH         run it in the Kong you installed (its \`kong\` executable, 3.4-3.9; KONG_BIN
                          too) instead of the project's Kong-like host in this process
  --quiet                 one line per event instead of the whole event
  --help                  this text
`;

const { values: args } = parseArgs({
  options: {
    upstream: { type: "string" },
    "application-id": { type: "string" },
    "api-endpoint": { type: "string" },
    config: { type: "string" },
    port: { type: "string" },
    "kong-bin": { type: "string" },
    quiet: { type: "boolean" },
    help: { type: "boolean" },
  },
});
if (args.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const tty = process.stdout.isTTY;
const paint = (code: string) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint("1");
const dim = paint("2");
const green = paint("32");
const yellow = paint("33");
const red = paint("31");
const cyan = paint("36");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    // Unit specs (and the vectors npm test generates beside them) are not in the build.
    if (entry.isDirectory()) newest = entry.name === "__tests__" ? newest : Math.max(newest, newestSource(p));
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function buildIfNeeded(): void {
  const wasm = join(root, "build/moesif.wasm");
  const stale = !existsSync(wasm) || statSync(wasm).mtimeMs < newestSource(join(root, "assembly")) ||
    statSync(wasm).mtimeMs < statSync(join(root, "kong/moesif.meta.json")).mtimeMs;
  if (!stale) return;
  console.log(dim("building build/moesif.wasm …"));
  execFileSync(process.execPath, [join(root, "scripts/build.mjs")], { stdio: "inherit" });
}

function describeEvent(n: number, e: MoesifEvent): string {
  const status = e.response.status;
  const colour = status >= 500 ? red : status >= 400 ? yellow : green;
  const who = [e.user_id ? `user ${e.user_id}` : "", e.company_id ? `company ${e.company_id}` : ""].filter(Boolean).join(", ");
  const ms = Date.parse(e.response.time) - Date.parse(e.request.time);
  return `${bold(`event ${n}`)}  ${cyan(e.request.verb)} ${e.request.uri} ${dim("→")} ${colour(String(status))}  ${dim(`${ms} ms${who ? ", " + who : ""}`)}`;
}

function logLine(l: LogLine): void {
  const level = l.level === "error" || l.level === "crit" || l.level === "emerg" ? red(l.level) : l.level === "warn" ? yellow(l.level) : dim(l.level);
  console.log(`${dim("[kong]")} [${level}] ${l.source === "host" ? dim("[wasm] ") : ""}${l.message}`);
}

async function main(): Promise<void> {
  buildIfNeeded();
  const extra = args.config ? JSON.parse(args.config) : {};
  const real = args["application-id"] !== undefined;

  let collector: Collector | null = null;
  let eventCount = 0;
  if (!real) {
    collector = await new Collector({
      onBatch: (batch) => {
        for (const e of batch.events) {
          eventCount++;
          console.log("\n" + describeEvent(eventCount, e));
          if (!args.quiet) console.log(dim(JSON.stringify(e, null, 2).replace(/^/gm, "  ")));
        }
      },
    }).start();
  }
  const upstream = args.upstream ? null : await startUpstream(demoApi);
  const upstreamUrl = args.upstream ?? upstream!.url;

  const config = {
    application_id: args["application-id"] ?? "local-demo-app",
    api_endpoint: real ? (args["api-endpoint"] ?? "https://api.moesif.net") : collector!.url,
    ...extra,
  };
  const wanted = args.port ? Number(args.port) : 8000;
  const bin = kongBin(args["kong-bin"]);
  if (bin) return inKong(bin, { config, upstreamUrl, wanted, real, collector, upstream });
  const host = new KongWasmHost(readFileSync(join(root, "build/moesif.wasm")), [{ name: "moesif", config: JSON.stringify(config) }], { onLog: logLine });
  host.start();

  let gateway: Gateway;
  try {
    gateway = await startGateway({ host, upstream: upstreamUrl, port: wanted });
  } catch {
    gateway = await startGateway({ host, upstream: upstreamUrl, port: 0 });
  }

  // With a real account, show what Moesif answers to each batch.
  if (real) {
    setInterval(() => {
      for (const call of host.calls.splice(0)) {
        const settle = setInterval(() => {
          if (!call.outcome) return;
          clearInterval(settle);
          const o = call.outcome;
          const ok = o.status === 201 || o.status === 200;
          // Name the call by what it asked for: a batch (POST /v1/events/batch) or the application config (GET /v1/config).
          const path = call.headers.find(([k]) => k === ":path")?.[1].toString() ?? "";
          const what = path.endsWith("/v1/config") ? "config" : "batch";
          console.log(`${dim("[moesif]")} ${what} → ${config.api_endpoint}: ${o.error ? red(o.error) : ok ? green(String(o.status)) : red(String(o.status))}`);
        }, 50);
      }
    }, 200).unref();
  }

  banner("a Kong-like proxy-wasm host (Node)", gateway.url, upstreamUrl, !!upstream, real ? String(config.api_endpoint) : collector!.url, real, String(config.application_id));
  onStop(async () => {
    host.stop();
    await gateway.close();
    await upstream?.close();
    await collector?.close();
  });
}

function banner(hostName: string, gatewayUrl: string, upstreamUrl: string, demo: boolean, collectorUrl: string, real: boolean, applicationId: string): void {
  console.log(`
${bold("Moesif filter for Kong")} — running build/moesif.wasm in ${hostName}

  gateway    ${gatewayUrl}   ${dim("(Kong's proxy)")}
  upstream   ${upstreamUrl}   ${dim(demo ? "(built-in demo API: /items, /items/:id)" : "(--upstream)")}
  collector  ${collectorUrl}${real ? dim("  (Moesif, application id " + applicationId.slice(0, 6) + "…)") : dim("  (local, Moesif-compatible)")}

Try it:
  ${cyan(`curl -i ${gatewayUrl}/items?limit=2`)}
  ${cyan(`curl -i -X POST ${gatewayUrl}/items -H 'content-type: application/json' -d '{"name":"widget"}'`)}

${real ? "Each batch Moesif answers is reported below." : "Each event the collector receives is printed below (a batch that is not full leaves within batch_max_wait, 1 s)."} Ctrl-C to stop.`);
}

function onStop(stop: () => Promise<void>): void {
  const end = () => stop().then(() => process.exit(0));
  process.on("SIGINT", end);
  process.on("SIGTERM", end);
}

/**
 * --kong-bin (or KONG_BIN): the same demo in a Kong you installed, DB-less, the filter in a filter
 * chain on one route to the upstream (tests/kong/launcher.ts: a fresh prefix in a temp folder,
 * stopped with `kong stop` on Ctrl-C); the filter's lines (and Kong's warnings) come from its
 * error.log. Where Moesif's Lua plugin is installed (KONG_PLUGINS=bundled,moesif) Kong refuses a
 * filter of the same name ("duplicate plugin/wasm filter name", kong/conf_loader/init.lua:834 at
 * 3.9.3), so the filter goes in as moesif_wasm.
 */
async function inKong(bin: string, o: { config: Record<string, unknown>; upstreamUrl: string; wanted: number; real: boolean; collector: Collector | null; upstream: { close(): Promise<void> } | null }): Promise<void> {
  const lua = extraPlugins(process.env.KONG_PLUGINS);
  const name = lua.includes("moesif") ? "moesif_wasm" : "moesif";
  console.log(dim(`starting Kong (${bin}) …`));
  const start = (proxyPort?: number) => startKong({
    bin, proxyPort, filters: [BUILT.moesif(name)], plugins: ["bundled", ...lua],
    config: { services: [{ name: "demo", url: o.upstreamUrl, routes: [{ name: "demo", paths: ["/"], filters: [{ name, config: o.config }] }] }] },
  });
  let kong: Kong;
  try {
    kong = await start(o.wanted);
  } catch (e) {
    // Port 8000 taken (another Kong, say): any free port, unless --port asked for that one.
    if (args.port === undefined && /did not start/.test(String(e))) kong = await start();
    else throw e;
  }
  let shown = 0;
  const tail = setInterval(() => {
    const lines = kong.log().split("\n");
    for (const l of lines.slice(shown, -1)) {
      const m = /\[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$/.exec(l);
      if (m && (l.includes("moesif") || /^(warn|error|crit|alert|emerg)$/.test(m[1]))) logLine({ level: m[1], source: l.includes("proxy-wasm") ? "filter" : "host", message: m[2] } as LogLine);
    }
    shown = Math.max(shown, lines.length - 1);
  }, 200);
  banner(`Kong ${kong.version} (${bin}; filter ${name}; logs in ${kong.prefix}/logs)`, kong.proxyUrl, o.upstreamUrl, !!o.upstream, o.real ? String(o.config.api_endpoint) : o.collector!.url, o.real, String(o.config.application_id));
  onStop(async () => {
    clearInterval(tail);
    await kong.stop();
    await o.upstream?.close();
    await o.collector?.close();
  });
}

main().catch((e) => {
  // A Kong that is not there or does not start is the user's to fix, not a bug: its message alone.
  const kongFault = kongBin(args["kong-bin"]) !== null && /^Error: .*(ENOENT|EACCES|did not start|version)/.test(String(e));
  console.error(red(kongFault ? `npm start: ${String(e?.message ?? e)}` : String(e?.stack ?? e)));
  process.exit(1);
});
