#!/usr/bin/env node
// Builds Kong's real proxy-wasm host: nginx 1.25.3 + ngx_wasm_module (NWM,
// unmodified, one binary per Kong pin) + WAMR behind NWM's "v8" backend,
// through the glue in ./glue. Offline: only the vendored, checksummed
// tarballs are used. See README.md in this folder.
//
//   node scripts/nwm/build.mjs [--kong 3.9|all] [--runtime jit|interp]
//                              [--sources DIR] [--cache DIR]
//
// The last stdout line is the absolute path of the nginx binary (one line
// per pin with --kong all). Exit codes: 3 no source folder, 2 missing build
// requirements, 1 anything else.

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "../..");
const GLUE = path.join(HERE, "glue");
const DEFAULT_SOURCES = path.join(REPO, "../shared/vendor");
// Part of every stamp: bump it when the build steps change in a way the
// flags below do not show.
const RECIPE = 1;

/** Kong release → the NWM commit its .requirements pins. */
export const KONG_PINS = {
  "3.4": "21732b18", // 3.4.2 (3.4.0 had prerelease-0.1.0)
  "3.5": "21732b18",
  "3.6": "a7087a37",
  "3.7": "91d447ff",
  "3.8": "96b4e27e",
  "3.9": "9136e463",
};
export const PINS = [...new Set(Object.values(KONG_PINS))];
export const RUNTIMES = ["interp", "jit"];

const NGINX = "nginx-1.25.3.tar.gz";
const WAMR = "wamr-2.4.5-core.tar.gz";
const ASMJIT = "asmjit-c1019f16.tar.gz"; // the commit WAMR's fast JIT pins
const nwmTarball = (pin) => `ngx_wasm_module-${pin}.tar.gz`;

// NWM's `config` (v8 case) adds -latomic to the link from 91d447ff on; the
// same commit renamed the addon ngx_wasm_module -> ngx_wasmx_module, which
// needs nothing here (--add-module takes the folder). Nothing else differs
// between the pins as far as this build is concerned.
const NEEDS_LATOMIC = new Set(["91d447ff", "96b4e27e", "9136e463"]);

// WAMR 2.4.5, static library, wasm-c-api.
const WAMR_FLAGS = [
  "-DCMAKE_BUILD_TYPE=Release",
  "-DBUILD_SHARED_LIBS=OFF",
  "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
  "-DWAMR_BUILD_PLATFORM=linux",
  "-DWAMR_BUILD_INTERP=1",
  "-DWAMR_BUILD_AOT=0",
  "-DWAMR_BUILD_JIT=0",
  "-DWAMR_BUILD_LIBC_BUILTIN=0", // NWM provides its own WASI and env imports
  "-DWAMR_BUILD_LIBC_WASI=0",
  "-DWAMR_BUILD_BULK_MEMORY=1",
  "-DWAMR_BUILD_SIMD=0",
  // Guard-page bounds checks ON: linear memory then grows in place (as with
  // V8 or Wasmtime). With software checks WAMR reallocs it, and NWM's
  // proxy_get_header_map_pairs writes through addresses taken before the
  // filter's malloc grew memory: workers crashed.
  "-DWAMR_DISABLE_HW_BOUND_CHECK=0",
  // ...but no guard pages on the native stack (WAMR checks it in software).
  "-DWAMR_DISABLE_STACK_HW_BOUND_CHECK=1",
  // WAMR's invokeNative_em64.s has no .note.GNU-stack: without this the
  // linker marks nginx as needing an executable stack.
  "-DCMAKE_ASM_FLAGS=-Wa,--noexecstack",
];
const WAMR_RUNTIME_FLAGS = {
  interp: ["-DWAMR_BUILD_FAST_INTERP=1", "-DWAMR_BUILD_FAST_JIT=0"],
  // Fast JIT (asmjit). WAMR's fast-jit/iwasm_fast_jit.cmake would git-clone
  // asmjit; FetchContent takes the vendored copy instead and never goes online.
  // Eager, not lazy: the compile threads must be done when a module load
  // returns (no threads left running across nginx's fork, and the glue can
  // re-seat the crash handlers they disturb; see glue/wamr_adapt.c).
  jit: ["-DWAMR_BUILD_FAST_JIT=1", "-DWAMR_BUILD_LAZY_JIT=0", "-DFETCHCONTENT_FULLY_DISCONNECTED=ON"],
};
const GLUE_CFLAGS = ["-O2", "-g", "-fPIC", "-Wall", "-Wextra", "-Werror"];

