// An upstream for load runs that costs the machine little and answers like a static file: a second
// Kong, one worker, no filter, whose one route answers every request with a fixed JSON body from
// the bundled request-termination plugin (kong/plugins/request-termination/schema.lua at 3.4.2:
// status_code, body and its content_type). Its Lua never proxies: the service it names is never called.
import { startKong, Kong } from "./launcher.ts";

export const STATIC_BODY = JSON.stringify({ items: Array.from({ length: 10 }, (_, i) => ({ id: i, name: `item ${i}`, price: i * 1.25 })) });

export interface StaticUpstream {
  url: string;
  kong: Kong;
  stop(): Promise<void>;
}

export async function startStaticUpstream(bin: string, version: string, body = STATIC_BODY): Promise<StaticUpstream> {
  const kong = await startKong({
    bin, version, filters: [], logLevel: "warn",
    config: {
      services: [{
        name: "static", url: "http://127.0.0.1:9",
        routes: [{ name: "static", paths: ["/"], plugins: [{ name: "request-termination", config: { status_code: 200, content_type: "application/json", body } }] }],
      }],
    },
  });
  return { url: kong.proxyUrl, kong, stop: () => kong.stop() };
}
