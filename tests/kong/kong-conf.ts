// The kong.conf a test's Kong starts with, and the environment `kong` runs in. Pure: no Kong here.
//
// Every setting and why, with where Kong defines it (kong/templates/kong_defaults.lua, the defaults
// every kong.conf overrides; line numbers at 3.4.2 unless said):
//  - database = off (line 110: postgres) and declarative_config (line 143): DB-less, the whole
//    configuration in one file Kong reads at start, and POST /config to replace it.
//  - wasm = on, wasm_filters_path: the filters are the `.wasm` files of that folder, each named by
//    its file name without `.wasm` (get_wasm_filters, kong/conf_loader/init.lua:175-199 at 3.9.3),
//    with `<name>.meta.json` beside it for its config schema (kong/runloop/wasm.lua:669 at 3.9.3,
//    :595 at 3.5.0).
//  - proxy_listen / admin_listen on 127.0.0.1 at ports the test chose; admin_gui_listen (line 30:
//    0.0.0.0:8002 and 8445) and status_listen (3.9.3 line 31: 127.0.0.1:8007) off, so no fixed port
//    is taken and nothing listens beyond loopback.
//  - anonymous_reports = off (line 18: on): Kong would otherwise phone home; the tests' only network
//    is loopback.
//  - proxy_access_log / admin_access_log off (lines 4 and 8): nothing a test reads; error.log
//    (proxy_error_log, line 5) is where the filter's lines and nginx's crashes are.
//  - nginx_worker_processes (line 77: auto): 1 where a test needs one worker's figures or its
//    crash; Kong's own processes (3.7+'s dedicated_config_processing agent, 3.9.3 line 185) are not
//    workers and are left as Kong ships them.
//  - plugins (line 15: bundled): bundled, plus `moesif` where Moesif's Lua plugin is installed.
// Nothing else is set: every other option stays as the user's Kong ships it.

export interface KongConfOptions {
  proxyPort: number;
  adminPort: number;
  /** The folder holding the filters (`<name>.wasm` and `<name>.meta.json`). */
  filtersPath: string;
  /** The declarative configuration file (JSON: kong/db/declarative/init.lua:109 parses a name ending in json with cjson). */
  declarativeConfig: string;
  /** nginx worker processes (1 unless a test says otherwise). */
  workers?: number;
  /** Lua plugins to load besides the filters; ["bundled"] by default. */
  plugins?: string[];
  /** error.log's level: info, so that the filter's info lines (debug: true) are there. */
  logLevel?: "debug" | "info" | "notice" | "warn" | "error";
  /** More settings, e.g. nginx_http_client_body_buffer_size. */
  extra?: Record<string, string | number>;
}

/** The settings, in the order they are written. */
export function kongConfEntries(o: KongConfOptions): [string, string][] {
  const entries: [string, string][] = [
    ["database", "off"],
    ["declarative_config", o.declarativeConfig],
    ["wasm", "on"],
    ["wasm_filters_path", o.filtersPath],
    ["proxy_listen", `127.0.0.1:${o.proxyPort}`],
    ["admin_listen", `127.0.0.1:${o.adminPort}`],
    ["admin_gui_listen", "off"],
    ["status_listen", "off"],
    ["stream_listen", "off"],
    ["anonymous_reports", "off"],
    ["proxy_access_log", "off"],
    ["admin_access_log", "off"],
    ["nginx_worker_processes", String(o.workers ?? 1)],
    ["plugins", (o.plugins ?? ["bundled"]).join(",")],
    ["log_level", o.logLevel ?? "info"],
  ];
  for (const [k, v] of Object.entries(o.extra ?? {})) {
    const i = entries.findIndex(([name]) => name === k);
    if (i >= 0) entries[i] = [k, String(v)];
    else entries.push([k, String(v)]);
  }
  for (const [k, v] of entries) {
    // kong.conf is `name = value` per line, `#` starts a comment (penlight's pl.config.read,
    // kong/conf_loader/init.lua:129 at 3.9.3): a value with a line break or a `#` would be cut.
    if (!/^[a-z_][a-z0-9_]*$/.test(k)) throw new Error(`kong.conf: ${JSON.stringify(k)} is no setting name`);
    if (/[\r\n#]/.test(v)) throw new Error(`kong.conf: ${k}'s value ${JSON.stringify(v)} cannot be written on one line`);
  }
  return entries;
}

export function renderKongConf(o: KongConfOptions): string {
  return `# written by tests/kong/kong-conf.ts for one run; see there for why each setting\n${kongConfEntries(o).map(([k, v]) => `${k} = ${v}`).join("\n")}\n`;
}

/**
 * The environment for `kong`: the caller's, without the KONG_* variables that would override what
 * the file sets. Kong merges the file, then KONG_<NAME> variables over it (kong/conf_loader/init.lua:
 * 344-347 at 3.9.3, "merge file conf, ENV variables, and arg conf (with precedence)"): a user's
 * KONG_DATABASE=postgres or KONG_PROXY_LISTEN would otherwise change the test's Kong. The others
 * (KONG_LUA_PACKAGE_PATH for an installed Lua plugin, say) are kept. KONG_PREFIX too goes: the
 * prefix is always given with -p.
 */
export function kongEnv(env: NodeJS.ProcessEnv, o: KongConfOptions): NodeJS.ProcessEnv {
  const set = new Set(kongConfEntries(o).map(([k]) => `KONG_${k.toUpperCase()}`));
  set.add("KONG_PREFIX");
  return Object.fromEntries(Object.entries(env).filter(([k]) => !set.has(k.toUpperCase())));
}

/** The Lua plugins `KONG_PLUGINS` names beside Kong's bundled ones ("bundled,moesif" → ["moesif"]). */
export function extraPlugins(kongPlugins: string | undefined): string[] {
  return (kongPlugins ?? "").split(",").map((p) => p.trim()).filter((p) => p && p !== "bundled" && p !== "off");
}
