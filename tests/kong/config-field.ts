// Which field an invalid example configuration is about, so that a test can ask that Kong's refusal
// names it. Pure. The examples (kong/examples/config/invalid/) each get one thing wrong: a config
// that is no object is wrong as a whole ("config"); {} lacks application_id; otherwise the field
// is the one key beside application_id or, when application_id is alone, application_id itself.
export function fieldOfInvalidExample(config: unknown): string {
  if (typeof config !== "object" || config === null || Array.isArray(config)) return "config";
  const keys = Object.keys(config);
  const others = keys.filter((k) => k !== "application_id");
  return others.length ? others[others.length - 1] : "application_id";
}

/**
 * Whether Kong's 400 names the field. Kong's filter config errors come from its JSON schema
 * validator (lua-resty-ljsonschema: "property X validation failed: …", "property X is required",
 * "additional properties forbidden, found X"), put under the filter's `config` in the error tree
 * (kong/db/errors.lua, declarative_config / declarative_config_flattened); a whole config of the
 * wrong type is reported against `config` itself.
 */
export function namesField(body: unknown, field: string): boolean {
  const text = JSON.stringify(body);
  if (field === "config") return /config/.test(text);
  return new RegExp(`\\b${field.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`).test(text);
}
