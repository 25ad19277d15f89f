// npm run attach: put the Moesif filter on every service, idempotently. Kong refuses global filters
// and allows one filter chain per service (kong/db/schema/entities/filter_chains.lua: `service` is
// unique), so for each service this either finds the filter already there, adds it to the service's
// existing chain, or creates a chain for it. A service one of whose routes already runs the filter
// is left alone and reported: service chains run before route chains, so its calls would be
// recorded twice.
//
//   npm run attach -- --admin http://localhost:8001 --config '{"application_id":"…"}' [--dry-run]
//   npm run attach -- --declarative kong.yml --config-file moesif.json [--out kong.out.yml]
//
// --admin works on a Kong with a database (or a hybrid control plane) through its Admin API;
// --declarative rewrites a DB-less declarative file (comments and order kept; in place unless --out).
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseDocument, Document, isMap, isSeq, YAMLMap, YAMLSeq } from "yaml";

export type Outcome = "attached" | "added" | "already" | "skipped";

export interface ServiceReport {
  service: string;
  outcome: Outcome;
  detail: string;
}

export interface AttachOptions {
  /** The filter's name in Kong (the .wasm basename). */
  filter?: string;
  /** Say what would be done, change nothing. */
  dryRun?: boolean;
}

const chainName = (service: string) => `moesif-${service}`.replace(/[^A-Za-z0-9._~-]/g, "-");

// ---- Admin API ----

interface KongEntity {
  id: string;
  name?: string | null;
  service?: { id: string } | null;
  route?: { id: string } | null;
  filters?: { name: string; config?: unknown; enabled?: boolean }[];
}

