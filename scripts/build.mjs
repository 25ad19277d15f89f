// npm run build: compile the filter with asc, optimise it with binaryen's wasm-opt (JavaScript, no
// download), and put moesif.meta.json beside it, where Kong looks for <filter>.meta.json.
import { readFileSync, writeFileSync, copyFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import asc from "assemblyscript/asc";
import binaryen from "binaryen";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const build = join(root, "build");
mkdirSync(build, { recursive: true });

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const versionTs = readFileSync(join(root, "assembly/filter/version.ts"), "utf8");
if (!versionTs.includes(`"${pkg.version}"`)) {
  throw new Error(`assembly/filter/version.ts does not carry package.json's version ${pkg.version}`);
}

async function compile(entry, outFile, extra = []) {
  const { error, stderr } = await asc.main(
    [entry, "--config", join(root, "asconfig.json"), "--target", "release", "--outFile", outFile, ...extra],
    { stdout: process.stdout, stderr: process.stderr },
  );
  if (error) {
    console.error(stderr.toString());
    throw new Error(`asc failed for ${entry}: ${error.message}`);
  }
}

function optimise(rawFile, outFile) {
  const mod = binaryen.readBinary(readFileSync(rawFile));
  // AssemblyScript 0.27 emits bulk-memory, sign-extension and non-trapping conversions.
  mod.setFeatures(binaryen.Features.MVP | binaryen.Features.BulkMemory | binaryen.Features.SignExt |
    binaryen.Features.NontrappingFPToInt | binaryen.Features.MutableGlobals | binaryen.Features.BulkMemoryOpt);
  binaryen.setOptimizeLevel(3);
  binaryen.setShrinkLevel(2);
  binaryen.setLowMemoryUnused(true);
  mod.optimize();
  if (!mod.validate()) throw new Error(`wasm-opt output for ${rawFile} does not validate`);
  const out = mod.emitBinary();
  mod.dispose();
  writeFileSync(outFile, out);
  return out.length;
}

// moesif: the filter. noop: every callback returns Continue, the floor the host imposes (benchmarks).
// probe: a test-only filter that exercises the test host's Kong rules. codecs: the pure codecs,
// exported for property tests against Node's reference implementations (test-only).
const filters = [
  ["assembly/index.ts", "moesif"],
  ["assembly/noop.ts", "noop"],
  ["tests/host/probe/index.ts", "probe"],
  ["tests/codecs/index.ts", "codecs"],
];
for (const [entry, name] of filters) {
  const raw = join(build, `${name}.raw.wasm`);
  await compile(join(root, entry), raw);
  const size = optimise(raw, join(build, `${name}.wasm`));
  console.log(`build/${name}.wasm: ${size} bytes`);
}
copyFileSync(join(root, "kong/moesif.meta.json"), join(build, "moesif.meta.json"));
console.log("build/moesif.meta.json: copied from kong/moesif.meta.json");
