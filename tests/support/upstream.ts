// Real HTTP upstreams for the gateway: a demo API for `npm start`, and a scriptable one for tests.
import http from "node:http";
import { listen } from "./ports.ts";

export interface Upstream {
  url: string;
  port: number;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void;

export async function startUpstream(handler: Handler): Promise<Upstream> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req, Buffer.concat(chunks), res));
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A small JSON API to try the filter against: GET/POST /items, GET /items/:id, anything else 404. */
export const demoApi: Handler = (req, body, res) => {
  const url = new URL(req.url ?? "/", "http://demo");
  const send = (status: number, value: unknown) => {
    const text = JSON.stringify(value);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
  if (url.pathname === "/items" && req.method === "GET") {
    const limit = Number(url.searchParams.get("limit") ?? 3);
    return send(200, Array.from({ length: Math.max(0, Math.min(limit, 50)) }, (_, i) => ({ id: i + 1, name: `item ${i + 1}` })));
  }
  if (url.pathname === "/items" && req.method === "POST") {
    let item: unknown = null;
    try {
      item = JSON.parse(body.toString("utf8"));
    } catch {
      return send(400, { error: "body must be JSON" });
    }
    return send(201, { id: 42, ...(typeof item === "object" && item !== null ? item : { value: item }) });
  }
  const m = /^\/items\/(\d+)$/.exec(url.pathname);
  if (m && req.method === "GET") return send(200, { id: Number(m[1]), name: `item ${m[1]}` });
  return send(404, { error: "not found", path: url.pathname });
};
