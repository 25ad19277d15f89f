// The size profile reads the binary itself: its per-function sizes must add up to the code section,
// and the rebuilt named module must be the shipped one (same code bytes), or the profile misleads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { profile, sections, namedBuild, moduleOf, layerOf, SIZE_BUDGET } from "../../bench/size.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

test("size profile: function sizes add up to the code section, names come from the name section", async () => {
  const named = profile(await namedBuild());
  const shipped = profile(readFileSync(`${root}/build/moesif.wasm`));
  assert.equal(named.codeBytes, shipped.codeBytes, "the named rebuild differs from build/moesif.wasm");
  assert.equal(named.functions.length, shipped.functions.length);
  const sum = named.functions.reduce((a, fn) => a + fn.bytes, 0);
  // The section starts with the function count (a LEB128 of 1–2 bytes here).
  assert.ok(named.codeBytes - sum >= 1 && named.codeBytes - sum <= 2, `${named.codeBytes} vs ${sum}`);
  const names = new Set(named.functions.map((fn) => fn.name));
  for (const exp of ["assembly/runtime/exports/proxy_on_log", "assembly/runtime/exports/proxy_on_configure"]) assert.ok(names.has(exp), exp);
  assert.ok(!shipped.functions.some((fn) => fn.name.startsWith("assembly/")), "the shipped build keeps no names");
  const wasm = readFileSync(`${root}/build/moesif.wasm`);
  assert.equal([...sections(wasm)].reduce((a, s) => a + s.size, 0) <= wasm.length, true);
  assert.ok(shipped.textBytes > 0 && shipped.textBytes < shipped.dataBytes);
});

test("size profile: module and layer of a function name", () => {
  assert.equal(moduleOf("assembly/codec/deflate/Deflater#flush"), "assembly/codec/deflate");
  assert.equal(moduleOf("~lib/map/Map<u32,assembly/runtime/context/Context>#set"), "~lib/map");
  assert.equal(moduleOf("start:assembly/filter/root"), "module initialisers");
  assert.equal(moduleOf("~start"), "module initialisers");
  assert.equal(moduleOf("#329"), "unnamed (made by wasm-opt)");
  assert.equal(moduleOf("~instanceof|assembly/codec/json/JsonValue"), "compiler-made helpers");
  assert.equal(layerOf("assembly/codec/deflate"), "assembly/codec");
  assert.equal(layerOf("~lib/rt/tlsf"), "AssemblyScript standard library (~lib)");
});

test(`moesif.wasm stays within its size budget: ${SIZE_BUDGET.toLocaleString("en")} bytes (bench/size.ts says what it is made of)`, () => {
  const bytes = readFileSync(`${root}/build/moesif.wasm`).length;
  assert.ok(bytes <= SIZE_BUDGET, `build/moesif.wasm is ${bytes} bytes, over the ${SIZE_BUDGET}-byte budget (BENCHMARKS.md §4 shows where the bytes are)`);
});
