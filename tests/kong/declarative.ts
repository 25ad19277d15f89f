// The declarative configuration (DB-less) a test's Kong runs: services, their routes, consumers,
// filter chains and plugins, built from a short description. Pure: no Kong here.
//
// The format is Kong's `_format_version: "3.0"` (kong/db/schema/others/declarative_config.lua):
// routes nested in their service, key-auth credentials nested in their consumer, and filter chains
// and plugins at the top level naming their route or service (a foreign key given as the entity's id;
// declarative_config.lua:227-250 at 3.9.3 also accepts its name). Ids are made here, from names, so
// that a test knows the route and service ids an event must carry before Kong starts.
import { createHash } from "node:crypto";

export interface FilterEntry {
  /** The filter's name: its file name in wasm_filters_path without `.wasm`. */
  name: string;
  /** An object (sent as JSON from Kong 3.5, as a JSON string on 3.4) or a string as it is. */
  config?: unknown;
  enabled?: boolean;
}

export interface PluginEntry {
  name: string;
  config?: Record<string, unknown>;
}

export interface RouteSpec {
  name: string;
  paths?: string[];
  hosts?: string[];
  methods?: string[];
  /** Header values the route matches on (kong/db/schema/entities/routes.lua, `headers`). */
  headers?: Record<string, string[]>;
  /** Kong's default is true: the matched path prefix is cut from the upstream's path. */
  strip_path?: boolean;
  /** A filter chain on this route. */
  filters?: FilterEntry[];
  plugins?: PluginEntry[];
}

export interface ServiceSpec {
  name: string;
  url: string;
  routes: RouteSpec[];
  /** A filter chain on the service: every route of it that has no chain of its own. */
  filters?: FilterEntry[];
  plugins?: PluginEntry[];
}

export interface ConsumerSpec {
  username: string;
  custom_id?: string;
  /** key-auth keys (keyauth_credentials, kong/plugins/key-auth/daos.lua). */
  keys?: string[];
}

export interface DeclarativeSpec {
  services: ServiceSpec[];
  consumers?: ConsumerSpec[];
  /**
   * The Kong release: a filter's config is a string on 3.4 (kong/db/schema/entities/filter_chains.lua:31
   * at 3.4.2, `config = { type = "string" }`) and JSON validated by <name>.meta.json from 3.5
   * (filter_chains.lua:62-65 at 3.5.0, `type = "json"`).
   */
  kongVersion: string;
  /**
   * Filters configured as plugins instead of filter chains (Kong 3.9: kong/runloop/wasm/plugins.lua,
   * load_schema: a filter plugin sits on a service or a route, never global nor on a consumer).
   */
  filterPlugins?: { filter: string; route?: string; service?: string; config?: unknown }[];
}

