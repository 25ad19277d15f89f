// What a Kong operator deploys, checked without a Kong or a cluster: every file under kong/ parses;
// the filter's parser and moesif.meta.json (with a real draft-4 validator) agree on every example;
// every configuration inside the deployment files is valid and starts the filter with no error;
// the Kubernetes manifests fit Kong's CRDs and the Helm values exist in the official chart.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, basename, extname } from "node:path";
import Ajv04 from "ajv-draft-04";
import { Ajv } from "ajv";
import { parse as parseYaml } from "yaml";
import { KongWasmHost } from "../host/kong-host.ts";
import { moesifWasm, assertHostClean } from "../support/harness.ts";
import { root, kongDir, files, yamlDocs, kongConf, chartKeys, crdFile, REFERENCE_MISSING } from "./kongfiles.ts";

const meta = JSON.parse(readFileSync(join(kongDir, "moesif.meta.json"), "utf8"));
// A list is ["array", "object"] (Kong hands an empty list over as {}): a union type.
const ajv04 = new (Ajv04 as unknown as typeof Ajv)({ allErrors: true, allowUnionTypes: true });
const validateConfig = ajv04.compile(meta.config_schema);

/** The filter's own verdict: start it in the Kong-like host with this configuration text. */
function filterVerdict(configText: string): { ok: boolean; errors: string[] } {
  const host = new KongWasmHost(moesifWasm(), [{ name: "moesif", config: configText }], { autoTick: false });
  host.start();
  host.stop();
  assertHostClean(host);
  const errors = host.logs.filter((l) => l.level === "error" || l.level === "crit").map((l) => l.message);
  return { ok: errors.length === 0, errors };
}

describe("files under kong/", () => {
  test("every JSON and YAML file parses", () => {
    const all = files(kongDir);
    assert.ok(all.length > 10);
    for (const f of all) {
      if (extname(f) === ".json") JSON.parse(readFileSync(f, "utf8"));
      else if ([".yml", ".yaml"].includes(extname(f))) yamlDocs(f);
    }
  });

  test("npm run build puts the same moesif.meta.json beside moesif.wasm, and the binary fits a ConfigMap", () => {
    assert.equal(readFileSync(join(root, "build/moesif.meta.json"), "utf8"), readFileSync(join(kongDir, "moesif.meta.json"), "utf8"));
    const size = statSync(join(root, "build/moesif.wasm")).size;
    const meta = statSync(join(root, "build/moesif.meta.json")).size;
    // binaryData is base64 in the object; a ConfigMap holds at most 1 MiB.
    assert.ok(((size + meta) * 4) / 3 < 1024 * 1024 - 4096, `moesif.wasm is ${size} bytes`);
  });
});

describe("moesif.meta.json and the filter's parser agree", () => {
  const props: Record<string, any> = meta.config_schema.properties;

  test("the schema is draft-4, requires application_id, refuses unknown fields, and documents every field", () => {
    assert.equal(meta.config_schema.$schema, "http://json-schema.org/draft-04/schema#");
    assert.deepEqual(meta.config_schema.required, ["application_id"]);
    assert.equal(meta.config_schema.additionalProperties, false);
    for (const [name, p] of Object.entries(props)) {
      assert.ok(typeof p.description === "string" && p.description.length > 10, `${name} has a description`);
      if (name !== "application_id") assert.ok("default" in p, `${name} documents its default`);
      if (p.type === "integer") assert.ok("minimum" in p && "maximum" in p, `${name} has a range`);
    }
  });

  for (const kind of ["valid", "invalid"] as const) {
    const dir = join(kongDir, "examples", "config", kind);
    for (const file of readdirSync(dir)) {
      test(`${kind}/${file}: same verdict from the schema and the filter`, () => {
        const text = readFileSync(join(dir, file), "utf8");
        const schemaOk = validateConfig(JSON.parse(text)) as boolean;
        const filter = filterVerdict(text);
        assert.equal(schemaOk, kind === "valid", `schema: ${ajv04.errorsText(validateConfig.errors)}`);
        assert.equal(filter.ok, kind === "valid", `filter: ${filter.errors.join("; ")}`);
      });
    }
  }

  test("field by field: each default is accepted, each wrong type and out-of-range value refused, by both", () => {
    const base = { application_id: "x" };
    const cases: [string, Record<string, unknown>, boolean][] = [];
    for (const [name, p] of Object.entries(props)) {
      if (name === "application_id") continue;
      cases.push([`${name} default`, { ...base, [name]: p.default }, true]);
      // A list is "array" or, empty, "object": Kong hands the filter an empty list as {}.
      const list = Array.isArray(p.type) && p.type.includes("array");
      const wrong = p.type === "string" ? 1 : list ? "x" : p.type === "boolean" ? "true" : "1";
      cases.push([`${name} wrong type`, { ...base, [name]: wrong }, false]);
      cases.push([`${name} null`, { ...base, [name]: null }, false]);
      if (p.type === "integer") {
        cases.push([`${name} minimum`, { ...base, [name]: p.minimum }, true]);
        cases.push([`${name} maximum`, { ...base, [name]: p.maximum }, true]);
        cases.push([`${name} below`, { ...base, [name]: p.minimum - 1 }, false]);
        cases.push([`${name} above`, { ...base, [name]: p.maximum + 1 }, false]);
        cases.push([`${name} fraction`, { ...base, [name]: p.minimum + 0.5 }, false]);
      }
      if (list) {
        cases.push([`${name} with a number`, { ...base, [name]: ["a", 2] }, false]);
        cases.push([`${name} as {}`, { ...base, [name]: {} }, true]);
        cases.push([`${name} as a non-empty object`, { ...base, [name]: { a: "b" } }, false]);
      }
    }
    for (const [what, config, expected] of cases) {
      assert.equal(validateConfig(config), expected, `schema on ${what}`);
      assert.equal(filterVerdict(JSON.stringify(config)).ok, expected, `filter on ${what}`);
    }
  });
});