async function api(admin: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(new URL(path, admin), {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text.length > 0 ? JSON.parse(text) : null;
}

/** Every entity of a collection, following Kong's `next` links. */
async function all(admin: string, path: string): Promise<KongEntity[]> {
  const out: KongEntity[] = [];
  let next: string | null = path;
  while (next) {
    const page: { data: KongEntity[]; next?: string | null } = await api(admin, "GET", next);
    out.push(...page.data);
    next = page.next ?? null;
  }
  return out;
}

const hasFilter = (chain: KongEntity | undefined, filter: string) => (chain?.filters ?? []).some((f) => f.name === filter);

export async function attachAdmin(admin: string, config: unknown, opts: AttachOptions = {}): Promise<ServiceReport[]> {
  const filter = opts.filter ?? "moesif";
  const base = admin.endsWith("/") ? admin : admin + "/";
  const [services, routes, chains] = await Promise.all([all(base, "services"), all(base, "routes"), all(base, "filter-chains")]);
  const reports: ServiceReport[] = [];
  for (const s of services) {
    const label = s.name ?? s.id;
    const chain = chains.find((c) => c.service?.id === s.id);
    const routeWithFilter = routes.filter((r) => r.service?.id === s.id)
      .find((r) => hasFilter(chains.find((c) => c.route?.id === r.id), filter));
    if (hasFilter(chain, filter)) {
      reports.push({ service: label, outcome: "already", detail: `filter chain ${chain!.name ?? chain!.id}` });
    } else if (routeWithFilter) {
      reports.push({ service: label, outcome: "skipped", detail: `route ${routeWithFilter.name ?? routeWithFilter.id} runs the filter already (its calls would be recorded twice)` });
    } else if (chain) {
      if (!opts.dryRun) {
        const filters = [...(chain.filters ?? []), { name: filter, config }];
        await api(base, "PATCH", `filter-chains/${chain.id}`, { filters });
      }
      reports.push({ service: label, outcome: "added", detail: `to filter chain ${chain.name ?? chain.id}` });
    } else {
      const name = chainName(label);
      if (!opts.dryRun) await api(base, "POST", `services/${s.id}/filter-chains`, { name, filters: [{ name: filter, config }] });
      reports.push({ service: label, outcome: "attached", detail: `new filter chain ${name}` });
    }
  }
  return reports;
}

// ---- declarative configuration ----

/** How a declarative file names a foreign entity: by name or id, as a string or {name}/{id}. */
function refersTo(ref: unknown, names: string[]): boolean {
  if (typeof ref === "string") return names.includes(ref);
  if (ref && typeof ref === "object") {
    const r = ref as Record<string, unknown>;
    return names.includes(String(r.name)) || names.includes(String(r.id));
  }
  return false;
}

/** A node's plain value (a map node as an object). */
function plain(v: unknown): unknown {
  return isMap(v) ? v.toJSON() : v;
}

function filterNames(chain: YAMLMap): string[] {
  const filters = chain.get("filters");
  return isSeq(filters) ? filters.items.map((f) => (isMap(f) ? String(f.get("name")) : "")) : [];
}

export function attachDeclarative(text: string, config: unknown, opts: AttachOptions = {}): { text: string; reports: ServiceReport[] } {
  const filter = opts.filter ?? "moesif";
  const doc: Document = parseDocument(text);
  if (doc.errors.length > 0) throw new Error(`not valid YAML: ${doc.errors[0].message}`);
  const services = doc.get("services");
  if (!isSeq(services)) throw new Error("no services in this declarative configuration");
  const topChains = () => {
    const c = doc.get("filter_chains");
    return isSeq(c) ? (c.items.filter(isMap) as YAMLMap[]) : [];
  };
  const reports: ServiceReport[] = [];
  for (const s of services.items) {
    if (!isMap(s)) continue;
    const names = [s.get("name"), s.get("id")].filter((x) => x !== undefined && x !== null).map(String);
    if (names.length === 0) continue;
    const label = names[0];
    const nested = s.get("filter_chains");
    const nestedChains = isSeq(nested) ? (nested.items.filter(isMap) as YAMLMap[]) : [];
    // The service's chain: nested under it, or at the top naming it.
    const chain = nestedChains.find((c) => c.get("route") === undefined) ?? topChains().find((c) => refersTo(plain(c.get("service")), names));
    const routes = s.get("routes");
    const routeMaps = isSeq(routes) ? (routes.items.filter(isMap) as YAMLMap[]) : [];
    const routeNames = routeMaps.flatMap((r) => [r.get("name"), r.get("id")].filter((x) => x !== undefined).map(String));
    const routeChains = [
      ...routeMaps.flatMap((r) => {
        const rc = r.get("filter_chains");
        return isSeq(rc) ? (rc.items.filter(isMap) as YAMLMap[]) : [];
      }),
      ...topChains().filter((c) => refersTo(plain(c.get("route")), routeNames)),
    ];
    const routeWithFilter = routeChains.find((c) => filterNames(c).includes(filter));
    if (chain && filterNames(chain).includes(filter)) {
      reports.push({ service: label, outcome: "already", detail: `filter chain ${chain.get("name") ?? "(unnamed)"}` });
    } else if (routeWithFilter) {
      reports.push({ service: label, outcome: "skipped", detail: `a route's filter chain ${routeWithFilter.get("name") ?? "(unnamed)"} runs the filter already (its calls would be recorded twice)` });
    } else if (chain) {
      if (!opts.dryRun) (chain.get("filters") as YAMLSeq).add(doc.createNode({ name: filter, config }));
      reports.push({ service: label, outcome: "added", detail: `to filter chain ${chain.get("name") ?? "(unnamed)"}` });
    } else {
      const name = chainName(label);
      if (!opts.dryRun) {
        if (!isSeq(doc.get("filter_chains"))) doc.set("filter_chains", doc.createNode([]));
        (doc.get("filter_chains") as YAMLSeq).add(doc.createNode({ name, service: label, filters: [{ name: filter, config }] }));
      }
      reports.push({ service: label, outcome: "attached", detail: `new filter chain ${name}` });
    }
  }
  // Nothing to change: the file stays byte for byte as it was.
  const changed = !opts.dryRun && reports.some((r) => r.outcome === "attached" || r.outcome === "added");
  return { text: changed ? doc.toString({ flowCollectionPadding: false }) : text, reports };
}

// ---- command line ----

export function summary(reports: ServiceReport[]): string {
  const count = (o: Outcome) => reports.filter((r) => r.outcome === o).length;
  const lines = reports.map((r) => `${r.service}: ${r.outcome} (${r.detail})`);
  lines.push(`${reports.length} services: ${count("attached")} attached, ${count("added")} added to an existing chain, ` +
    `${count("already")} already had the filter, ${count("skipped")} skipped`);
  return lines.join("\n");
}

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

export async function main(args: string[]): Promise<number> {
  const configText = arg(args, "config") ?? (arg(args, "config-file") ? readFileSync(arg(args, "config-file")!, "utf8") : undefined);
  const admin = arg(args, "admin");
  const declarative = arg(args, "declarative");
  if (!configText || (!admin && !declarative)) {
    console.error("usage: npm run attach -- (--admin URL | --declarative kong.yml [--out FILE]) (--config JSON | --config-file FILE) [--dry-run] [--filter NAME]");
    return 2;
  }
  const config = JSON.parse(configText);
  const opts: AttachOptions = { dryRun: args.includes("--dry-run"), filter: arg(args, "filter") };
  if (admin) {
    console.log(summary(await attachAdmin(admin, config, opts)));
  } else {
    const r = attachDeclarative(readFileSync(declarative!, "utf8"), config, opts);
    if (!opts.dryRun) writeFileSync(arg(args, "out") ?? declarative!, r.text);
    console.log(summary(r.reports));
  }
  if (opts.dryRun) console.log("(dry run: nothing changed)");
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    console.error(`attach: ${(e as Error).message}`);
    process.exit(1);
  });
}
