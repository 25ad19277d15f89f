// The folders of assembly/ show a call's way through the filter, and imports must keep to it
// (docs/architecture.md): no import cycle between files, no import that points up the list, and
// only runtime/ speaks to the host's ABI package. Read from the sources, as the compiler sees them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, dirname, relative, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../assembly/", import.meta.url));

/** What each folder may import, besides itself. runtime/ and codec/ know nothing of Moesif. */
const ALLOWED: Record<string, string[]> = {
  runtime: [],
  codec: [],
  delivery: ["codec", "runtime"],
  event: ["codec", "runtime"],
  capture: ["event", "codec", "runtime"],
  governance: ["codec", "runtime"],
  filter: ["capture", "event", "delivery", "governance", "codec", "runtime"],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === "__tests__" ? [] : sources(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^\s*(?:import|export)\s+(?:[^'";]*?\s+from\s+)?["']([^"']+)["']/gm)].map((m) => m[1]);
}

const files = sources(root);
const folder = (file: string) => relative(root, file).split("/").length > 1 ? relative(root, file).split("/")[0] : "(entry)";
const graph = new Map<string, string[]>();
const packages: [string, string][] = [];
for (const f of files) {
  const deps: string[] = [];
  for (const spec of imports(f)) {
    if (!spec.startsWith(".")) {
      packages.push([relative(root, f), spec]);
      continue;
    }
    const target = normalize(join(dirname(f), spec)) + ".ts";
    assert.ok(existsSync(target), `${relative(root, f)} imports ${spec}, which does not exist`);
    deps.push(target);
  }
  graph.set(f, deps);
}

test("every folder of assembly/ is one of the layers", () => {
  const folders = new Set(files.map(folder));
  folders.delete("(entry)");
  assert.deepEqual([...folders].sort(), Object.keys(ALLOWED).sort());
});

/** Imports (as paths relative to assembly/) that point up the layers. */
function layerViolations(edges: [string, string][]): string[] {
  const top = (p: string) => (p.includes("/") ? p.split("/")[0] : "(entry)");
  return edges.filter(([from, to]) => top(from) !== "(entry)" && top(to) !== top(from) && !ALLOWED[top(from)].includes(top(to)))
    .map(([from, to]) => `${from} → ${to}`);
}

/** Every import cycle, as a path of files. */
function cycles(g: Map<string, string[]>): string[] {
  const state = new Map<string, "visiting" | "done">();
  const found: string[] = [];
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "visiting") {
      found.push([...path.slice(path.indexOf(f)), f].join(" → "));
      return;
    }
    state.set(f, "visiting");
    for (const d of g.get(f) ?? []) visit(d, [...path, f]);
    state.set(f, "done");
  };
  for (const f of g.keys()) visit(f, []);
  return found;
}

const rel = new Map([...graph].map(([f, deps]) => [relative(root, f), deps.map((d) => relative(root, d))]));

test("imports point down the layers: filter → capture → event, delivery → codec → runtime", () => {
  assert.deepEqual(layerViolations([...rel].flatMap(([f, deps]) => deps.map((d): [string, string] => [f, d]))), []);
});

test("no import cycle between files", () => {
  assert.deepEqual(cycles(rel), []);
});

test("only runtime/ imports a package (the ABI declarations; the collector, the standard library's runtime parts)", () => {
  for (const [file, spec] of packages) {
    assert.ok(file.startsWith("runtime/"), `${file} imports ${spec}`);
    // gc.ts is compiled as part of the standard library (scripts/wasm.mjs), beside the allocator.
    if (file === "runtime/gc.ts") assert.match(spec, /^~lib\/(rt|util)\//);
    else assert.equal(spec, "@solo-io/proxy-runtime/assembly/imports");
  }
});

/** Every file `file` reaches through its imports (itself included). */
function reach(g: Map<string, string[]>, file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const d of g.get(file) ?? []) reach(g, d, seen);
  return seen;
}

// Delivery is a deterministic core driven by a thin host-facing adapter (issue 30): only the
// adapter (sender.ts) and the metrics it hands over (metrics.ts) may reach the host's functions
// or the host's identity; everything else in delivery/ runs, and is unit-tested, without a host.
const DELIVERY_HOST_FACING = new Set(["delivery/sender.ts", "delivery/metrics.ts"]);
const HOST_MODULES = ["runtime/host.ts", "runtime/hostinfo.ts"];

test("delivery's core reaches no host function nor host global: only its adapter does", () => {
  const offenders: string[] = [];
  for (const f of rel.keys()) {
    if (!f.startsWith("delivery/") || DELIVERY_HOST_FACING.has(f)) continue;
    const reached = [...reach(rel, f)].filter((r) => HOST_MODULES.includes(r));
    if (reached.length > 0) offenders.push(`${f} → ${reached.join(", ")}`);
  }
  assert.deepEqual(offenders, []);
});

test("no class in delivery/ is over 250 lines", () => {
  const long: string[] = [];
  for (const f of files.filter((f) => relative(root, f).startsWith("delivery/"))) {
    const lines = readFileSync(f, "utf8").split("\n");
    lines.forEach((line, i) => {
      if (!/^(export )?(abstract )?class /.test(line)) return;
      const end = lines.findIndex((l, j) => j > i && l === "}");
      if (end - i + 1 > 250) long.push(`${relative(root, f)}:${i + 1} ${line.split("{")[0].trim()} is ${end - i + 1} lines`);
    });
  }
  assert.deepEqual(long, []);
});

test("the checks find what they look for", () => {
  assert.deepEqual([...reach(new Map([["a", ["b"]], ["b", ["c"]], ["c", []]]), "a")], ["a", "b", "c"]);
  assert.deepEqual(layerViolations([["capture/ip.ts", "filter/root.ts"], ["codec/bytes.ts", "event/model.ts"], ["filter/root.ts", "capture/ip.ts"]]),
    ["capture/ip.ts → filter/root.ts", "codec/bytes.ts → event/model.ts"]);
  assert.deepEqual(cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]])), ["a → b → c → a"]);
});
