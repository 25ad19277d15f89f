// The compile and optimise steps of `npm run build`, shared with the size profile (bench/size.ts) so
// that the profile measures exactly what the build ships.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import asc, { libraryFiles } from "assemblyscript/asc";
import binaryen from "binaryen";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");

// The filter's own collector (assembly/runtime/gc.ts) stands in for AssemblyScript's "minimal" one
// (asconfig.json): asc reads its runtime from the library files it carries, so the collector is
// put there under the name the minimal runtime imports. Every module built here gets it.
libraryFiles["rt/tcms"] = readFileSync(join(root, "assembly/runtime/gc.ts"), "utf8");

// The release target sets noAssert (asconfig.json), as asc's own "release build" does: it drops the
// checks asc adds behind `x!` and inside its allocator's invariants, each a branch to a trap that Kong
// would answer with a 500. What can really be missing is tested, never asserted: host results by
// their status, JSON values by their kind (codec/json.ts), bounds of arrays (those checks stay).
// It is 2 KB of the size budget (issue 23: moesif.wasm no larger than 110,770 bytes).
export async function compile(entry, outFile, extra = []) {
  const { error, stderr } = await asc.main(
    [entry, "--config", join(root, "asconfig.json"), "--target", "release", "--outFile", outFile, ...extra],
    { stdout: process.stdout, stderr: process.stderr },
  );
  if (error) {
    console.error(stderr.toString());
    throw new Error(`asc failed for ${entry}: ${error.message}`);
  }
}

/** wasm-opt over rawFile into outFile; keepNames leaves the name section (for the size profile only). */
export function optimise(rawFile, outFile, keepNames = false) {
  const mod = binaryen.readBinary(readFileSync(rawFile));
  // AssemblyScript 0.27 emits bulk-memory, sign-extension and non-trapping conversions.
  mod.setFeatures(binaryen.Features.MVP | binaryen.Features.BulkMemory | binaryen.Features.SignExt |
    binaryen.Features.NontrappingFPToInt | binaryen.Features.MutableGlobals | binaryen.Features.BulkMemoryOpt);
  // Speed over size here: at shrink level 2 wasm-opt stops inlining even one-line accessors
  // (StaticArray#__uset in deflate's and inflate's inner loops), which made gzip 2.8× slower
  // (npm run bench §5) to save under 2 KB. asc's own pass stays at shrink level 1 (asconfig.json):
  // level 0 there adds 11 KB and no speed.
  binaryen.setOptimizeLevel(3);
  binaryen.setShrinkLevel(0);
  binaryen.setLowMemoryUnused(true);
  binaryen.setDebugInfo(keepNames);
  mod.optimize();
  if (!mod.validate()) throw new Error(`wasm-opt output for ${rawFile} does not validate`);
  const out = mod.emitBinary();
  mod.dispose();
  binaryen.setDebugInfo(false);
  writeFileSync(outFile, out);
  return out.length;
}
