// Reading what a Kong operator deploys (kong/, the Dockerfile) and what Kong itself defines: shared
// by the packaging tests. Kong's own files (its Helm chart's values.yaml and the KongPlugin CRD) are
// not copied into this repository: they are read from ../shared/reference/ (helm/, crds/) beside
// it when that folder is there, and the tests that need them are skipped, in one line, when not.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse as parseYaml } from "yaml";

export const root = fileURLToPath(new URL("../..", import.meta.url));
export const kongDir = join(root, "kong");
/** Reference notes beside the repository (read only, and only by tests). */
const referenceDir = join(root, "..", "shared", "reference");
export const CHART_VALUES = join(referenceDir, "helm", "kong-chart-3.4.1-values.yaml");
export const crdFile = (name: string) => join(referenceDir, "crds", name);
/** Why the checks against Kong's chart and CRD cannot run, or false when they can. */
export const REFERENCE_MISSING: string | false =
  existsSync(CHART_VALUES) && existsSync(crdFile("configuration.konghq.com_kongplugins.yaml")) ? false
    : "no ../shared/reference/helm and crds beside the repository (Kong's chart values.yaml and KongPlugin CRD are not copied into it)";

export function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

export function yamlDocs(path: string): any[] {
  const docs = parseAllDocuments(readFileSync(path, "utf8"));
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${path}: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS());
}

/** A kong.conf file's settings (`name = value` lines; comments and blank lines skipped). */
export function kongConf(path: string): Record<string, string> {
  return Object.fromEntries(readFileSync(path, "utf8").split("\n")
    .filter((l) => /^\s*[a-z_]+\s*=/.test(l)).map((l) => {
      const eq = l.indexOf("=");
      return [l.slice(0, eq).trim(), l.slice(eq + 1).trim()];
    }));
}

/** Key paths of the official chart's values.yaml, including keys it documents in comments (# key:). */
export function chartKeys(): Set<string> {
  const keys = new Set<string>();
  const walk = (v: any, prefix: string) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v)) {
        keys.add(prefix + k);
        walk(x, `${prefix}${k}.`);
      }
    }
  };
  const text = readFileSync(CHART_VALUES, "utf8");
  walk(parseYaml(text), "");
  const stack: { indent: number; key: string }[] = [];
  for (const line of text.split("\n")) {
    const real = /^(\s*)([A-Za-z_][\w-]*):/.exec(line);
    const commented = /^(\s*)#\s?([A-Za-z_][\w-]*):/.exec(line);
    const m = real ?? commented;
    if (!m) continue;
    const indent = m[1].length;
    while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
    const path = [...stack.map((s) => s.key), m[2]].join(".");
    if (commented) keys.add(path);
    else stack.push({ indent, key: m[2] });
  }
  return keys;
}
