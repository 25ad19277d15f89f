// npm run build: compile the filter with asc, optimise it with binaryen's wasm-opt (JavaScript, no
// download), and put moesif.meta.json beside it, where Kong looks for <filter>.meta.json.
import { readFileSync, copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { root, compile, optimise } from "./wasm.mjs";

const build = join(root, "build");
mkdirSync(build, { recursive: true });

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const versionTs = readFileSync(join(root, "assembly/filter/version.ts"), "utf8");
if (!versionTs.includes(`"${pkg.version}"`)) {
  throw new Error(`assembly/filter/version.ts does not carry package.json's version ${pkg.version}`);
}

// moesif: the filter. noop: every callback returns Continue, the floor the host imposes (benchmarks).
// probe: a test-only filter that exercises the test host's Kong rules. codecs: the pure codecs,
// exported for property tests against Node's reference implementations (test-only). gc: the
// collector under random churn (test-only). config: the configuration parser with a dump of its
// result (test-only).
const filters = [
  ["assembly/index.ts", "moesif"],
  ["assembly/noop.ts", "noop"],
  ["tests/host/probe/index.ts", "probe"],
  ["tests/codecs/index.ts", "codecs"],
  ["tests/gc/index.ts", "gc"],
  ["tests/config/index.ts", "config"],
];
for (const [entry, name] of filters) {
  const raw = join(build, `${name}.raw.wasm`);
  await compile(join(root, entry), raw);
  const size = optimise(raw, join(build, `${name}.wasm`));
  console.log(`build/${name}.wasm: ${size} bytes`);
}
copyFileSync(join(root, "kong/moesif.meta.json"), join(build, "moesif.meta.json"));
console.log("build/moesif.meta.json: copied from kong/moesif.meta.json");
