// Where the Moesif filter's added cost goes in Kong's real host (issue 23): the nginx worker's CPU
// time per request with no filter, the no-op filter and the Moesif filter, before issue 23's cuts and
// after (bench/gateway-nwm.ts's four gateways, the Kong 3.9 pin), split into the filter's own code, WAMR's crossings, NWM's host
// functions by kind, NWM's filter chain, and nginx.
//
//   npx tsx bench/nwm-profile.ts [--runtime jit|interp] [--requests N] [--rounds R] [--perf-rounds R]
//                                [--rate REQ_PER_S] [--freq HZ] [--verbose]
//
// Prints a markdown paragraph and table: save it as bench/nwm-profile.md, which npm run bench puts
// into BENCHMARKS.md (section 11) as measured; --verbose adds each setup's innermost
// frames by bucket on stderr. Needs perf (Debian: linux-perf) and root (perf on another process,
// uprobes); about 10 minutes at the defaults (JIT), 8 for --runtime interp --requests 10000.
//
// Three passes over the same four gateways, in interleaved rounds of N requests per setup (the
// order rotated every round), at a fixed rate the same for all four:
//  1. CPU time: the worker's scheduler time (/proc/PID/task/*/schedstat, ns) over N requests and the
//     1.2 s after them (the last partial batch leaves within batch_max_wait, 1 s), without perf.
//  2. perf: `perf record -e cpu-clock --call-graph dwarf` on the worker over the same load; every
//     sample is put in one bucket by its call chain (classify()), summed over the rounds.
//  3. Host calls: uprobes (perf probe) on every ngx_proxy_wasm_hfuncs_* and on the calls into wasm,
//     counted by perf stat; removed afterwards.
// A bucket's µs per request is its share of pass 2's samples × pass 1's CPU per request.
//
// The fast JIT's code has no symbols (WAMR writes no perf map for it): a sample whose innermost frame
// is in anonymous executable memory is the filter's compiled code. Host functions are found by the
// frame NWM gives each (ngx_proxy_wasm_hfuncs_*) between the sample and that code. nginx's utility
// functions (pools, lists, hashes, printf) and libc/kernel frames are charged to their caller.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { withGateways, cpuNs, load, median, realHostMissing, SETUPS, Setup, Runtime, KONG, CONNECTIONS } from "./gateway-nwm.ts";
import { nginxBinary } from "../tests/nwm/nginx.ts";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : (process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
};
const runtime = arg("runtime", "jit") as Runtime;
const REQUESTS = Number(arg("requests", "20000"));
const ROUNDS = Number(arg("rounds", "5"));
const PERF_ROUNDS = Number(arg("perf-rounds", "3"));
const FREQ = Number(arg("freq", "2000"));
// A fixed request rate, the same for every setup and under the slowest one's capacity, so that
// nginx's and the kernel's share per request (which grows as wake-ups carry fewer requests) is
// alike in all four and the difference is the filter's. 0: as fast as they go.
const RATE = Number(arg("rate", runtime === "jit" ? "2000" : "1000"));
const VERBOSE = process.argv.includes("--verbose");
const SETTLE_MS = 1200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f = (x: number, d = 2) => x.toFixed(d);

/** The buckets, in the table's order. */
export const BUCKETS = [
  "filter code (wasm)",
  "crossing wasm ↔ host (WAMR calls, NWM's wavm layer and trampoline)",
  "host functions: header maps",
  "host functions: properties",
  "host functions: bodies (get/set buffer)",
  "host functions: log, time, metrics, tick, other",
  "dispatch: batch calls to the collector (host function, connect, send, read)",
  "NWM filter chain (phases, contexts, resuming, body filters)",
  "nginx (HTTP, proxying, event loop; kernel included)",
] as const;
export type Bucket = (typeof BUCKETS)[number];

interface Frame { sym: string; dso: string }

type Kind = "kernel" | "lib" | "jit" | "interp" | "wamr" | "hfunc" | "trampoline" | "wavm" | "dispatch" | "nwm" | "util" | "ngx";