/** Every filter configuration in the deployment files, with where it came from. */
function deployedConfigs(): { where: string; config: unknown }[] {
  const out: { where: string; config: unknown }[] = [];
  const fromDeclarative = (where: string, doc: any) => {
    for (const chain of doc.filter_chains ?? []) {
      for (const f of chain.filters) out.push({ where: `${where} ${chain.name}`, config: f.config });
    }
  };
  fromDeclarative("kong/kong.yml", yamlDocs(join(kongDir, "kong.yml"))[0]);
  fromDeclarative("kong/k8s/values-dbless.yaml", parseYaml(yamlDocs(join(kongDir, "k8s/values-dbless.yaml"))[0].dblessConfig.config));
  const k8s = yamlDocs(join(kongDir, "k8s/kongplugin.yaml"));
  for (const plugin of k8s.filter((d) => d.kind === "KongPlugin")) {
    // Apply configPatches as the ingress controller does, from the Secret in the same file.
    const config = structuredClone(plugin.config ?? {});
    for (const p of plugin.configPatches ?? []) {
      const secret = k8s.find((d) => d.kind === "Secret" && d.metadata.name === p.valueFrom.secretKeyRef.name);
      assert.ok(secret, `secret ${p.valueFrom.secretKeyRef.name}`);
      config[p.path.replace(/^\//, "")] = secret.stringData[p.valueFrom.secretKeyRef.key];
    }
    out.push({ where: `kong/k8s/kongplugin.yaml ${plugin.metadata.name}`, config });
  }
  const envoy = yamlDocs(join(kongDir, "envoy.yaml"))[0];
  for (const l of envoy.static_resources.listeners) {
    for (const chain of l.filter_chains) {
      for (const f of chain.filters) {
        for (const hf of f.typed_config.http_filters ?? []) {
          if (hf.name === "envoy.filters.http.wasm") out.push({ where: "kong/envoy.yaml", config: JSON.parse(hf.typed_config.config.configuration.value) });
        }
      }
    }
  }
  return out;
}

describe("the configurations in the deployment files", () => {
  test("each validates against moesif.meta.json and starts the filter with no error line", () => {
    const configs = deployedConfigs();
    assert.ok(configs.length >= 5, `${configs.length} configurations found`);
    for (const { where, config } of configs) {
      assert.ok(validateConfig(config), `${where}: ${ajv04.errorsText(validateConfig.errors)}`);
      const verdict = filterVerdict(JSON.stringify(config));
      assert.ok(verdict.ok, `${where}: ${verdict.errors.join("; ")}`);
    }
  });

  test("kong.yml: DB-less format 3.0, filter chains on a service and on a route, named after the built .wasm", () => {
    const doc = yamlDocs(join(kongDir, "kong.yml"))[0];
    assert.equal(doc._format_version, "3.0");
    const serviceNames = doc.services.map((s: any) => s.name);
    const routeNames = doc.services.flatMap((s: any) => s.routes.map((r: any) => r.name));
    const chains = doc.filter_chains;
    assert.ok(chains.some((c: any) => serviceNames.includes(c.service) && c.route === undefined));
    assert.ok(chains.some((c: any) => routeNames.includes(c.route) && c.service === undefined));
    const wasmName = basename(join(root, "build/moesif.wasm"), ".wasm");
    for (const c of chains) {
      assert.ok(c.filters.length >= 1);
      for (const f of c.filters) assert.equal(f.name, wasmName);
    }
  });

  test("kong.conf turns on wasm, the filters path, the body buffer and Kong's resolver", () => {
    const conf = kongConf(join(kongDir, "kong.conf"));
    assert.equal(conf.wasm, "on");
    assert.ok(conf.wasm_filters_path.startsWith("/"));
    assert.match(conf.nginx_http_client_body_buffer_size, /^\d+k$/);
    assert.ok(Number(conf.nginx_http_client_body_buffer_size.slice(0, -1)) * 1024 >= meta.config_schema.properties.request_max_body_size_limit.default);
    assert.equal(conf.nginx_wasm_proxy_wasm_lua_resolver, "on");
  });

  test("envoy.yaml: the filter's upstream is one of Envoy's clusters, and it loads moesif.wasm", () => {
    const envoy = yamlDocs(join(kongDir, "envoy.yaml"))[0];
    const clusters = envoy.static_resources.clusters.map((c: any) => c.name);
    const configs = deployedConfigs().filter((c) => c.where === "kong/envoy.yaml");
    assert.equal(configs.length, 1);
    assert.ok(clusters.includes((configs[0].config as any).upstream));
    const text = readFileSync(join(kongDir, "envoy.yaml"), "utf8");
    assert.match(text, /filename: \S+\/moesif\.wasm/);
  });
});

describe("Kubernetes", () => {
  test("a global KongClusterPlugin is not how this filter is attached (Kong refuses global filters)", () => {
    const all = files(join(kongDir, "k8s")).flatMap((f) => ([".yml", ".yaml"].includes(extname(f)) ? yamlDocs(f) : []));
    assert.ok(!all.some((d) => d?.kind === "KongClusterPlugin"));
  });

  test("Service, Ingress and HTTPRoute carry the annotation naming the KongPlugin", () => {
    const plugin = yamlDocs(join(kongDir, "k8s/kongplugin.yaml")).find((d) => d.kind === "KongPlugin");
    const docs = yamlDocs(join(kongDir, "k8s/attach.yaml"));
    const kinds = docs.map((d) => `${d.apiVersion} ${d.kind}`);
    assert.deepEqual(kinds, ["v1 Service", "networking.k8s.io/v1 Ingress", "gateway.networking.k8s.io/v1 HTTPRoute"]);
    for (const d of docs) {
      assert.equal(d.metadata.annotations["konghq.com/plugins"], plugin.metadata.name);
      assert.equal(d.metadata.namespace, plugin.metadata.namespace, "a KongPlugin applies within its namespace");
    }
  });
});

// Against Kong's own definitions, read from ../shared/reference/ (kongfiles.ts): skipped as a whole,
// one line, where that folder is not beside the repository.
describe("Kubernetes, against Kong's KongPlugin CRD and Helm chart (../shared/reference)", { skip: REFERENCE_MISSING }, () => {
  const crd = (file: string) => {
    const doc = yamlDocs(crdFile(file))[0];
    const version = doc.spec.versions.find((v: any) => v.storage) ?? doc.spec.versions[0];
    return { group: doc.spec.group, version: version.name, kind: doc.spec.names.kind, schema: version.schema.openAPIV3Schema };
  };
  const ajv = new Ajv({ strict: false, allErrors: true });

  test("the KongPlugin fits Kong's CRD, including its CEL rules", () => {
    const kp = crd("configuration.konghq.com_kongplugins.yaml");
    const validate = ajv.compile(kp.schema);
    const plugins = yamlDocs(join(kongDir, "k8s/kongplugin.yaml")).filter((d) => d.kind === "KongPlugin");
    assert.equal(plugins.length, 1);
    for (const p of plugins) {
      assert.equal(p.apiVersion, `${kp.group}/${kp.version}`);
      const fits = validate(structuredClone(p)) as boolean;
      assert.ok(fits, ajv.errorsText(validate.errors));
      assert.equal(p.plugin, "moesif", "plugin names the filter");
      // x-kubernetes-validations (CEL) are not JSON Schema: the two that matter, by hand.
      assert.ok(!(p.config && p.configFrom), "config and configFrom are not both set");
      assert.ok(!(p.configFrom && p.configPatches), "configFrom and configPatches are not both set");
    }
  });

  for (const file of ["values.yaml", "values-dbless.yaml", "values-cp.yaml", "values-dp.yaml"]) {
    test(`${file}: every key exists in the official chart's values.yaml`, () => {
      const known = chartKeys();
      const values = yamlDocs(join(kongDir, "k8s", file))[0];
      const check = (v: any, prefix: string) => {
        for (const [k, x] of Object.entries(v)) {
          const path = prefix + k;
          assert.ok(known.has(path), `${file}: ${path} is not a key of the chart`);
          // env.* become KONG_* variables: any kong.conf name is fine there.
          if (path !== "env" && x && typeof x === "object" && !Array.isArray(x)) check(x, `${path}.`);
        }
      };
      check(values, "");
      assert.equal(values.image.tag, "3.9");
      assert.equal(values.env.wasm, "on");
      const volume = values.deployment.userDefinedVolumes[0];
      const mount = values.deployment.userDefinedVolumeMounts[0];
      assert.equal(mount.name, volume.name);
      assert.equal(mount.mountPath, values.env.wasm_filters_path, "the ConfigMap is mounted where Kong looks for filters");
      assert.equal(volume.configMap.name, "moesif-filter");
    });
  }
});