const NGINX_CONFIGURE = [
  // NWM's dispatch speaks TLS through nginx's SSL (:scheme https); Kong sends
  // batches to Moesif over https.
  "--with-http_ssl_module",
  // The only modules that need PCRE2 and zlib. NWM builds and runs without
  // them; a test config cannot use `return`, `set`, `if` or `rewrite`.
  "--without-http_rewrite_module",
  "--without-http_gzip_module",
];

export class NwmError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** The folder with the vendored tarballs and SHA256SUMS, or null. */
export function sourcesDir(env = process.env) {
  return asSources(env.NWM_SOURCES || DEFAULT_SOURCES);
}

function asSources(dir) {
  return fs.existsSync(path.join(dir, "SHA256SUMS")) ? path.resolve(dir) : null;
}

function noSources(looked) {
  return new NwmError(`nwm: no source folder (tarballs + SHA256SUMS) at ${path.resolve(looked)}; pass --sources DIR or set NWM_SOURCES`, 3);
}

/** Where built hosts live (outside the source tree). */
export function cacheDir(env = process.env) {
  if (env.NWM_CACHE) return path.resolve(env.NWM_CACHE);
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "moesif-kong-wasm", "nwm");
}

/** "3.9", "3.9.1", "3.4.2" or an NWM commit → the NWM commit. */
export function resolvePin(kong) {
  const k = String(kong);
  if (PINS.includes(k)) return k;
  const pin = KONG_PINS[k.split(".").slice(0, 2).join(".")];
  if (!pin) {
    throw new NwmError(`nwm: unknown Kong version "${k}" (known: ${Object.keys(KONG_PINS).join(", ")}, all)`);
  }
  return pin;
}

/**
 * Builds (or reuses) the nginx binary for one Kong pin and WAMR flavour and
 * returns its absolute path.
 */
export async function buildHost({ kong = "3.9", runtime = "jit", sources = sourcesDir(), cache = cacheDir(), log = defaultLog } = {}) {
  if (!sources) throw noSources(process.env.NWM_SOURCES || DEFAULT_SOURCES);
  if (!RUNTIMES.includes(runtime)) throw new NwmError(`nwm: --runtime must be one of ${RUNTIMES.join(", ")}`);
  const pin = resolvePin(kong);
  sources = path.resolve(sources);
  cache = path.resolve(cache);

  const sums = verifyTarballs(sources, [NGINX, WAMR, nwmTarball(pin), ...(runtime === "jit" ? [ASMJIT] : [])]);
  const rt = { dir: path.join(cache, `wamr-${runtime}`) };
  rt.key = digest({ recipe: RECIPE, wamr: sums[WAMR], asmjit: sums[ASMJIT] ?? null, glue: glueDigest(), flags: [...WAMR_FLAGS, ...WAMR_RUNTIME_FLAGS[runtime]], cflags: GLUE_CFLAGS });
  const host = { dir: path.join(cache, `nginx-${pin}-${runtime}`) };
  host.key = digest({ recipe: RECIPE, runtime: rt.key, nginx: sums[NGINX], nwm: sums[nwmTarball(pin)], configure: NGINX_CONFIGURE });
  const binary = path.join(host.dir, "sbin", "nginx");

  if (isFresh(host.dir, host.key) && fs.existsSync(binary)) return binary;

  fs.mkdirSync(cache, { recursive: true });
  return withLock(path.join(cache, ".lock"), log, async () => {
    if (isFresh(host.dir, host.key)) return binary; // built meanwhile by another process
    preflight(pin, log);
    if (!isFresh(rt.dir, rt.key)) await buildRuntime({ runtime, rt, sources, cache, log });
    await buildNginx({ pin, runtime, rt, host, binary, sources, cache, log });
    return binary;
  });
}