// nginx functions that do a caller's bidding: their time is the caller's.
const UTIL = /^ngx_(palloc\w*|pnalloc|pcalloc|pmemalign|pfree|alloc|calloc|memalign|array_\w+|list_\w+|hash_\w+|str\w*|cpystrn|pstrdup|v?s?n?l?printf\w*|sprintf_num|atoi\w*|atosz|hextoi|rbtree_\w+|create_temp_buf|alloc_chain_link|chain_\w+|get_free_buf|time_update|log_error_core|log_errno|queue_\w+|escape_\w+|encode_\w+|decode_\w+|md5_\w+|crc32\w*|memn2cmp|cpymem|movemem|event_add_timer|event_del_timer|event_timer_\w+)$/;

function kindOf({ sym, dso }: Frame): Kind {
  if (dso.includes("kernel") || dso === "[vdso]") return "kernel";
  if (/perf-\d+\.map|^\[unknown\]$|\/\/anon|\[anon/.test(dso)) return "jit";
  const nginx = /\/sbin\/nginx$/.test(dso);
  if (!nginx || sym.endsWith("@plt")) return "lib";
  if (sym.startsWith("ngx_proxy_wasm_hfuncs_")) return "hfunc";
  if (sym === "ngx_wavm_hfunc_trampoline") return "trampoline";
  if (/^ngx_(wavm|wrt|v8)_/.test(sym)) return "wavm";
  if (/^ngx_(http_proxy_wasm_dispatch|wasm_socket)/.test(sym)) return "dispatch";
  if (/^ngx_(proxy_wasm|http_proxy_wasm|wasm|http_wasm|wa)_/.test(sym)) return "nwm";
  if (UTIL.test(sym)) return "util";
  if (sym.startsWith("ngx_") || sym === "main" || sym === "_start") return "ngx";
  // Everything else linked into nginx is WAMR (and the glue around it); its interpreter's loop runs
  // the filter's code.
  if (/interp_call_func_bytecode|wasm_interp_call_func/.test(sym) && !/native/.test(sym)) return "interp";
  return "wamr";
}

function hfuncBucket(sym: string): Bucket {
  const name = sym.slice("ngx_proxy_wasm_hfuncs_".length);
  if (/header/.test(name)) return "host functions: header maps";
  if (/property/.test(name)) return "host functions: properties";
  if (/buffer/.test(name)) return "host functions: bodies (get/set buffer)";
  if (/dispatch|http_call/.test(name)) return "dispatch: batch calls to the collector (host function, connect, send, read)";
  return "host functions: log, time, metrics, tick, other";
}

// WAMR's helpers that carry out a wasm instruction (bulk memory, memory.grow): the filter's work.
const WAMR_FOR_CODE = /memmove|memset|memcpy|copy_memory|fill_memory|memory_fill|memory_copy|enlarge_memory|memory_grow/;

/** One sample's bucket, from its call chain (innermost frame first). */
export function classify(chain: Frame[]): Bucket {
  const kinds = chain.map(kindOf);
  const first = kinds.findIndex((k) => k !== "kernel" && k !== "lib" && k !== "util");
  if (first < 0) return "nginx (HTTP, proxying, event loop; kernel included)";
  const k0 = kinds[first];
  if (k0 === "jit" || k0 === "interp") return "filter code (wasm)";
  // Inside a host function: the innermost hfunc frame before the wasm code that called it.
  for (let i = 0; i < chain.length; i++) {
    if (kinds[i] === "jit" || kinds[i] === "interp") break;
    if (kinds[i] === "hfunc") return hfuncBucket(chain[i].sym);
    if (kinds[i] === "trampoline") return "crossing wasm ↔ host (WAMR calls, NWM's wavm layer and trampoline)";
  }
  if (k0 === "wamr") {
    // Called from the filter's code (the chain reaches it through WAMR frames only): an instruction's
    // helper, or the way out to a host function.
    const caller = kinds.slice(first).find((k) => k !== "wamr" && k !== "lib" && k !== "kernel");
    if ((caller === "jit" || caller === "interp") && chain.slice(0, first + 1).some((fr) => WAMR_FOR_CODE.test(fr.sym))) return "filter code (wasm)";
    return "crossing wasm ↔ host (WAMR calls, NWM's wavm layer and trampoline)";
  }
  if (kinds.includes("dispatch")) return "dispatch: batch calls to the collector (host function, connect, send, read)";
  if (k0 === "wavm") return "crossing wasm ↔ host (WAMR calls, NWM's wavm layer and trampoline)";
  if (k0 === "nwm" || k0 === "dispatch" || k0 === "hfunc") return "NWM filter chain (phases, contexts, resuming, body filters)";
  return "nginx (HTTP, proxying, event loop; kernel included)";
}

/** perf script's samples: each a call chain, innermost frame first. */
function* samples(file: string): Generator<Frame[]> {
  const r = spawnSync("perf", ["script", "-i", file, "-F", "ip,sym,dso", "--no-inline"], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`perf script: ${r.stderr}`);
  let chain: Frame[] = [];
  for (const line of r.stdout.split("\n")) {
    const m = /^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$/.exec(line);
    if (m) {
      chain.push({ sym: m[1].replace(/\+0x[0-9a-f]+$/, ""), dso: m[2] });
    } else if (line.trim() === "" && chain.length) {
      yield chain;
      chain = [];
    }
  }
  if (chain.length) yield chain;
}

export interface Profile {
  runtime: Runtime;
  requests: number;
  rounds: number;
  perfRounds: number;
  /** The request rate (0: as fast as they go). */
  rate: number;
  /** Per setup: the worker's CPU when idle, µs per second (the filter's tick). */
  idleUsPerS: number[];
  /** Per setup: host-function calls per request by name (wasm_func_call: calls into wasm); null if not counted. */
  calls: Map<string, number>[] | null;
  /** Per setup: median CPU µs per request (pass 1), its rounds, and samples per bucket (pass 2). */
  setups: { setup: Setup; cpuUs: number; cpuRounds: number[]; samples: Map<Bucket, number>; kernel: Map<Bucket, number>; total: number; perfUs: number; top: Map<string, number> }[];
}

async function perfRecord(pid: number, file: string, during: () => Promise<void>): Promise<void> {
  const p = spawn("perf", ["record", "-q", "-e", "cpu-clock", "-F", String(FREQ), "--call-graph", "dwarf,8192", "-p", String(pid), "-o", file], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((r) => p.on("exit", (code) => r(code)));
  await sleep(400); // perf attaches
  try {
    await during();
  } finally {
    p.kill("SIGINT");
    const code = await exited;
    if (code !== 0 && !fs.existsSync(file)) throw new Error(`perf record failed (${code}): ${err}`);
  }
}

export function perfMissing(): string | null {
  const r = spawnSync("perf", ["--version"], { encoding: "utf8" });
  return r.status === 0 ? null : "perf is not installed (Debian: apt-get install linux-perf)";
}

export async function profile(): Promise<Profile> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nwm-profile-"));
  try {
    return await withGateways(runtime, async ({ gateways, pids }) => {
      for (const g of gateways) await load(g.url, { amount: Math.min(REQUESTS, 5000) });
      await sleep(SETTLE_MS);
      const idle0 = pids.map(cpuNs);
      await sleep(2000);
      const idleUsPerS = pids.map((pid, k) => (cpuNs(pid) - idle0[k]) / 1000 / 2);
      // Pass 1: CPU time per request, no profiler attached.
      const cpu: number[][] = SETUPS.map(() => []);
      for (let r = 0; r < ROUNDS; r++) {
        for (let i = 0; i < SETUPS.length; i++) {
          const k = (i + r) % SETUPS.length;
          const c0 = cpuNs(pids[k]);
          const run = await load(gateways[k].url, { amount: REQUESTS, rate: RATE || undefined });
          await sleep(SETTLE_MS);
          cpu[k].push((cpuNs(pids[k]) - c0) / 1000 / run.completed);
          if (run.errors) throw new Error(`${SETUPS[k]}: ${run.errors} errors`);
        }
        if (VERBOSE) console.error(`cpu round ${r + 1}: ${cpu.map((c) => f(c[r])).join(" / ")} µs per request`);
      }
      // Pass 2: perf, the same load.
      const counts = SETUPS.map(() => new Map<Bucket, number>());
      const tops = SETUPS.map(() => new Map<string, number>());
      const kernel = SETUPS.map(() => new Map<Bucket, number>());
      const totals = SETUPS.map(() => 0);
      const perfUs = SETUPS.map(() => [] as number[]);
      for (let r = 0; r < PERF_ROUNDS; r++) {
        for (let i = 0; i < SETUPS.length; i++) {
          const k = (i + r) % SETUPS.length;
          const file = path.join(tmp, `${k}-${r}.data`);
          let completed = 0;
          await perfRecord(pids[k], file, async () => {
            completed = (await load(gateways[k].url, { amount: REQUESTS, rate: RATE || undefined })).completed;
            await sleep(SETTLE_MS);
          });
          let n = 0;
          for (const chain of samples(file)) {
            const b = classify(chain);
            counts[k].set(b, (counts[k].get(b) ?? 0) + 1);
            if (kindOf(chain[0]) === "kernel") kernel[k].set(b, (kernel[k].get(b) ?? 0) + 1);
            n++;
            if (VERBOSE) {
              const leaf = chain.find((fr) => !["kernel", "lib", "util"].includes(kindOf(fr))) ?? chain[0];
              const key = `${b.slice(0, 28)} | ${leaf.sym} (${path.basename(leaf.dso)})`;
              tops[k].set(key, (tops[k].get(key) ?? 0) + 1);
            }
          }
          totals[k] += n;
          perfUs[k].push(((n / FREQ) * 1e6) / completed);
          fs.rmSync(file, { force: true });
        }
        if (VERBOSE) console.error(`perf round ${r + 1} done`);
      }
      const calls = await countCalls(await nginxBinary(KONG, runtime), pids, gateways.map((g) => g.url), Math.min(REQUESTS, 10000));
      const bad = gateways.flatMap((g) => g.badLines());
      if (bad.length) throw new Error(`error.log: ${bad.slice(0, 3).join(" | ")}`);
      return {
        runtime, requests: REQUESTS, rounds: ROUNDS, perfRounds: PERF_ROUNDS, rate: RATE, idleUsPerS, calls,
        setups: SETUPS.map((setup, k) => ({ setup, cpuUs: median(cpu[k]), cpuRounds: cpu[k], samples: counts[k], kernel: kernel[k], total: totals[k], perfUs: median(perfUs[k]), top: tops[k] })),
      };
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const PROBES = "nwmbench";

/**
 * Pass 3: how many times each host function runs per request, and how many calls go from nginx
 * into wasm (wasm_func_call, which the glue routes through ngx_wamr_func_call: the callbacks, and the filter's malloc when a host function hands it
 * data), counted exactly by uprobes (perf probe) on the nginx binary over `requests` requests per
 * setup. The probes are removed afterwards. Null when perf cannot place them.
 */
async function countCalls(binary: string, pids: number[], urls: string[], requests: number): Promise<Map<string, number>[] | null> {
  const nm = spawnSync("nm", [binary], { encoding: "utf8", maxBuffer: 1 << 28 });
  const hfuncs = [...new Set(nm.stdout.split("\n").map((l) => /\s[tT]\s(ngx_proxy_wasm_hfuncs_\w+)$/.exec(l)?.[1]).filter((x): x is string => !!x))];
  spawnSync("perf", ["probe", "-q", "-d", `${PROBES}:*`]);
  const add = spawnSync("perf", ["probe", "-q", "-x", binary, ...hfuncs.flatMap((fn) => ["-a", `${PROBES}:${fn.replace("ngx_proxy_wasm_hfuncs_", "")}=${fn}`]), "-a", `${PROBES}:wasm_func_call=ngx_wamr_func_call`], { encoding: "utf8" });
  if (add.status !== 0) {
    if (VERBOSE) console.error(`perf probe: ${add.stderr}`);
    spawnSync("perf", ["probe", "-q", "-d", `${PROBES}:*`]);
    return null;
  }
  try {
    const result: Map<string, number>[] = [];
    for (let k = 0; k < pids.length; k++) {
      const p = spawn("perf", ["stat", "-x", ",", "-e", `${PROBES}:*`, "-p", String(pids[k])], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      p.stderr!.on("data", (d) => (err += d));
      const exited = new Promise((r) => p.on("exit", r));
      await sleep(400);
      const run = await load(urls[k], { amount: requests, rate: RATE || undefined });
      await sleep(SETTLE_MS);
      p.kill("SIGINT");
      await exited;
      const counts = new Map<string, number>();
      for (const line of err.split("\n")) {
        const [value, , event] = line.split(",");
        if (event?.startsWith(`${PROBES}:`) && /^\d+$/.test(value)) counts.set(event.slice(PROBES.length + 1), Number(value) / run.completed);
      }
      result.push(counts);
    }
    return result;
  } finally {
    spawnSync("perf", ["probe", "-q", "-d", `${PROBES}:*`]);
  }
}

/** The markdown paragraph and table. */
export function render(p: Profile): string {
  const label = p.runtime === "jit" ? "WAMR fast JIT" : "WAMR fast interpreter";
  const [none, noop, before, moesif] = p.setups;
  const us = (s: Profile["setups"][number], b: Bucket) => (s.cpuUs * (s.samples.get(b) ?? 0)) / s.total;
  const added = moesif.cpuUs - noop.cpuUs;
  const addedBefore = before.cpuUs - noop.cpuUs;
  const lines: string[] = [];
  lines.push(`### Where the filter's added cost goes in the real host (${label})`);
  lines.push("");
  lines.push(`The nginx worker's CPU time per request (Kong ${KONG}'s pin, ${label}; ${CONNECTIONS} connections, GET with a small JSON answer, as in §10), measured in two passes of interleaved rounds of ${p.requests.toLocaleString("en")} requests per setup${p.rate ? ` at ${p.rate.toLocaleString("en")} requests/s (the same rate for all four, under the slowest one's capacity: a saturated worker handles more requests per wake-up, so nginx's and the kernel's share per request would differ from setup to setup)` : ", as fast as each goes"}: the worker's scheduler time (\`/proc/PID/task/*/schedstat\`) over the requests and the ${SETTLE_MS / 1000} s after them (so the last batch is sent) in ${p.rounds} rounds without a profiler (the median round), then \`perf record -e cpu-clock --call-graph dwarf\` on the worker in ${p.perfRounds} rounds, each sample put in one bucket by its call chain (\`bench/nwm-profile.ts\`, \`classify()\`): a sample in the fast JIT's code (anonymous executable memory: WAMR names none of it) is the filter's code, as are WAMR's helpers for bulk-memory instructions called from it; a sample under an NWM host function (\`ngx_proxy_wasm_hfuncs_*\`) goes to that function's kind; the dispatch bucket also holds the batch calls' socket work outside the host function; nginx's utility functions (pools, lists, hashes, printf), libc and the kernel are charged to their caller. A bucket's µs is its share of the samples × the CPU per request. The Moesif filter runs twice, side by side: the build issue 23's cuts started from (issue 22's, \`bench/baseline/moesif-issue22.wasm\`: *before*) and \`build/moesif.wasm\` (*after*); the last columns split each one's added CPU (Moesif − no-op).`);
  lines.push("");
  lines.push("| µs of worker CPU per request | no filter | no-op filter | Moesif before | Moesif after | before − no-op | after − no-op | after − before | share of the added cost, after |");
  lines.push("|---|---|---|---|---|---|---|---|---|");
  for (const b of BUCKETS) {
    const d = us(moesif, b) - us(noop, b);
    const db = us(before, b) - us(noop, b);
    lines.push(`| ${b} | ${f(us(none, b))} | ${f(us(noop, b))} | ${f(us(before, b))} | ${f(us(moesif, b))} | ${f(db)} | ${f(d)} | ${f(d - db)} | ${f((100 * d) / added, 0)}% |`);
  }
  lines.push(`| **total** (median round, pass 1) | ${f(none.cpuUs)} | ${f(noop.cpuUs)} | ${f(before.cpuUs)} | ${f(moesif.cpuUs)} | ${f(addedBefore)} | ${f(added)} | ${f(added - addedBefore)} | 100% |`);
  lines.push("");
  const nginxRow = BUCKETS[BUCKETS.length - 1];
  lines.push(`The kernel's part of the nginx row (samples whose innermost frame is the kernel: the sockets to the client and the upstream, epoll): ${p.setups.map((s) => `${s.setup} ${f((100 * (s.kernel.get(nginxRow) ?? 0)) / Math.max(1, s.samples.get(nginxRow) ?? 0), 0)}%`).join(", ")}. Rounds of pass 1 (µs per request): ${p.setups.map((s) => `${s.setup} ${s.cpuRounds.map((x) => f(x, 1)).join(", ")}`).join("; ")}. perf's own count (samples ÷ ${FREQ} Hz ÷ requests, the median round): ${p.setups.map((s) => `${s.setup} ${f(s.perfUs, 1)}`).join(", ")} µs (sampling adds its own cost to the worker); ${p.setups.map((s) => s.total).join(", ")} samples. The Moesif filter costs ${f(moesif.cpuUs / noop.cpuUs)}× the no-op filter's worker CPU per request (before: ${f(before.cpuUs / noop.cpuUs)}×), the no-op filter ${f(noop.cpuUs / none.cpuUs)}× no filter's. An idle worker (no traffic, 2 s) uses ${p.idleUsPerS.map((x, k) => `${f(x, 0)} µs/s (${p.setups[k].setup})`).join(", ")}: the Moesif filter's 20 ms tick, not charged to requests beyond the ${SETTLE_MS / 1000} s after each run.`);
  if (p.calls) {
    const m = p.calls[3];
    // set_header_check is NWM's helper behind the header setters, not a host function of its own.
    const hf = [...m].filter(([k, v]) => k !== "wasm_func_call" && k !== "set_header_check" && v > 0).sort((a, b) => b[1] - a[1]);
    const totalHf = hf.reduce((a, [, v]) => a + v, 0);
    lines.push("");
    lines.push(`Host calls per request, counted exactly (uprobes on the nginx binary, \`perf probe\`, ${Math.min(p.requests, 10000).toLocaleString("en")} requests per setup): the Moesif filter makes ${f(totalHf, 1)} host-function calls per request — ${hf.map(([k, v]) => `${k} ${f(v, v < 0.1 ? 3 : 1)}`).join(", ")} — and nginx calls into wasm ${f(m.get("wasm_func_call") ?? 0, 1)} times per request (callbacks, and the filter's malloc when a host function hands it data; the no-op filter: ${f(p.calls[1].get("wasm_func_call") ?? 0, 1)}; before: ${[...p.calls[2]].filter(([k, v]) => k !== "wasm_func_call" && k !== "set_header_check" && v > 0).reduce((a, [, v]) => a + v, 0).toFixed(1)} host-function calls, ${f(p.calls[2].get("wasm_func_call") ?? 0, 1)} calls into wasm). At the added µs above that is about ${f((BUCKETS.slice(2, 6).reduce((a, b) => a + us(moesif, b) - us(noop, b), 0) + us(moesif, BUCKETS[1]) - us(noop, BUCKETS[1])) / Math.max(totalHf, 1), 2)} µs per host call, crossing included.`);
  }
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("nwm-profile.ts")) {
  const why = realHostMissing() ?? perfMissing();
  if (why) {
    console.log(`Profile skipped: ${why}.`);
  } else {
    const p = await profile();
    console.log(render(p));
    if (VERBOSE) {
      for (const s of p.setups) {
        console.error(`\n${s.setup}: the innermost frames, by bucket`);
        for (const [k, v] of [...s.top].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.error(`${f((100 * v) / s.total, 1).padStart(5)}%  ${k}`);
      }
    }
  }
}
