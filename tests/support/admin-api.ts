// Kong's Admin API for services, routes and filter chains, in memory: the paths, pagination (`next`
// links), and the constraints Kong enforces on filter chains (kong/db/schema/entities/
// filter_chains.lua: one chain per service or route, at least one filter, filters Kong has).
// Enough to run scripts/attach.ts against; it records every call.
import http from "node:http";
import { randomUUID } from "node:crypto";
import { listen } from "./ports.ts";

export interface Entity { id: string; name?: string; service?: { id: string } | null; route?: { id: string } | null; filters?: { name: string; config?: unknown; enabled?: boolean }[] }

export class AdminApi {
  services: Entity[] = [];
  routes: Entity[] = [];
  chains: Entity[] = [];
  readonly calls: string[] = [];
  url = "";
  private server!: http.Server;

  constructor(private knownFilters: string[] = ["moesif", "datakit"], private pageSize = 2) {}

  service(name: string): Entity {
    const s = { id: randomUUID(), name };
    this.services.push(s);
    return s;
  }

  route(name: string, service: Entity): Entity {
    const r = { id: randomUUID(), name, service: { id: service.id } };
    this.routes.push(r);
    return r;
  }

  chain(name: string, on: { service?: Entity; route?: Entity }, filters: string[]): Entity {
    const c = { id: randomUUID(), name, service: on.service ? { id: on.service.id } : null, route: on.route ? { id: on.route.id } : null, filters: filters.map((f) => ({ name: f, config: {}, enabled: true })) };
    this.chains.push(c);
    return c;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => this.handle(req, Buffer.concat(chunks).toString(), res));
    });
    this.url = `http://127.0.0.1:${await listen(this.server)}`;
    return this;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private handle(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const url = new URL(req.url!, this.url);
    this.calls.push(`${req.method} ${url.pathname}`);
    const send = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    const page = (all: Entity[], path: string) => {
      const offset = Number(url.searchParams.get("offset") ?? 0);
      const data = all.slice(offset, offset + this.pageSize);
      send(200, { data, next: offset + this.pageSize < all.length ? `/${path}?offset=${offset + this.pageSize}` : null });
    };
    const badFilters = (filters: unknown) => {
      if (!Array.isArray(filters) || filters.length === 0) return "filters: length must be at least 1";
      const unknown = filters.find((f) => !this.knownFilters.includes(f?.name));
      return unknown ? `filters: no such filter: ${unknown?.name}` : null;
    };
    let m: RegExpExecArray | null;
    if (req.method === "GET" && url.pathname === "/services") return page(this.services, "services");
    if (req.method === "GET" && url.pathname === "/routes") return page(this.routes, "routes");
    if (req.method === "GET" && url.pathname === "/filter-chains") return page(this.chains, "filter-chains");
    if (req.method === "POST" && (m = /^\/services\/([^/]+)\/filter-chains$/.exec(url.pathname))) {
      const s = this.services.find((x) => x.id === m![1] || x.name === m![1]);
      if (!s) return send(404, { message: "Not found" });
      const input = JSON.parse(body);
      const bad = badFilters(input.filters);
      if (bad) return send(400, { message: `schema violation (${bad})` });
      if (this.chains.some((c) => c.service?.id === s.id)) return send(409, { message: `UNIQUE violation detected on '{service={id="${s.id}"}}'` });
      if (input.name && this.chains.some((c) => c.name === input.name)) return send(409, { message: `UNIQUE violation detected on '{name="${input.name}"}'` });
      const c = { id: randomUUID(), name: input.name, service: { id: s.id }, route: null, filters: input.filters };
      this.chains.push(c);
      return send(201, c);
    }
    if (req.method === "PATCH" && (m = /^\/filter-chains\/([^/]+)$/.exec(url.pathname))) {
      const c = this.chains.find((x) => x.id === m![1] || x.name === m![1]);
      if (!c) return send(404, { message: "Not found" });
      const input = JSON.parse(body);
      const bad = badFilters(input.filters);
      if (bad) return send(400, { message: `schema violation (${bad})` });
      c.filters = input.filters;
      return send(200, c);
    }
    send(404, { message: "Not found" });
  }
}