// ---------------------------------------------------------------------------

function defaultLog(msg) {
  process.stderr.write(`nwm: ${msg}\n`);
}

function sha256File(file) {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function digest(value) {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}

/** Checks each tarball against SHA256SUMS; returns { name: sum }. */
function verifyTarballs(sources, names) {
  const listed = new Map();
  for (const line of fs.readFileSync(path.join(sources, "SHA256SUMS"), "utf8").split("\n")) {
    const m = /^([0-9a-f]{64})\s+\*?(\S+)$/.exec(line.trim());
    if (m) listed.set(m[2], m[1]);
  }
  const sums = {};
  for (const name of names) {
    const file = path.join(sources, name);
    if (!listed.has(name)) throw new NwmError(`nwm: ${name} is not listed in ${sources}/SHA256SUMS`);
    if (!fs.existsSync(file)) throw new NwmError(`nwm: ${file} is missing`);
    const sum = sha256File(file);
    if (sum !== listed.get(name)) {
      throw new NwmError(`nwm: checksum mismatch for ${file}: sha256 ${sum}, SHA256SUMS says ${listed.get(name)}`);
    }
    sums[name] = sum;
  }
  return sums;
}

/** Every file under glue/, by relative path and content. */
function glueDigest() {
  const files = fs.readdirSync(GLUE, { recursive: true }).filter((f) => fs.statSync(path.join(GLUE, f)).isFile()).sort();
  return digest(files.map((f) => [f, sha256File(path.join(GLUE, f))]));
}

function isFresh(dir, key) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, "stamp.json"), "utf8")).key === key;
  } catch {
    return false;
  }
}

function writeStamp(dir, key, extra) {
  fs.writeFileSync(path.join(dir, "stamp.json"), JSON.stringify({ key, ...extra, built: new Date().toISOString() }, null, 2) + "\n");
}

/** One build at a time per cache (test files may run in parallel). */
async function withLock(file, log, fn) {
  for (let waited = false; ; waited = true) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      break;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
      const pid = Number(fs.readFileSync(file, "utf8"));
      if (!pid || !isAlive(pid)) fs.rmSync(file, { force: true });
      else {
        if (!waited) log(`waiting for another build (pid ${pid}, ${file})`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

/** Tools, headers and libraries the build uses; one apt-get line if any is missing. */
function preflight(pin, log) {
  const has = (tool) => spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
  const missing = new Set();
  for (const tool of ["tar", "gcc", "g++", "make", "cmake"]) if (!has(tool)) missing.add(tool);

  if (has("gcc")) {
    const major = spawnSync("gcc", ["-dumpversion"], { encoding: "utf8" }).stdout.trim().split(".")[0];
    const links = (src, libs) => {
      const out = path.join(os.tmpdir(), `nwm-check-${process.pid}`);
      const ok = spawnSync("gcc", ["-x", "c", "-", "-o", out, ...libs], { input: src, stdio: ["pipe", "ignore", "ignore"] }).status === 0;
      fs.rmSync(out, { force: true });
      return ok;
    };
    const main = "int main(void) { return 0; }\n";
    if (!links(`#include <openssl/ssl.h>\nint main(void) { return !OPENSSL_init_ssl(0, NULL); }\n`, ["-lssl", "-lcrypto"])) {
      missing.add("libssl-dev");
    }
    if (!links(main, ["-lstdc++"])) missing.add(`libstdc++-${major}-dev`); // NWM's config: v8 links -lstdc++
    if (NEEDS_LATOMIC.has(pin) && !links(main, ["-latomic"])) missing.add(`libgcc-${major}-dev`);
  }
  if (missing.size) {
    throw new NwmError(`nwm: missing build requirements; install them with: apt-get install -y ${[...missing].join(" ")}`, 2);
  }
  log("build requirements present (gcc, g++, make, cmake, OpenSSL headers)");
}

/** Runs a command with its output in a log file; on failure shows the log's tail. */
async function run(cmd, args, { cwd, env, logFile }) {
  fs.appendFileSync(logFile, `\n$ ${cmd} ${args.join(" ")}\n`);
  const fd = fs.openSync(logFile, "a");
  const code = await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: ["ignore", fd, fd] });
    child.on("error", reject);
    child.on("close", resolve);
  }).finally(() => fs.closeSync(fd));
  if (code !== 0) {
    const tail = fs.readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-25).join("\n");
    throw new NwmError(`${tail}\nnwm: ${cmd} ${args.join(" ")} failed (exit ${code}); full log: ${logFile}`);
  }
}