/** A UUID (v5 layout) made from a kind and a name, so that ids are known before Kong starts. */
export function uuidFor(kind: string, name: string): string {
  const h = createHash("sha1").update(`moesif-kong-tests/${kind}/${name}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

const at = (v: string, want: [number, number]) => {
  const [a, b] = v.split(".").map(Number);
  return a > want[0] || (a === want[0] && b >= want[1]);
};

/** A filter's config as this Kong release takes it. */
export function filterConfig(config: unknown, kongVersion: string): unknown {
  if (config === undefined || typeof config === "string") return config;
  return at(kongVersion, [3, 5]) ? config : JSON.stringify(config);
}

const filters = (list: FilterEntry[], version: string) =>
  list.map((f) => ({ name: f.name, enabled: f.enabled ?? true, ...(f.config === undefined ? {} : { config: filterConfig(f.config, version) }) }));

export function declarativeDoc(spec: DeclarativeSpec): Record<string, unknown> {
  const chains: Record<string, unknown>[] = [];
  const plugins: Record<string, unknown>[] = [];
  const services = spec.services.map((s) => {
    const id = uuidFor("service", s.name);
    if (s.filters) chains.push({ name: `${s.name}-chain`, service: id, filters: filters(s.filters, spec.kongVersion) });
    for (const p of s.plugins ?? []) plugins.push({ name: p.name, service: id, ...(p.config ? { config: p.config } : {}) });
    return {
      id, name: s.name, url: s.url,
      routes: s.routes.map((r) => {
        const rid = uuidFor("route", r.name);
        if (r.filters) chains.push({ name: `${r.name}-chain`, route: rid, filters: filters(r.filters, spec.kongVersion) });
        for (const p of r.plugins ?? []) plugins.push({ name: p.name, route: rid, ...(p.config ? { config: p.config } : {}) });
        const route: Record<string, unknown> = { id: rid, name: r.name, strip_path: r.strip_path ?? false };
        for (const k of ["paths", "hosts", "methods", "headers"] as const) if (r[k] !== undefined) route[k] = r[k];
        return route;
      }),
    };
  });
  for (const p of spec.filterPlugins ?? []) {
    plugins.push({
      name: p.filter,
      ...(p.route ? { route: uuidFor("route", p.route) } : {}),
      ...(p.service ? { service: uuidFor("service", p.service) } : {}),
      ...(p.config === undefined ? {} : { config: p.config }),
    });
  }
  const doc: Record<string, unknown> = { _format_version: "3.0", services };
  if (spec.consumers?.length) {
    doc.consumers = spec.consumers.map((c) => ({
      id: uuidFor("consumer", c.username), username: c.username,
      ...(c.custom_id ? { custom_id: c.custom_id } : {}),
      ...(c.keys ? { keyauth_credentials: c.keys.map((key) => ({ key })) } : {}),
    }));
  }
  if (chains.length) doc.filter_chains = chains;
  if (plugins.length) doc.plugins = plugins;
  return doc;
}

/**
 * What Kong checks of such a document before any filter schema, as far as this builder's output
 * goes: a JSON Schema (draft 7, for ajv) of the entities used, each rule from Kong's entity schema.
 * It keeps a test from sending Kong a document whose fault is the builder's, not the filter's.
 */
const UUID = { type: "string", pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$" };
// typedefs.utf8_name / typedefs.name (kong/db/schema/typedefs.lua): no spaces, not empty.
const NAME = { type: "string", pattern: "^[A-Za-z0-9._~-]+$" };
const FILTER = {
  type: "object", required: ["name", "enabled"], additionalProperties: false,
  properties: { name: NAME, enabled: { type: "boolean" }, config: {} },
};
export const DECLARATIVE_SCHEMA = {
  type: "object", required: ["_format_version", "services"], additionalProperties: false,
  properties: {
    _format_version: { const: "3.0" },
    services: {
      type: "array",
      items: {
        type: "object", required: ["id", "name", "url", "routes"], additionalProperties: false,
        properties: {
          id: UUID, name: NAME,
          // services.lua: url is shorthand for protocol, host, port and path.
          url: { type: "string", pattern: "^https?://[^/\\s]+(/\\S*)?$" },
          routes: {
            type: "array",
            items: {
              type: "object", required: ["id", "name", "strip_path"], additionalProperties: false,
              // routes.lua (traditional router): an http route needs at least one of methods, hosts,
              // headers, paths (and snis for https).
              anyOf: [{ required: ["paths"] }, { required: ["hosts"] }, { required: ["methods"] }, { required: ["headers"] }],
              properties: {
                id: UUID, name: NAME, strip_path: { type: "boolean" },
                // A path starts with "/" (or "~" for a regex).
                paths: { type: "array", minItems: 1, items: { type: "string", pattern: "^[/~]" } },
                hosts: { type: "array", minItems: 1, items: { type: "string", minLength: 1 } },
                methods: { type: "array", minItems: 1, items: { type: "string", pattern: "^[A-Z]+$" } },
                headers: { type: "object", additionalProperties: { type: "array", minItems: 1, items: { type: "string" } } },
              },
            },
          },
        },
      },
    },
    consumers: {
      type: "array",
      items: {
        type: "object", required: ["id", "username"], additionalProperties: false,
        properties: {
          id: UUID, username: { type: "string", minLength: 1 }, custom_id: { type: "string", minLength: 1 },
          keyauth_credentials: { type: "array", items: { type: "object", required: ["key"], additionalProperties: false, properties: { key: { type: "string", minLength: 1 } } } },
        },
      },
    },
    filter_chains: {
      type: "array",
      items: {
        // filter_chains.lua: route and service are mutually exclusive, one is required; filters len_min 1.
        type: "object", required: ["name", "filters"], additionalProperties: false,
        oneOf: [{ required: ["route"] }, { required: ["service"] }],
        properties: { name: NAME, route: UUID, service: UUID, filters: { type: "array", minItems: 1, items: FILTER } },
      },
    },
    plugins: {
      type: "array",
      items: {
        type: "object", required: ["name"], additionalProperties: false,
        properties: { name: NAME, route: UUID, service: UUID, config: {} },
      },
    },
  },
} as const;

/** Every id a filter chain or plugin names exists, each route and service has at most one chain (filter_chains.lua: `unique = true`), ids and names are unique. */
export function referenceProblems(doc: any): string[] {
  const problems: string[] = [];
  const routes = new Set<string>();
  const services = new Set<string>();
  const names = new Set<string>();
  const once = (kind: string, key: string) => {
    if (names.has(`${kind}:${key}`)) problems.push(`${kind} ${key} twice`);
    names.add(`${kind}:${key}`);
  };
  for (const s of doc.services ?? []) {
    services.add(s.id);
    once("service", s.name);
    once("id", s.id);
    for (const r of s.routes ?? []) {
      routes.add(r.id);
      once("route", r.name);
      once("id", r.id);
    }
  }
  const chained = new Set<string>();
  for (const c of doc.filter_chains ?? []) {
    const target = c.route ?? c.service;
    if (c.route && !routes.has(c.route)) problems.push(`filter chain ${c.name}: no route ${c.route}`);
    if (c.service && !services.has(c.service)) problems.push(`filter chain ${c.name}: no service ${c.service}`);
    if (chained.has(target)) problems.push(`filter chain ${c.name}: ${target} has a chain already`);
    chained.add(target);
    once("filter_chain", c.name);
  }
  for (const p of doc.plugins ?? []) {
    if (p.route && !routes.has(p.route)) problems.push(`plugin ${p.name}: no route ${p.route}`);
    if (p.service && !services.has(p.service)) problems.push(`plugin ${p.name}: no service ${p.service}`);
  }
  return problems;
}
