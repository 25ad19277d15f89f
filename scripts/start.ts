// npm start: try the filter with no Kong and no Moesif account. Starts the Kong-like gateway running
// build/moesif.wasm, a demo upstream (unless --upstream), and a local Moesif-compatible collector
// (unless --application-id is given), then prints every event the collector receives.
import { existsSync, readdirSync, statSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { KongWasmHost, LogLine } from "../tests/host/kong-host.ts";
import { startGateway, Gateway } from "../tests/host/gateway.ts";
import { Collector, MoesifEvent } from "../tests/collector/collector.ts";
import { startUpstream, demoApi } from "../tests/support/upstream.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

const HELP = `Usage: npm start -- [options]

  --upstream URL          proxy to this API instead of the built-in demo API
  --application-id ID     send events to Moesif with this Application Id (instead of the local collector)
  --api-endpoint URL      Moesif collector URL (default https://api.moesif.net with --application-id)
  --config JSON           extra filter configuration, e.g. '{"debug":true,"batch_size":10}'
  --port N                gateway port (default 8000, Kong's proxy port; any free port if taken)
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
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
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
  const host = new KongWasmHost(readFileSync(join(root, "build/moesif.wasm")), [{ name: "moesif", config: JSON.stringify(config) }], { onLog: logLine });
  host.start();

  let gateway: Gateway;
  const wanted = args.port ? Number(args.port) : 8000;
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

  console.log(`
${bold("Moesif filter for Kong")} — running build/moesif.wasm in a Kong-like proxy-wasm host

  gateway    ${gateway.url}   ${dim("(Kong's proxy)")}
  upstream   ${upstreamUrl}   ${dim(upstream ? "(built-in demo API: /items, /items/:id)" : "(--upstream)")}
  collector  ${real ? config.api_endpoint + dim("  (Moesif, application id " + String(config.application_id).slice(0, 6) + "…)") : collector!.url + dim("  (local, Moesif-compatible)")}

Try it:
  ${cyan(`curl -i ${gateway.url}/items?limit=2`)}
  ${cyan(`curl -i -X POST ${gateway.url}/items -H 'content-type: application/json' -d '{"name":"widget"}'`)}

${real ? "Each batch Moesif accepts is reported below." : "Each event the collector receives is printed below (batches leave on the filter's 1 s tick)."} Ctrl-C to stop.`);

  const stop = async () => {
    host.stop();
    await gateway.close();
    await upstream?.close();
    await collector?.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((e) => {
  console.error(red(String(e?.stack ?? e)));
  process.exit(1);
});