/** A fresh work folder with each tarball unpacked into its own subfolder. */
function unpack(work, sources, tarballs) {
  fs.rmSync(work, { recursive: true, force: true });
  for (const [sub, name] of Object.entries(tarballs)) {
    const dest = path.join(work, sub);
    fs.mkdirSync(dest, { recursive: true });
    const r = spawnSync("tar", ["-xzf", path.join(sources, name), "-C", dest, "--strip-components=1"], { stdio: "inherit" });
    if (r.status !== 0) throw new NwmError(`nwm: could not unpack ${name}`);
  }
}

const JOBS = String(os.availableParallelism?.() ?? os.cpus().length);

/** WAMR (libiwasm.a) plus the glue libraries, shared by every pin. */
async function buildRuntime({ runtime, rt, sources, cache, log }) {
  const t0 = Date.now();
  const work = path.join(cache, "work", `wamr-${runtime}`);
  log(`building WAMR 2.4.5 (${runtime}) in ${work}`);
  unpack(work, sources, { wamr: WAMR, ...(runtime === "jit" ? { asmjit: ASMJIT } : {}) });
  const logFile = path.join(work, "build.log");
  const wamr = path.join(work, "wamr");
  const flags = [...WAMR_FLAGS, ...WAMR_RUNTIME_FLAGS[runtime]];
  if (runtime === "jit") flags.push(`-DFETCHCONTENT_SOURCE_DIR_ASMJIT=${path.join(work, "asmjit")}`);

  await run("cmake", ["-S", wamr, "-B", path.join(work, "build"), ...flags], { logFile });
  await run("cmake", ["--build", path.join(work, "build"), "--target", "vmlib", "--parallel", JOBS], { logFile });

  // The glue: adapters + V8 bridge stubs as libv8bridge.a (NWM links
  // -lv8bridge ahead of the engine), the Rust library's stub in a folder
  // whose name contains "ngx-wasm-rs" (what NWM's config looks for).
  const cc = (src) => {
    const obj = path.join(work, path.basename(src, ".c") + ".o");
    const args = ["-c", ...GLUE_CFLAGS, "-I", path.join(GLUE, "include"), "-I", path.join(wamr, "core/iwasm/include"), "-o", obj, path.join(GLUE, src)];
    return run("gcc", args, { logFile }).then(() => obj);
  };
  const bridge = [await cc("wamr_adapt.c"), await cc("v8bridge.c")];
  const rs = [await cc("ngx-wasm-rs/ngx_wasm_rs.c")];

  fs.rmSync(rt.dir, { recursive: true, force: true });
  for (const sub of ["include", "lib", "ngx-wasm-rs"]) fs.mkdirSync(path.join(rt.dir, sub), { recursive: true });
  await run("ar", ["rcs", path.join(rt.dir, "lib/libv8bridge.a"), ...bridge], { logFile });
  await run("ar", ["rcs", path.join(rt.dir, "ngx-wasm-rs/libngx_wasm_rs.a"), ...rs], { logFile });
  fs.copyFileSync(path.join(work, "build/libiwasm.a"), path.join(rt.dir, "lib/libiwasm.a"));
  fs.copyFileSync(path.join(wamr, "core/iwasm/include/wasm_c_api.h"), path.join(rt.dir, "include/wasm_c_api.h"));
  for (const h of ["wasm.h", "v8bridge.h"]) fs.copyFileSync(path.join(GLUE, "include", h), path.join(rt.dir, "include", h));
  writeStamp(rt.dir, rt.key, { runtime, flags });
  fs.rmSync(work, { recursive: true, force: true });
  log(`WAMR (${runtime}) built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** nginx + one NWM pin, linked against the runtime folder. */
async function buildNginx({ pin, runtime, rt, host, binary, sources, cache, log }) {
  const t0 = Date.now();
  const work = path.join(cache, "work", path.basename(host.dir));
  log(`building nginx 1.25.3 + ngx_wasm_module ${pin} (${runtime}) in ${work}`);
  unpack(work, sources, { nginx: NGINX, nwm: nwmTarball(pin) });
  const logFile = path.join(work, "build.log");
  const nginx = path.join(work, "nginx");
  const nwm = path.join(work, "nwm");

  // NWM's `config`, v8 case: links "-lv8bridge <LD_OPT> -ldl -lm -lpthread
  // -lstdc++ [-latomic]". NGX_WASM_CARGO=0 skips cargo; the ngx-wasm-rs
  // headers come from the pin itself, as auto/cargo would add them.
  const env = {
    ...process.env,
    NGX_WASM_RUNTIME: "v8",
    NGX_WASM_CARGO: "0",
    NGX_WASM_RUNTIME_INC: path.join(rt.dir, "include"),
    NGX_WASM_RUNTIME_LIB: path.join(rt.dir, "lib"),
    NGX_WASM_RUNTIME_LD_OPT: `-L${path.join(rt.dir, "ngx-wasm-rs")} -lngx_wasm_rs -L${path.join(rt.dir, "lib")} -liwasm`,
  };
  const args = [
    `--prefix=${host.dir}`,
    ...NGINX_CONFIGURE,
    `--add-module=${nwm}`,
    `--with-cc-opt=-I ${path.join(nwm, "lib/ngx-wasm-rs/include")}`,
  ];
  await run("./auto/configure", args, { cwd: nginx, env, logFile }); // nginx's git tree: auto/configure
  await run("make", ["-j", JOBS], { cwd: nginx, logFile });

  fs.rmSync(host.dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(binary), { recursive: true });
  fs.copyFileSync(path.join(nginx, "objs/nginx"), binary);
  fs.chmodSync(binary, 0o755);
  selfTest(binary);
  writeStamp(host.dir, host.key, { pin, runtime, configure: args });
  fs.rmSync(work, { recursive: true, force: true });
  log(`nginx ${pin} (${runtime}) built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** `nginx -t` on a config that loads an empty wasm module through WAMR. */
function selfTest(binary) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nwm-selftest-"));
  try {
    fs.mkdirSync(path.join(dir, "logs"));
    fs.writeFileSync(path.join(dir, "empty.wasm"), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    fs.writeFileSync(path.join(dir, "nginx.conf"), `error_log stderr notice;\npid nginx.pid;\nevents {}\nwasm { module empty ${dir}/empty.wasm; }\nhttp {}\n`);
    const r = spawnSync(binary, ["-p", dir, "-c", "nginx.conf", "-e", "stderr", "-t"], { encoding: "utf8" });
    if (r.status !== 0) throw new NwmError(`nwm: self-test of ${binary} failed:\n${r.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------

async function main() {
  const { values } = parseArgs({
    options: {
      kong: { type: "string", default: "3.9" },
      runtime: { type: "string", default: "jit" },
      sources: { type: "string" },
      cache: { type: "string" },
    },
  });
  const sources = values.sources ? asSources(values.sources) : sourcesDir();
  if (!sources) throw noSources(values.sources ?? (process.env.NWM_SOURCES || DEFAULT_SOURCES));
  const cache = values.cache ?? cacheDir();
  const kongs = values.kong === "all" ? PINS : [values.kong];
  for (const kong of kongs) {
    const t0 = Date.now();
    const binary = await buildHost({ kong, runtime: values.runtime, sources, cache });
    defaultLog(`${kong} (${values.runtime}): ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    console.log(binary);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e instanceof NwmError ? e.message : e);
    process.exit(e.exitCode ?? 1);
  });
}
