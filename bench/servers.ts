// A child process for the end-to-end benchmark: the upstream API and the collector, so that they
// do not share the gateway's CPU. Prints their ports as one JSON line, then serves until killed.
import { startUpstream } from "../tests/support/upstream.ts";
import { Collector } from "../tests/collector/collector.ts";

const body = Buffer.from(JSON.stringify({ items: Array.from({ length: 10 }, (_, i) => ({ id: i, name: `item ${i}`, price: i * 1.25 })) }));
const upstream = await startUpstream((_req, _body, res) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
  res.end(body);
});
const collector = await new Collector().start();
process.stdout.write(JSON.stringify({ upstream: upstream.url, collector: collector.url }) + "\n");
