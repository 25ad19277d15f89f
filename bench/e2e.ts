// End to end: the gateway with no filter, with the no-op filter and with the Moesif filter, in front
// of the same upstream, loaded by autocannon (in its own process) at a fixed concurrency.
import { spawn, ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { KongWasmHost } from "../tests/host/kong-host.ts";
import { startGateway } from "../tests/host/gateway.ts";
import { wasm } from "./inprocess.ts";

const rootDir = fileURLToPath(new URL("..", import.meta.url));

export interface LoadResult {
  variant: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function startServers(): Promise<{ child: ChildProcess; upstream: string; collector: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/servers.ts"], { cwd: rootDir, stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve));
  return { child, ...JSON.parse(line) };
}

function autocannon(url: string, seconds: number, connections: number): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL("../node_modules/autocannon/autocannon.js", import.meta.url)),
      "--json", "-c", String(connections), "-d", String(seconds), url], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`autocannon exited ${code}`))));
  });
}

export async function endToEnd(seconds: number, connections: number, rounds: number): Promise<LoadResult[]> {
  const servers = await startServers();
  const variants: [string, () => KongWasmHost][] = [
    ["no filter", () => new KongWasmHost(wasm("noop"), [])],
    ["no-op filter", () => new KongWasmHost(wasm("noop"), [{ name: "noop", config: "" }])],
    ["Moesif filter", () => new KongWasmHost(wasm("moesif"), [{ name: "moesif", config: JSON.stringify({ application_id: "bench", api_endpoint: servers.collector }) }])],
  ];
  const results = new Map<string, LoadResult[]>();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, make] of variants) {
        const host = make();
        host.start();
        const gw = await startGateway({ host, upstream: servers.upstream });
        await autocannon(gw.url + "/v1/items?limit=10", 1, connections); // warm-up
        const r = await autocannon(gw.url + "/v1/items?limit=10", seconds, connections);
        host.stop();
        await gw.close();
        if (host.traps.length > 0) throw new Error(`${name} trapped`);
        const list = results.get(name) ?? [];
        list.push({ variant: name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx });
        results.set(name, list);
      }
    }
  } finally {
    servers.child.kill();
  }
  // The median round of each variant (rounds interleave the variants, so drift hits all alike).
  return variants.map(([name]) => {
    const list = results.get(name)!.sort((a, b) => a.rps - b.rps);
    return list[Math.floor(list.length / 2)];
  });
}
