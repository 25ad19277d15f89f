// Where moesif.wasm's bytes are: the shipped build made again with its function names kept, then the
// code section's per-function sizes (exact, from the binary) summed by module and by layer, and the
// data section's UTF-16 texts. The starting point of any size work: cut what this shows is large.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root, compile, optimise } from "../scripts/wasm.mjs";

/**
 * moesif.wasm's size budget: issue 23's 110,770 bytes (its size when that issue was filed) plus what
 * issues 29 and 30 added — use_consumer_headers, Kong's properties read in on_request_headers, the
 * delivery core with its clock, in-flight table, retry and fetch schedulers (113,262 bytes) — and
 * a few hundred bytes of headroom. Growth past it has to be paid for by a cut (§4 shows where).
 */
export const SIZE_BUDGET = 113_500;

export interface Section { id: number; size: number; body: Uint8Array }
export interface SizeProfile {
  sections: Map<number, number>;
  functions: { name: string; bytes: number }[];
  codeBytes: number;
  dataBytes: number;
  textBytes: number;
  texts: number;
}

function leb(b: Uint8Array, at: number): [number, number] {
  let v = 0, shift = 0, c: number;
  do {
    c = b[at++];
    v += (c & 0x7f) * 2 ** shift;
    shift += 7;
  } while (c & 0x80);
  return [v, at];
}

export function sections(wasm: Uint8Array): Section[] {
  const out: Section[] = [];
  let at = 8;
  while (at < wasm.length) {
    const id = wasm[at++];
    const [size, start] = leb(wasm, at);
    out.push({ id, size, body: wasm.subarray(start, start + size) });
    at = start + size;
  }
  return out;
}

/** Function names by index, from the "name" custom section's function subsection. */
function functionNames(mod: WebAssembly.Module): Map<number, string> {
  const names = new Map<number, string>();
  for (const section of WebAssembly.Module.customSections(mod, "name")) {
    const body = new Uint8Array(section);
    let at = 0;
    while (at < body.length) {
      const kind = body[at++];
      const [size, start] = leb(body, at);
      if (kind === 1) {
        let [count, p] = leb(body, start);
        for (let i = 0; i < count; i++) {
          const [idx, p1] = leb(body, p);
          const [n, p2] = leb(body, p1);
          names.set(idx, Buffer.from(body.subarray(p2, p2 + n)).toString());
          p = p2 + n;
        }
      }
      at = start + size;
    }
  }
  return names;
}

/** Printable UTF-16LE runs of 8 characters or more: the log and note texts AssemblyScript stores. */
function utf16Texts(data: Uint8Array): { bytes: number; count: number } {
  let bytes = 0, count = 0, i = 0;
  while (i < data.length - 1) {
    let j = i;
    while (j < data.length - 1 && data[j] >= 0x20 && data[j] < 0x7f && data[j + 1] === 0) j += 2;
    if (j - i >= 16) { bytes += j - i; count++; i = j; } else i++;
  }
  return { bytes, count };
}

export function profile(wasm: Uint8Array): SizeProfile {
  const secs = sections(wasm);
  const mod = new WebAssembly.Module(new Uint8Array(wasm));
  const names = functionNames(mod);
  // Function indices count the imported functions first.
  const first = WebAssembly.Module.imports(mod).filter((i) => i.kind === "function").length;
  const code = secs.find((s) => s.id === 10);
  const functions: { name: string; bytes: number }[] = [];
  if (code) {
    let [count, at] = leb(code.body, 0);
    for (let i = 0; i < count; i++) {
      const [size, start] = leb(code.body, at);
      functions.push({ name: names.get(first + i) ?? `#${first + i}`, bytes: start - at + size });
      at = start + size;
    }
  }
  const data = secs.find((s) => s.id === 11);
  const t = utf16Texts(data?.body ?? new Uint8Array());
  const sizes = new Map<number, number>();
  for (const s of secs) sizes.set(s.id, (sizes.get(s.id) ?? 0) + s.size);
  return { sections: sizes, functions, codeBytes: code?.size ?? 0, dataBytes: data?.size ?? 0, textBytes: t.bytes, texts: t.count };
}

/** "assembly/codec/deflate/Deflater#flush" → module "assembly/codec/deflate", layer "assembly/codec". */
export function moduleOf(fn: string): string {
  const core = fn.replace(/^"|"$/g, "").replace(/<.*$/, "");
  if (core.startsWith("start:") || core === "~start") return "module initialisers";
  if (core.startsWith("#")) return "unnamed (made by wasm-opt)";
  if (core.startsWith("~") && !core.startsWith("~lib")) return "compiler-made helpers";
  const slash = core.lastIndexOf("/");
  return slash > 0 ? core.slice(0, slash) : core;
}
export function layerOf(mod: string): string {
  if (mod.startsWith("~lib")) return "AssemblyScript standard library (~lib)";
  return mod.startsWith("assembly/") ? mod.split("/").slice(0, 2).join("/") : mod;
}

/** The shipped filter built again with names kept (same compile and wasm-opt settings). */
export async function namedBuild(): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), "moesif-size-"));
  try {
    const raw = join(dir, "moesif.raw.wasm");
    await compile(join(root, "assembly/index.ts"), raw, ["--debug"]);
    optimise(raw, join(dir, "moesif.wasm"), true);
    return new Uint8Array(readFileSync(join(dir, "moesif.wasm")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
