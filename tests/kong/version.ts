// The Kong release a `kong` executable is, from what `kong version` prints. Pure: no Kong here.
//
// kong/cmd/version.lua (3.4.2 … 3.9.3): without -a it prints `meta._VERSION` alone ("3.9.3"); with
// -a, "Kong: 3.9.3" first. Kong Enterprise's meta adds a fourth part ("3.4.3.12"): the first three
// are the OSS release its Wasm host follows.
import { versionAtLeast } from "../host/nwm.ts";

export { versionAtLeast };

/** "3.9.3" from `kong version`'s output, or null when it names no release. */
export function parseKongVersion(stdout: string): string | null {
  const m = /(?:^|[^\d.])(\d+)\.(\d+)\.(\d+)(?:\.\d+)?(?![\d.])/m.exec(stdout);
  return m ? `${m[1]}.${m[2]}.${m[3]}` : null;
}

/** Why this suite cannot run on a release, or null: Kong ships its Wasm host (ngx_wasm_module) in OSS 3.4–3.9. */
export function unsupportedRelease(version: string): string | null {
  if (!versionAtLeast(version, "3.4.0")) return `Kong ${version} has no proxy-wasm host (filters came in 3.4)`;
  if (versionAtLeast(version, "3.10.0")) return `Kong ${version}: Kong removed its WebAssembly engine from default builds after 3.9`;
  return null;
}

/** What each release gives a filter, as the README's Compatibility table says. */
export interface KongProfile {
  /** 3.5+: a filter's `config` is JSON checked against <name>.meta.json; 3.4: a string only (kong/db/schema/entities/filter_chains.lua:31 at 3.4.2). */
  jsonConfig: boolean;
  /** 3.5+: DB-less POST /config validates a declarative document with the filter's schema (kong/runloop/wasm.lua:595 at 3.5.0 reads the meta file). */
  configValidation: boolean;
  /** 3.6+: kong.route_id and kong.service_id (register_property_handlers, kong/runloop/wasm.lua). */
  routeIds: boolean;
  /** 3.9+: kong.route_name and kong.service_name (kong/runloop/wasm.lua:851-874 at 3.9.3). */
  routeNames: boolean;
  /** 3.9+: a filter is also a plugin, `/plugins` entry (kong/runloop/wasm/plugins.lua, first at 3.9.0). */
  filterPlugins: boolean;
  /** 3.6+: the filter fetches /v1/config and /v1/rules (README Compatibility ¹: not on 3.4/3.5). */
  rulesLoad: boolean;
  /** 3.8+: a request body that arrives after its headers is answered (README Compatibility ³). */
  lateBodyAnswered: boolean;
}

export function kongProfile(version: string): KongProfile {
  const at = (v: string) => versionAtLeast(version, v);
  return {
    jsonConfig: at("3.5.0"),
    configValidation: at("3.5.0"),
    routeIds: at("3.6.0"),
    routeNames: at("3.9.0"),
    filterPlugins: at("3.9.0"),
    rulesLoad: at("3.6.0"),
    lateBodyAnswered: at("3.8.0"),
  };
}
