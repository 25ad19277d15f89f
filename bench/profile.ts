// Where the filter's own time goes: V8's sampling profiler (node:inspector) over a scenario run on
// the shipped build made again with its function names kept (bench/size.ts: same code bytes), its
// samples in wasm frames summed by function and by what the function is for. What a missed speed
// target is made of, in every `npm run bench`.
import { Session } from "node:inspector/promises";
import { moduleOf, layerOf } from "./size.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

export interface TimeProfile {
  /** Microseconds of samples in each wasm function's own code (callees excluded). */
  functions: Map<string, number>;
  /** All samples in wasm code. */
  wasmUs: number;
  /** Microseconds of wasm samples under each exported callback (proxy_on_…, malloc): inclusive. */
  callbacks: Map<string, number>;
}

/** Runs `work` under V8's sampling profiler and keeps the samples that fell in wasm code. */
export async function profileWasm(work: () => Promise<void>, intervalUs = 50): Promise<TimeProfile> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: intervalUs });
    await session.post("Profiler.start");
    await work();
    const { profile } = (await session.post("Profiler.stop")) as unknown as { profile: CpuProfile };
    return wasmSelfTime(profile);
  } finally {
    session.disconnect();
  }
}

const isWasm = (n: ProfileNode) => n.callFrame.url.startsWith("wasm://") || n.callFrame.functionName.startsWith("js-to-wasm");

const EXPORT = /(?:^|\/)(proxy_on_\w+|malloc)"?$/;

export function wasmSelfTime(p: CpuProfile): TimeProfile {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const functions = new Map<string, number>();
  const callbacks = new Map<string, number>();
  let wasmUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    if (!n || !isWasm(n)) continue;
    const dt = p.timeDeltas[i] ?? 0;
    wasmUs += dt;
    const name = n.callFrame.functionName || "(unnamed)";
    functions.set(name, (functions.get(name) ?? 0) + dt);
    // The callback the host called: the outermost exported function on the sample's stack.
    let callback = "(no callback on the stack)";
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const m = EXPORT.exec(byId.get(id)?.callFrame.functionName ?? "");
      if (m) callback = m[1];
    }
    callbacks.set(callback, (callbacks.get(callback) ?? 0) + dt);
  }
  return { functions, wasmUs, callbacks };
}

/**
 * What a function's time is for: AssemblyScript's allocator and collector apart from the rest of
 * its library (the first is what an arena would remove), then the project's layers.
 */
export function purposeOf(fn: string): string {
  const core = fn.replace(/^"|"$/g, "");
  if (/^~lib\/rt\//.test(core) || /^~lib\/(typedarray|arraybuffer|staticarray|array)\/.*#constructor/.test(core)) return "allocation and collection (~lib/rt, constructors)";
  if (core.startsWith("~lib/")) return "AssemblyScript standard library, other";
  if (core.startsWith("js-to-wasm") || core.startsWith("wasm-to-js")) return "crossing to and from the host";
  return layerOf(moduleOf(core));
}

export function sumBy(p: TimeProfile, key: (fn: string) => string): [string, number][] {
  const m = new Map<string, number>();
  for (const [fn, us] of p.functions) m.set(key(fn), (m.get(key(fn)) ?? 0) + us);
  return [...m].sort((a, b) => b[1] - a[1]);
}
