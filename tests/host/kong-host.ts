// A proxy-wasm host in Node that copies Kong's (ngx_wasm_module's) rules: what links, what traps,
// phase order, dispatch rules, body chunking, properties, header-map marshalling. Node's V8 runs the
// module as Kong's V8 runtime would; everything NWM decides on its own is re-implemented here, per
// Kong version, from NWM's source at the commit that release pins (nwm.ts lists the pins; each rule
// below names the NWM file and function it copies). Tests drive it directly (like
// proxy-wasm-go-sdk's emulator: start, tick, requests) or through the HTTP gateway in gateway.ts.
import http from "node:http";
import https from "node:https";
import net from "node:net";
import zlib from "node:zlib";
import {
  Status, MapType, BufferType, Action, LOG_LEVELS, KONG_IMPLEMENTED, KONG_TRAPPING_STUBS, ABI_MARKERS,
  REQUIRED_EXPORTS, DISPATCH_PHASES, MAX_MAP_PAIRS,
} from "./abi.ts";
import { Pair, serializeMap, deserializeMap, toBuffer, marshalLikeNwm, firstValue } from "./maps.ts";
import { NwmProfile, nwmProfile, versionAtLeast } from "./nwm.ts";

export interface FilterSpec {
  /** The filter name: the .wasm basename in Kong. */
  name: string;
  /** The configuration text Kong hands to on_configure (JSON text, or any string). */
  config: string | Buffer | null;
}

/**
 * A collector that closes (or resets) the connection after the request was sent, before a whole
 * answer: the socket itself did not fail, so its status stays "ok" (ngx_wasm_socket_tcp_err is the
 * only place it is set, src/common/ngx_wasm_socket_tcp.c:67-75 at 9136e463), and Kong 3.9 calls back
 * with `:dispatch_status: ok` and no `:status` — as the real host does in the removed real-host suite, f66d8f6:tests/nwm/delivery.test.ts
 * ("reset").
 */
const CLOSED_BEFORE_ANSWER = { status: "ok", detail: "connection closed before an answer" };

export interface LogLine {
  level: string;
  message: string;
  /** "filter" for proxy_log, "host" for what NWM itself logs. */
  source: "filter" | "host";
  contextId?: number;
}

export interface HostOptions {
  /** Kong version to copy (features differ): default 3.9.1. */
  kongVersion?: string;
  /** Called for each log line, besides keeping it in `logs`. */
  onLog?: (line: LogLine) => void;
  /** nginx client_body_buffer_size: bigger request bodies spill to a file the filter cannot read. */
  clientBodyBufferSize?: number;
  /** Run on_tick from timers (default) or only when a test calls tick(). */
  autoTick?: boolean;
  /** CA certificates trusted for https dispatches (Kong trusts the system bundle). */
  dispatchCa?: string | Buffer;
  /** Wall clock in ms, for tests that pin time. */
  clock?: () => number;
  nodeId?: string;
  hostname?: string;
  /** Measure the time spent in host functions (benchmarks: the filter's own share is the rest). */
  timeHostCalls?: boolean;
  /** Measure only the time spent in root callbacks (rootNs: the filter's delivery work). */
  timeRootCalls?: boolean;
  /** Answer dispatches in-process instead of over the network (benchmarks). */
  dispatchStub?: (call: { upstream: string; headers: Pair[]; body: Buffer }) => { status: number; headers?: Pair[]; body?: Buffer };
  /**
   * Answer dispatches in-process on the test's clock: each call's answer (or hang) is decided at
   * dispatch and delivered by runDue() once the clock reaches it. A call that hangs ends as NWM's
   * read timer ends it, after its timeout argument (each step has its own timer, ngx_wasm_socket_tcp.c):
   * the filter hears of it from Kong 3.9 only.
   */
  virtualDispatch?: (call: { upstream: string; headers: Pair[]; body: Buffer; timeoutMs: number }) => VirtualAnswer;
  /**
   * The clock virtual answers and timers run on (default: `clock`): nginx's timers follow its
   * monotonic ngx_current_msec, so a test that steps the wall clock gives them a clock of their own.
   */
  timerClock?: () => number;
  /**
   * Plain nginx with NWM at this Kong version's pin, not Kong: no kong.version, no $kong_proxy_mode
   * (the release is then known only if a request declares it, as ngx.kong_version).
   */
  plainNginx?: boolean;
}

/** What a virtual collector does with a call: answer after `afterMs`, or never (`hang`). */
export type VirtualAnswer = { afterMs: number; status: number; headers?: Pair[]; body?: Buffer } | { hang: true };

/** Thrown from a host function to make the call into wasm trap, as NWM does. */
export class HostTrap extends Error {}

/**
 * Thrown from a host function where NWM itself crashes (SIGSEGV): the worker dies, nginx starts
 * another, and everything the instance held is gone. Recorded in `crashes`; tests hold it empty.
 */
export class HostCrash extends Error {}

/** A start-up failure that would stop nginx ([emerg]). */
export class FatalStartError extends Error {}

/** Thrown to the caller of an HTTP step when the filter trapped: Kong answers the client 500. */
export class FilterTrapped extends Error {
  constructor(public phase: string, message: string) {
    super(message);
  }
}

/** Everything request-scoped that properties and header maps read; the gateway fills it in. */
export interface RequestState {
  method: string;
  scheme: string;
  /** $request_uri: path and query as the client sent them. */
  requestUri: string;
  /** $uri: the normalised path (no query). */
  uri: string;
  args: string;
  serverName: string;
  serverPort: number;
  remoteAddr: string;
  remotePort: number;
  protocol: string;
  startMs: number;
  requestHeaders: Pair[];
  requestBody: Buffer | null;
  responseHeaders: Pair[];
  responseChunk: Buffer | null;
  status: number;
  headersSent: boolean;
  responseStarted: boolean;
  bodyBytesSent: number;
  connectionId: number;
  /** Whether nginx keeps the client connection open (the Connection shim header); default true. */
  keepAlive?: boolean;
  route?: { id: string; name?: string };
  service?: { id: string; name?: string };
  upstreamAddress?: string;
  upstreamPort?: number;
  ngxVars?: Record<string, string>;
}

interface CallScope {
  phase: string;
  contextId: number;
  rootId: number;
  stream?: HttpStream;
  /** In on_http_call_response: the call being answered. */
  call?: PendingCall;
  /** In on_http_call_response: the list headers as the collector sent them, NWM's extras, the body. */
  callResponse?: { list: Pair[]; extras: Pair[]; body: Buffer };
}

/** A map as NWM assembles it: nginx's header list, and the special keys and shims it puts first. */
interface MapParts {
  list: Pair[];
  extras: Pair[];
}

// nginx keeps these response headers in r->headers_out fields, not in its header list; NWM gives
// them back as "shim" headers with these names (src/http/ngx_http_wasm_headers_shims.c).
const SHIM_SOURCES = ["content-type", "content-length", "transfer-encoding"];

interface Root {
  id: number;
  filter: FilterSpec;
  config: Buffer;
  tickPeriod: number;
  timer?: NodeJS.Timeout;
}

interface PendingCall {
  token: number;
  rootId: number;
  generation: number;
  upstream: string;
  headers: Pair[];
  body: Buffer;
  outcome?: { status?: number; error?: string };
  /** Made from a root context (a fake request of its own in NWM), not from a request. */
  fromRoot: boolean;
}

/** Checks a module against what Kong links; returns the problems (empty when Kong would load it). */
export function linkProblems(module: WebAssembly.Module): string[] {
  const problems: string[] = [];
  const known = new Set<string>([...KONG_IMPLEMENTED, ...KONG_TRAPPING_STUBS]);
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module === "env") {
      if (imp.kind !== "function" || !known.has(imp.name)) {
        problems.push(`imports env.${imp.name}, which Kong does not provide: the filter fails to link and Kong does not start`);
      }
    } else if (imp.module !== "wasi_snapshot_preview1") {
      problems.push(`imports ${imp.module}.${imp.name}: Kong links only "env" and "wasi_snapshot_preview1"`);
    }
  }
  const exports = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  if (!ABI_MARKERS.some((m) => exports.has(m))) problems.push("exports no proxy_abi_version_* marker: Kong cannot tell its ABI");
  for (const name of REQUIRED_EXPORTS) if (!exports.has(name)) problems.push(`does not export ${name}`);
  if (!exports.has("malloc") && !exports.has("proxy_on_memory_allocate")) problems.push("exports neither malloc nor proxy_on_memory_allocate");
  return problems;
}

export class KongWasmHost {
  readonly module: WebAssembly.Module;
  readonly kongVersion: string;
  /** What this Kong version's NWM pin does differently (nwm.ts). */
  readonly nwm: NwmProfile;
  readonly logs: LogLine[] = [];
  readonly traps: { phase: string; message: string }[] = [];
  /** Where NWM would have crashed the worker (HostCrash). */
  readonly crashes: { phase: string; message: string }[] = [];
  /**
   * Root calls whose fake request NWM would never finalise: a worker_connections slot and its memory
   * lost until the worker exits (nwm.ts, leakOnOverlap). Tests hold it empty.
   */
  readonly leaks: { token: number; why: string }[] = [];
  readonly calls: PendingCall[] = [];
  /** With virtualDispatch: the outcomes to deliver, at their time on the test's clock. */
  private scheduled: { at: number; seq: number; run: () => void }[] = [];
  private seq = 0;
  /** Times the module was instantiated (1 + instances replaced after traps). */
  instantiations = 0;
  /** Times a filter answered Pause (a capture filter never should). */
  pauses = 0;
  /** proxy_get_buffer_bytes calls per buffer type (proof that a disabled capture reads nothing). */
  readonly bufferReads = new Map<number, number>();
  /** Calls into Kong's Lua for a kong.* property, per name (each read not answered from NWM's cache). */
  readonly kongLuaReads = new Map<string, number>();
  readonly metrics = new Map<string, bigint>();
  /** With timeHostCalls: nanoseconds spent in host functions, and how many calls. */
  hostNs = 0n;
  hostCalls = 0;
  /** With timeHostCalls or timeRootCalls: nanoseconds spent in root callbacks (on_tick, on_http_call_response), and how many. */
  rootNs = 0n;
  rootCalls = 0;
  /** With timeHostCalls or timeRootCalls: the part of rootNs spent in host functions (dispatch above all). */
  rootHostNs = 0n;
  /** With timeHostCalls: nanoseconds spent inside calls into wasm (host functions they call included). */
  wasmNs = 0n;

  private instance!: WebAssembly.Instance;
  /** The current instance's exports (replaced after a trap). */
  exports!: Record<string, any>;
  private generation = 0;
  private roots: Root[] = [];
  private scope: CallScope | null = null;
  private nextStreamId = 1;
  private nextToken = 0;
  private metricIds: { name: string; type: string }[] = [];
  /** The last header map handed over: where, the size NWM reported, and the bytes it wrote there. */
  lastMap: { ptr: number; size: number; bytes: Buffer } | null = null;
  /** Header maps whose bytes ran past the block NWM asked malloc for. */
  mapOverflows = 0;
  private sharedData = new Map<string, { value: Buffer; cas: number }>();
  private stopped = false;
  /** Kong 3.4/3.5 after a trap in on_tick: no instance (and no tick) until the next request. */
  private instanceLost = false;
  private readonly opts: Required<Pick<HostOptions, "clientBodyBufferSize" | "autoTick" | "nodeId" | "hostname">> & HostOptions;

  constructor(wasm: Uint8Array, readonly filters: FilterSpec[], opts: HostOptions = {}) {
    this.opts = { clientBodyBufferSize: 8192, autoTick: true, nodeId: "3f6d2a52-6a48-4d1b-a7c5-6e3fcb4fb1a2", hostname: "kong-test", ...opts };
    this.kongVersion = opts.kongVersion ?? "3.9.1";
    this.nwm = nwmProfile(this.kongVersion);
    this.module = new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>);
    const problems = linkProblems(this.module);
    if (problems.length > 0) throw new FatalStartError(`[emerg] failed to load filter: ${problems.join("; ")}`);
  }

  get rootIds(): number[] {
    return this.roots.map((r) => r.id);
  }

  tickPeriod(rootId: number): number {
    return this.roots.find((r) => r.id === rootId)?.tickPeriod ?? 0;
  }

  /** Instantiates the module and starts a root context per filter, as Kong does at init_worker. */
  start(): void {
    this.roots = this.filters.map((filter) => {
      const config = filter.config === null ? Buffer.alloc(0) : toBuffer(filter.config);
      // Kong's root id: a CRC32 of the filter name and its configuration.
      const id = zlib.crc32(Buffer.concat([Buffer.from(filter.name), config])) >>> 0 || 1;
      return { id, filter, config, tickPeriod: 0 };
    });
    this.instantiate(true);
  }

  stop(): void {
    this.stopped = true;
    for (const r of this.roots) if (r.timer) clearInterval(r.timer);
  }

  private instantiate(fatal: boolean): void {
    this.generation++;
    this.instantiations++;
    for (const r of this.roots) {
      if (r.timer) clearInterval(r.timer);
      r.timer = undefined;
      r.tickPeriod = 0;
    }
    this.instance = new WebAssembly.Instance(this.module, this.imports());
    this.exports = this.instance.exports as Record<string, any>;
    const fail = (msg: string) => {
      this.hostLog("emerg", msg);
      if (fatal) throw new FatalStartError(msg);
    };
    if (typeof this.exports._initialize === "function") {
      try {
        this.enter({ phase: "initialize", contextId: 0, rootId: 0 }, () => this.exports._initialize());
      } catch (e) {
        return fail(`_initialize failed: ${(e as Error).message}`);
      }
    }
    for (const root of this.roots) {
      try {
        const scope = { phase: "configure", contextId: root.id, rootId: root.id };
        this.enter(scope, () => this.exports.proxy_on_context_create(root.id, 0));
        const vmOk = this.enter({ ...scope, phase: "vm_start" }, () => this.exports.proxy_on_vm_start(root.id, 0));
        if (!vmOk) return fail(`[emerg] filter "${root.filter.name}" failed on_vm_start: nginx does not start`);
        const ok = this.enter(scope, () => this.exports.proxy_on_configure(root.id, root.config.length));
        if (!ok) return fail(`[emerg] filter "${root.filter.name}" failed on_configure: nginx does not start`);
      } catch (e) {
        return fail(`[emerg] filter "${root.filter.name}" trapped while starting: ${(e as Error).message}`);
      }
    }
  }

  /** @internal What on_response_headers is told: list headers plus shims. */
  responseHeaderCount(s: RequestState): number {
    return s.responseHeaders.filter(([k]) => !SHIM_SOURCES.includes(k.toLowerCase())).length + this.shimHeaders(s).length;
  }

  /** @internal The host's wall clock in ms (the test's clock when it gave one). */
  now(): number {
    return this.opts.clock ? this.opts.clock() : Date.now();
  }

  /** Runs one on_tick for a root now (what a timer does when autoTick is on). */
  tick(rootId: number): void {
    if (this.instanceLost) return;
    this.callRoot(rootId, "tick", () => this.exports.proxy_on_tick?.(rootId));
  }

  /** Runs on_tick for every root that has set a tick period. */
  tickAll(): void {
    for (const r of this.roots) if (r.tickPeriod > 0) this.tick(r.id);
  }

  private callRoot(rootId: number, phase: string, fn: () => unknown): void {
    if (this.stopped) return;
    const timed = this.opts.timeHostCalls || this.opts.timeRootCalls;
    const t0 = timed ? process.hrtime.bigint() : 0n;
    try {
      this.enter({ phase, contextId: rootId, rootId }, fn);
    } catch (e) {
      this.recordTrap(phase, e);
    } finally {
      if (timed) {
        this.rootNs += process.hrtime.bigint() - t0;
        this.rootCalls++;
      }
    }
  }

  /** Starts the HTTP contexts of one request, one per filter in the chain. */
  newStream(state: RequestState): HttpStream {
    if (this.instanceLost) this.restart();
    const ids = this.roots.map((root) => {
      let id = this.nextStreamId++;
      while (this.roots.some((r) => r.id === id)) id = this.nextStreamId++;
      return { id, rootId: root.id };
    });
    const stream = new HttpStream(this, state, ids, this.generation);
    for (const c of ids) stream.invoke("create", c, () => this.exports.proxy_on_context_create(c.id, c.rootId));
    return stream;
  }

  /** @internal Calls into wasm for a stream; a trap replaces the instance and is rethrown as FilterTrapped. */
  streamCall(stream: HttpStream, phase: string, ctx: { id: number; rootId: number }, fn: () => unknown): unknown {
    try {
      return this.enter({ phase, contextId: ctx.id, rootId: ctx.rootId, stream }, fn);
    } catch (e) {
      const message = this.recordTrap(phase, e);
      throw new FilterTrapped(phase, message);
    }
  }

  /** @internal */
  isCurrent(generation: number): boolean {
    return generation === this.generation && !this.stopped;
  }

  private recordTrap(phase: string, e: unknown): string {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof HostCrash) {
      // The worker dies; nginx's master starts another, with a new instance and nothing of the old.
      this.crashes.push({ phase, message });
      this.hostLog("alert", `worker process exited on signal 11 (SIGSEGV) in ${phase}: ${message}`);
      this.restart();
      return message;
    }
    this.traps.push({ phase, message });
    this.hostLog("crit", `filter trapped in ${phase}: ${message}; instance replaced, in-memory state lost`);
    if (phase === "tick" && this.nwm.ticksStopAfterTrap) {
      // ngx_proxy_wasm_filter_tick_handler at 21732b18 does not schedule the next tick after a failed
      // step; the next request gets a new instance, whose on_configure sets the period again.
      // (That the other roots' ticks stop too, until then, is inferred: they share the instance.)
      this.generation++;
      for (const r of this.roots) {
        if (r.timer) clearInterval(r.timer);
        r.timer = undefined;
        r.tickPeriod = 0;
      }
      this.instanceLost = true;
      return message;
    }
    // NWM recycles the instance: every root context is started again and loses its queue.
    this.restart();
    return message;
  }

  private restart(): void {
    this.instanceLost = false;
    try {
      this.instantiate(false);
    } catch (err) {
      this.hostLog("emerg", `could not restart the filter: ${(err as Error).message}`);
    }
  }

  private enter<T>(scope: CallScope, fn: () => T): T {
    const saved = this.scope;
    this.scope = scope;
    const timed = this.opts.timeHostCalls && saved === null;
    const t0 = timed ? process.hrtime.bigint() : 0n;
    try {
      return fn();
    } finally {
      this.scope = saved;
      if (timed) this.wasmNs += process.hrtime.bigint() - t0;
    }
  }

  private hostLog(level: string, message: string, contextId?: number): void {
    const line: LogLine = { level, message, source: "host", contextId };
    this.logs.push(line);
    this.opts.onLog?.(line);
  }

  // ---- memory ----

  private memView: Buffer | null = null;

  /** A view of linear memory, made again only when memory has grown (its buffer is then new). */
  private get mem(): Buffer {
    const buffer = (this.exports.memory as WebAssembly.Memory).buffer;
    if (this.memView === null || this.memView.buffer !== buffer) this.memView = Buffer.from(buffer);
    return this.memView;
  }

  private read(ptr: number, len: number): Buffer {
    ptr >>>= 0;
    len >>>= 0;
    const mem = this.mem;
    if (ptr + len > mem.length) throw new HostTrap(`invalid memory access: ${ptr}+${len} beyond ${mem.length}`);
    return Buffer.from(mem.subarray(ptr, ptr + len));
  }

  private writeU32(ptr: number, v: number): void {
    const mem = this.mem;
    if ((ptr >>> 0) + 4 > mem.length) throw new HostTrap("invalid memory access writing a return value");
    mem.writeUInt32LE(v >>> 0, ptr >>> 0);
  }

  /** Hands bytes to the module: malloc'd only when non-empty, as NWM and Envoy do. */
  private giveBytes(bytes: Buffer, retPtr: number, retLen: number): number {
    if (bytes.length === 0) {
      this.writeU32(retPtr, 0);
      this.writeU32(retLen, 0);
      return Status.Ok;
    }
    const malloc = this.exports.malloc ?? this.exports.proxy_on_memory_allocate;
    const p = malloc(bytes.length) >>> 0;
    if (p === 0) return Status.InternalFailure;
    // malloc may have grown memory: take a fresh view.
    const mem = this.mem;
    if (p + bytes.length > mem.length) throw new HostTrap("malloc returned memory out of bounds");
    bytes.copy(mem, p);
    this.writeU32(retPtr, p);
    this.writeU32(retLen, bytes.length);
    return Status.Ok;
  }

  // ---- the env imports ----

  private imports(): WebAssembly.Imports {
    const env: Record<string, (...args: any[]) => any> = {};
    for (const name of KONG_TRAPPING_STUBS) {
      env[name] = () => {
        throw new HostTrap(`${name} is a stub in Kong: calling it traps`);
      };
    }
    const notEmulated = (name: string) => () => {
      throw new HostTrap(`${name}: Kong implements it, but this test host does not emulate it`);
    };
    for (const name of KONG_IMPLEMENTED) env[name] = notEmulated(name);

    env.proxy_log = (level: number, ptr: number, len: number) => {
      if (level < 0 || level > 5) {
        this.hostLog("warn", `NYI - proxy_log bad log_level: ${level}`);
        return Status.BadArgument;
      }
      const message = this.read(ptr, len).toString("utf8");
      const line: LogLine = { level: LOG_LEVELS[level], message, source: "filter", contextId: this.scope?.contextId };
      this.logs.push(line);
      this.opts.onLog?.(line);
      return Status.Ok;
    };
    env.proxy_get_current_time_nanoseconds = (retPtr: number) => {
      const ms = this.opts.clock ? this.opts.clock() : Date.now();
      const mem = this.mem;
      mem.writeBigUInt64LE(BigInt(Math.floor(ms)) * 1000000n, retPtr >>> 0);
      return Status.Ok;
    };
    env.proxy_set_effective_context = () => Status.Ok;
    env.proxy_set_tick_period_milliseconds = (period: number) => this.setTickPeriod(period >>> 0);
    env.proxy_get_buffer_bytes = (type: number, start: number, max: number, retPtr: number, retLen: number) =>
      this.getBufferBytes(type, max >>> 0, retPtr, retLen);
    // ngx_proxy_wasm_hfuncs_get_header_map_pairs (ngx_proxy_wasm_host.c) and ngx_proxy_wasm_marshal
    // (ngx_proxy_wasm_util.c): the block is malloc'd at the size NWM computes and checked against
    // memory at that size, then written in full, past its end where the count is high (maps.ts).
    env.proxy_get_header_map_pairs = (type: number, retPtr: number, retLen: number) => {
      this.checkRootMapRead(type, null);
      const parts = this.mapParts(type);
      if (parts === null) return Status.BadArgument;
      const { size, bytes } = marshalLikeNwm(parts.list, parts.extras, MAX_MAP_PAIRS);
      const malloc = this.exports.malloc ?? this.exports.proxy_on_memory_allocate;
      const p = malloc(size) >>> 0;
      const mem = this.mem;
      if (p === 0 || p + size > mem.length) return Status.InvalidMemoryAccess;
      // Past the end of linear memory NWM would write into the host's own memory; here it stops.
      bytes.copy(mem, p, 0, Math.min(bytes.length, mem.length - p));
      this.lastMap = { ptr: p, size, bytes };
      if (bytes.length > size) this.mapOverflows++;
      this.writeU32(retPtr, p);
      this.writeU32(retLen, size);
      if (parts.list.length + parts.extras.length > MAX_MAP_PAIRS) {
        this.hostLog("warn", `marshalled map truncated to ${MAX_MAP_PAIRS} elements`);
      }
      return Status.Ok;
    };
    // ngx_proxy_wasm_maps_get (ngx_proxy_wasm_maps.c): special keys first, then nginx's list, then
    // (response map) the shim headers; names compared without case.
    env.proxy_get_header_map_value = (type: number, kp: number, kl: number, retPtr: number, retLen: number) => {
      const key = this.read(kp, kl).toString("latin1").toLowerCase();
      this.checkRootMapRead(type, key);
      const parts = this.mapParts(type, true);
      if (parts === null) return Status.BadArgument;
      const match = ([k]: Pair) => k.toLowerCase() === key;
      const special = parts.extras.filter(([k]) => k.startsWith(":"));
      const shims = parts.extras.filter(([k]) => !k.startsWith(":"));
      const hit = special.find(match) ?? parts.list.find(match) ?? shims.find(match);
      if (!hit) return Status.NotFound;
      return this.giveBytes(hit[1], retPtr, retLen);
    };
    env.proxy_replace_header_map_value = (type: number, kp: number, kl: number, vp: number, vl: number) =>
      this.editMap(type, "replace", this.read(kp, kl).toString("latin1"), this.read(vp, vl));
    env.proxy_add_header_map_value = (type: number, kp: number, kl: number, vp: number, vl: number) =>
      this.editMap(type, "add", this.read(kp, kl).toString("latin1"), this.read(vp, vl));
    env.proxy_remove_header_map_value = (type: number, kp: number, kl: number) =>
      this.editMap(type, "remove", this.read(kp, kl).toString("latin1"), Buffer.alloc(0));
    env.proxy_set_header_map_pairs = (type: number, ptr: number, len: number) => {
      const pairs = deserializeMap(this.read(ptr, len));
      if (pairs === null) return Status.InternalFailure;
      if (type !== MapType.RequestHeaders && type !== MapType.ResponseHeaders) return Status.BadArgument;
      if (!this.mapWritable(type)) return Status.Ok;
      const state = this.requireStream("headers").state;
      const current = type === MapType.RequestHeaders ? state.requestHeaders : state.responseHeaders;
      current.splice(0, current.length, ...pairs.filter(([k]) => !k.startsWith(":")));
      return Status.Ok;
    };
    env.proxy_get_property = (pp: number, pl: number, retPtr: number, retLen: number) => {
      const path = this.read(pp, pl).toString("utf8").replace(/\0/g, ".");
      const value = this.property(path);
      if (value === null) return Status.NotFound;
      if (value === "error") return Status.InternalFailure;
      return this.giveBytes(value, retPtr, retLen);
    };
    env.proxy_set_property = (pp: number, pl: number, vp: number, vl: number) => {
      const path = this.read(pp, pl).toString("utf8").replace(/\0/g, ".");
      const stream = this.scope?.stream;
      if (!stream || !path.startsWith("ngx.")) return Status.NotFound;
      stream.state.ngxVars = { ...stream.state.ngxVars, [path.slice(4)]: this.read(vp, vl).toString("utf8") };
      return Status.Ok;
    };
    // ngx_proxy_wasm_hfuncs_send_local_response (ngx_proxy_wasm_host.c) and
    // ngx_http_wasm_stash_local_response (src/http/ngx_http_wasm_local_response.c): the response is
    // stashed and the request finalised with it, the upstream never called; a status outside
    // 100–999 is BadArgument; a second one traps; nginx appends a line feed to a non-empty body.
    env.proxy_send_local_response = (status: number, _rp: number, _rl: number, bp: number, bl: number, hp: number, hl: number) => {
      const stream = this.requireStream("local response");
      const pairs = deserializeMap(this.read(hp, hl));
      if (pairs === null) return Status.InternalFailure;
      if (stream.state.responseStarted) throw new HostTrap("response already sent");
      if (stream.local) throw new HostTrap("local response already stashed");
      if (status < 100 || status > 999) return Status.BadArgument;
      stream.local = { status, headers: pairs, body: this.read(bp, bl) };
      return Status.Ok;
    };
    env.proxy_continue_stream = () => Status.Ok;
    env.proxy_continue_request = () => Status.Ok;
    const dispatch = (up: number, upl: number, hp: number, hl: number, bp: number, bl: number, tp: number, tl: number, timeout: number, tokenPtr: number) =>
      this.dispatch(this.read(up, upl).toString("utf8"), this.read(hp, hl), this.read(bp, bl), timeout >>> 0, tokenPtr);
    env.proxy_http_call = dispatch;
    env.proxy_dispatch_http_call = dispatch;
    env.proxy_get_shared_data = (kp: number, kl: number, retPtr: number, retLen: number, casPtr: number) => {
      const hit = this.sharedData.get(this.read(kp, kl).toString("utf8"));
      if (!hit) return Status.NotFound;
      this.writeU32(casPtr, hit.cas);
      return this.giveBytes(hit.value, retPtr, retLen);
    };
    env.proxy_set_shared_data = (kp: number, kl: number, vp: number, vl: number, cas: number) => {
      const key = this.read(kp, kl).toString("utf8");
      const hit = this.sharedData.get(key);
      if (cas !== 0 && hit && hit.cas !== cas) return Status.CasMismatch;
      this.sharedData.set(key, { value: this.read(vp, vl), cas: (hit?.cas ?? 0) + 1 });
      return Status.Ok;
    };
    // Metrics (96b4e27e, ngx_proxy_wasm_host.c: ngx_proxy_wasm_hfuncs_define_metric and the three
    // after it). Every failure traps there, none answers a status. Kong names the metric
    // "pw:<filter>:<name>"; `metrics` here is keyed by the filter's own name.
    const METRIC_TYPES = ["counter", "gauge", "histogram"];
    const MAX_METRIC_NAME = 256; // NGX_WA_METRICS_DEFAULT_MAX_NAME_LEN (src/ngx_wasmx.h)
    const metric = (id: number, op: string) => {
      const m = this.metricIds[(id >>> 0) - 1];
      if (m === undefined) throw new HostTrap(`could not ${op} metric id "${id >>> 0}": metric not found`);
      return m;
    };
    env.proxy_define_metric = (type: number, np: number, nl: number, idPtr: number) => {
      const name = this.read(np, nl).toString("utf8");
      if (type < 0 || type > 2) throw new HostTrap(`could not define metric "${name}": unknown type "${type}"`);
      const root = this.roots.find((r) => r.id === this.scope?.rootId);
      if (4 + (root?.filter.name.length ?? 0) + nl > MAX_METRIC_NAME) throw new HostTrap(`could not define metric: name "${name}" too long`);
      let id = this.metricIds.findIndex((m) => m.name === name);
      if (id < 0) {
        id = this.metricIds.push({ name, type: METRIC_TYPES[type] }) - 1;
        this.metrics.set(name, 0n);
      }
      this.writeU32(idPtr, id + 1);
      return Status.Ok;
    };
    env.proxy_increment_metric = (id: number, offset: bigint) => {
      const m = metric(id, "increment");
      if (m.type !== "counter") throw new HostTrap(`could not increment metric id "${id >>> 0}": metric not a counter`);
      this.metrics.set(m.name, (this.metrics.get(m.name) ?? 0n) + BigInt(offset));
      return Status.Ok;
    };
    env.proxy_record_metric = (id: number, value: bigint) => {
      const m = metric(id, "record value in");
      if (m.type === "counter") throw new HostTrap(`could not record value in metric id "${id >>> 0}": metric is a counter`);
      this.metrics.set(m.name, BigInt.asUintN(64, BigInt(value)));
      return Status.Ok;
    };
    env.proxy_get_metric = (id: number, retPtr: number) => {
      const m = metric(id, "retrieve");
      if (m.type === "histogram") throw new HostTrap(`could not retrieve metric id "${id >>> 0}": metric is a histogram`);
      this.mem.writeBigUInt64LE(BigInt.asUintN(64, this.metrics.get(m.name) ?? 0n), retPtr >>> 0);
      return Status.Ok;
    };
    if (!this.nwm.metrics) {
      // Before 96b4e27e the four are bound to ngx_proxy_wasm_hfuncs_nop: NGX_WAVM_NYI, a trap.
      for (const name of ["proxy_define_metric", "proxy_increment_metric", "proxy_record_metric", "proxy_get_metric"]) {
        env[name] = () => {
          throw new HostTrap(`host trap (function not yet implemented): ${name}`);
        };
      }
    }

    // Any host call from _initialize crashes nginx (ngx_wasm_module#695): refuse them all there.
    for (const name of Object.keys(env)) {
      const fn = env[name];
      env[name] = (...args: any[]) => {
        if (this.scope?.phase === "initialize") throw new HostTrap(`${name} called from _initialize: this crashes nginx (ngx_wasm_module#695)`);
        return fn(...args);
      };
      if (this.opts.timeHostCalls || this.opts.timeRootCalls) {
        const inner = env[name];
        env[name] = (...args: any[]) => {
          const t0 = process.hrtime.bigint();
          try {
            return inner(...args);
          } finally {
            const ns = process.hrtime.bigint() - t0;
            this.hostNs += ns;
            this.hostCalls++;
            if (!this.scope?.stream) this.rootHostNs += ns;
          }
        };
      }
    }
    const wasi = new Proxy({}, {
      get: (_t, name) => () => {
        throw new HostTrap(`wasi_snapshot_preview1.${String(name)}: not emulated by this test host`);
      },
    });
    return { env, wasi_snapshot_preview1: wasi as any };
  }

  // ---- ticks ----

  private setTickPeriod(period: number): number {
    const scope = this.scope;
    // ngx_proxy_wasm_hfuncs_set_tick_period (ngx_proxy_wasm_host.c): outside a root context it traps
    // from a7087a37 and is ignored (Ok) at 21732b18; a second call traps ("tick_period already set"),
    // except a period of 0, which cancels from 96b4e27e.
    if (!scope || scope.stream || scope.contextId !== scope.rootId) {
      if (this.nwm.tickFromHttpTraps) throw new HostTrap("can only set tick_period in root context");
      return Status.Ok;
    }
    const root = this.roots.find((r) => r.id === scope.rootId);
    if (!root) return Status.BadArgument;
    if (root.tickPeriod > 0) {
      if (period === 0 && this.nwm.tickCancel) {
        if (root.timer) clearInterval(root.timer);
        root.timer = undefined;
        root.tickPeriod = 0;
        return Status.Ok;
      }
      throw new HostTrap("tick_period already set");
    }
    if (period === 0) return Status.Ok;
    root.tickPeriod = period;
    if (this.opts.autoTick) {
      const generation = this.generation;
      root.timer = setInterval(() => {
        if (generation !== this.generation) return;
        this.tick(root.id);
      }, period);
      root.timer.unref();
    }
    return Status.Ok;
  }

  // ---- buffers and maps ----

  /**
   * prerelease-0.1.0 (Kong 3.4.0/3.4.1): ngx_proxy_wasm_maps_get_map dereferences the request context
   * before it looks at the map type (ngx_proxy_wasm_maps.c:96-97), so from a root context only
   * `:status` (a special key, answered before the map is looked up) is safe.
   */
  private checkRootMapRead(type: number, key: string | null): void {
    if (this.nwm.rootAnswerCrash !== "headers" || this.scope?.stream || type !== MapType.HttpCallResponseHeaders) return;
    if (key === ":status") return;
    throw new HostCrash(`header map read (${key ?? "all pairs"}) from a root context: ngx_proxy_wasm_maps_get_map dereferences the NULL request context (prerelease-0.1.0 ngx_proxy_wasm_maps.c:96-97)`);
  }

  private requireStream(what: string): HttpStream {
    const stream = this.scope?.stream;
    if (!stream) throw new HostTrap(`${what} read from a root context (request-scoped): Kong errors or crashes here`);
    return stream;
  }

  /** ngx_proxy_wasm_get_buffer_helper (from a7087a37): a body buffer read outside its steps traps. */
  private checkBufferStep(allowed: string[], message: string): void {
    if (this.nwm.bufferStepChecks && !allowed.includes(this.scope?.phase ?? "")) throw new HostTrap(message);
  }

  // ngx_proxy_wasm_hfuncs_get_buffer (ngx_proxy_wasm_host.c).
  private getBufferBytes(type: number, max: number, retPtr: number, retLen: number): number {
    this.bufferReads.set(type, (this.bufferReads.get(type) ?? 0) + 1);
    let data: Buffer | null;
    switch (type) {
      case BufferType.PluginConfiguration: {
        const root = this.roots.find((r) => r.id === this.scope?.rootId);
        data = root ? root.config : Buffer.alloc(0);
        break;
      }
      case BufferType.VmConfiguration:
        data = Buffer.alloc(0);
        break;
      case BufferType.RequestBody: {
        this.checkBufferStep(["request_headers", "request_body", "log"], `can only get request body during "on_request_body", "on_log"`);
        const state = this.requireStream("request body").state;
        data = state.requestBody;
        if (data !== null && this.spilledToFile(state)) {
          this.hostLog("error", `cannot read request body buffered to file at "/usr/local/kong/client_body_temp/0000000001"`);
          return Status.NotFound;
        }
        break;
      }
      case BufferType.ResponseBody:
        this.checkBufferStep(["response_body"], `can only get response body during "on_response_body"`);
        data = this.requireStream("response body").state.responseChunk;
        break;
      case BufferType.HttpCallResponseBody: {
        if (this.nwm.rootAnswerCrash !== null && !this.scope?.stream) {
          throw new HostCrash("get_buffer_bytes(http call response body) from a root context: ngx_proxy_wasm_get_buffer_helper dereferences the NULL request context (21732b18 ngx_proxy_wasm_host.c:36-37)");
        }
        this.checkBufferStep(["http_call_response", "log"], `can only get dispatch response body during "on_http_dispatch_response"`);
        const r = this.scope?.callResponse;
        if (!r) return Status.BadArgument;
        // No body at all is NotFound ("none"), not an empty buffer.
        data = r.body.length > 0 ? r.body : null;
        break;
      }
      default:
        this.hostLog("warn", `NYI - get_buffer bad buf_type: ${type}`);
        return Status.BadArgument;
    }
    if (data === null) return Status.NotFound;
    // NWM ignores `start`: it always copies from byte 0, up to max.
    const len = Math.min(data.length, max);
    // Nothing to copy: Ok with nothing written to the return pointers ("eof") from a7087a37,
    // NotFound at 21732b18.
    if (len === 0) return this.nwm.emptyBufferOk ? Status.Ok : Status.NotFound;
    return this.giveBytes(data.subarray(0, len), retPtr, retLen);
  }

  /**
   * A map as ngx_proxy_wasm_maps_get_all (ngx_proxy_wasm_maps.c) assembles it: nginx's header list,
   * in the case the client or upstream sent, and the extras it puts first. `lookup` is for
   * get_header_map_value, which finds shims in every step.
   */
  private mapParts(type: number, lookup = false): MapParts | null {
    switch (type) {
      case MapType.RequestHeaders: {
        const s = this.requireStream("request headers").state;
        // Special keys: :path is $uri plus ?$args (ngx_proxy_wasm_maps_get_path), :authority the
        // server block's server_name (or the machine's hostname) and the local port
        // (ngx_proxy_wasm_maps_get_authority): not the client's Host.
        return {
          list: s.requestHeaders,
          extras: [
            [":path", Buffer.from(s.uri + (s.args ? "?" + s.args : ""), "latin1")],
            [":method", Buffer.from(s.method, "latin1")],
            [":scheme", Buffer.from(s.scheme)],
            [":authority", Buffer.from(`${s.serverName || this.opts.hostname}:${s.serverPort}`)],
          ],
        };
      }
      case MapType.ResponseHeaders: {
        const s = this.requireStream("response headers").state;
        const list = s.responseHeaders.filter(([k]) => !SHIM_SOURCES.includes(k.toLowerCase()));
        // :status only once a status is known (ngx_proxy_wasm_maps_get_response_status).
        const extras: Pair[] = s.status ? [[":status", Buffer.from(String(s.status).padStart(3, "0"))]] : [];
        const phase = this.scope?.phase ?? "";
        if (lookup || !this.nwm.shimsOnlyInResponseSteps || ["response_headers", "response_body", "log"].includes(phase)) {
          extras.push(...this.shimHeaders(s));
        }
        return { list, extras };
      }
      case MapType.HttpCallResponseHeaders: {
        const r = this.scope?.callResponse;
        return r ? { list: r.list, extras: r.extras } : null;
      }
      default:
        return null;
    }
  }

  /**
   * Whether nginx wrote the request body to a temp file (ngx_http_wasm_get_buffer then answers
   * NotFound and logs "cannot read request body buffered to file", ngx_proxy_wasm_host.c:74-81 at
   * 9136e463). Not simply "bigger than client_body_buffer_size", as the real host showed
   * (the removed real-host suite, f66d8f6:tests/nwm/golden.test.ts: a 2000-byte body with a 1024-byte buffer was read): NWM asks for the
   * body in a single buffer (r->request_body_in_single_buf = 1, src/http/ngx_http_wasm_util.c:50 at
   * every pin), and nginx 1.25.3's ngx_http_read_client_request_body (src/http/ngx_http_request_body.c:
   * 175-180) then sizes that buffer for the whole rest of a body with a known length when the rest is
   * under client_body_buffer_size + a quarter; a chunked body gets client_body_buffer_size and
   * spills past it. The rest is the body less what arrived with the request head (at most
   * client_header_buffer_size, 1k); this host cannot see that, so it counts the whole body (a body
   * just over the threshold may still be read in Kong).
   */
  private spilledToFile(s: RequestState): boolean {
    const length = s.requestBody?.length ?? 0;
    const size = this.opts.clientBodyBufferSize;
    if (firstValue(s.requestHeaders, "transfer-encoding") !== null) return length > size;
    return length >= size + (size >> 2);
  }

  /**
   * nginx's own response headers as NWM produces them (ngx_http_wasm_get_shim_headers,
   * src/http/ngx_http_wasm_headers_shims.c), in its order and capitalisation. Keep-Alive needs
   * keepalive_header and Vary gzip_vary, neither of which Kong sets.
   */
  private shimHeaders(s: RequestState): Pair[] {
    const first = (name: string) => firstValue(s.responseHeaders, name);
    const out: Pair[] = [];
    const ct = first("content-type");
    if (ct && ct.length > 0) out.push(["Content-Type", ct]);
    // nginx keeps the length as a number (content_length_n) and NWM prints it back ("%O"); a
    // length nginx cannot read would have failed the upstream response, so it is left out here.
    const cl = first("content-length")?.toString("latin1").trim();
    if (cl !== undefined && /^\d{1,18}$/.test(cl)) out.push(["Content-Length", Buffer.from(String(BigInt(cl)))]);
    // Any response without a length, whatever its status: ngx_http_wasm_shim_transfer_encoding
    // (src/http/ngx_http_wasm_headers_shims.c:245-247 at every pin) says chunked when
    // content_length_n < 0, and runs before nginx's own header filter clears the length of a 204
    // (ngx_http_header_filter_module.c:226-233 in nginx 1.25.3). The real host says chunked for a 204
    // (the removed real-host suite, f66d8f6:tests/nwm/golden.test.ts, "no body: a 204"), though the client gets neither header.
    else out.push(["Transfer-Encoding", Buffer.from("chunked")]);
    out.push(["Connection", Buffer.from(s.keepAlive === false ? "close" : "keep-alive")]);
    return out;
  }

  /**
   * Header setters: from 91d447ff ngx_proxy_wasm_hfuncs_set_header_check traps outside the steps
   * where the map can still change; before, NWM logged an error and answered Ok.
   */
  private mapWritable(type: number): boolean {
    const s = this.requireStream("headers").state;
    const phase = this.scope?.phase ?? "";
    if (this.nwm.headerSettersTrapAfterStep) {
      if (type === MapType.RequestHeaders && !["request_headers", "request_body"].includes(phase)) {
        throw new HostTrap("can only set request headers before response is produced");
      }
      if (type === MapType.ResponseHeaders && !["request_headers", "request_body", "response_headers"].includes(phase)) {
        throw new HostTrap(`can only set response headers before "on_response_body"`);
      }
      return true;
    }
    if (type === MapType.RequestHeaders && s.responseStarted) {
      this.hostLog("error", "cannot set request headers: response produced");
      return false;
    }
    if (type === MapType.ResponseHeaders && s.headersSent) {
      this.hostLog("error", "cannot set response headers: headers already sent");
      return false;
    }
    return true;
  }

  private editMap(type: number, op: "add" | "replace" | "remove", key: string, value: Buffer): number {
    if (type !== MapType.RequestHeaders && type !== MapType.ResponseHeaders) return Status.BadArgument;
    const state = this.requireStream("headers").state;
    if (!this.mapWritable(type)) return Status.Ok;
    const lower = key.toLowerCase();
    if (type === MapType.RequestHeaders && lower.startsWith(":")) {
      if (lower === ":path" && op !== "remove") {
        const text = value.toString("latin1");
        if (text.includes("?")) throw new HostTrap("NYI - cannot set request path with querystring");
        state.uri = text;
        return Status.Ok;
      }
      if (lower === ":method" && op !== "remove") {
        state.method = value.toString("latin1");
        return Status.Ok;
      }
      this.hostLog("error", `cannot set read-only "${key}" header`);
      return Status.Ok;
    }
    const list = type === MapType.RequestHeaders ? state.requestHeaders : state.responseHeaders;
    if (op !== "add") {
      for (let i = list.length - 1; i >= 0; i--) if (list[i][0].toLowerCase() === lower) list.splice(i, 1);
    }
    if (op !== "remove") list.push([key, Buffer.from(value)]);
    return Status.Ok;
  }

  // ---- properties ----

  private property(path: string): Buffer | null | "error" {
    const scope = this.scope;
    const stream = scope?.stream;
    const rootId = scope?.rootId ?? 0;
    const root = this.roots.find((r) => r.id === rootId);
    switch (path) {
      case "plugin_name":
        return root ? Buffer.from(root.filter.name) : null;
      case "plugin_root_id":
        return Buffer.from(String(rootId));
    }
    const requestScoped = /^(request|response|upstream|source|destination|connection|ngx|kong)\./.test(path);
    if (!requestScoped) return null;
    if (!stream) {
      // ngx_proxy_wasm_properties_get_ngx / _get_host (ngx_proxy_wasm_properties.c): outside a
      // request they log an error and fail; ngx_proxy_wasm_hfuncs_get_property answers
      // InternalFailure (ngx_proxy_wasm_result_err).
      this.hostLog("error", path.startsWith("kong.") ? "cannot get host properties outside of a request" : "cannot get ngx properties outside of a request");
      return "error";
    }
    if (path.startsWith("kong.")) return this.kongProperty(stream, path);
    const s = stream.state;
    const str = (v: string | number | undefined | null) => (v === undefined || v === null ? null : Buffer.from(String(v), "utf8"));
    if (path.startsWith("request.headers.")) return firstValue(s.requestHeaders, path.slice(16));
    if (path.startsWith("response.headers.")) return firstValue(s.responseHeaders, path.slice(17));
    if (path.startsWith("ngx.")) return this.ngxVariable(s, path.slice(4));
    const reqLen = s.requestBody?.length ?? 0;
    switch (path) {
      case "request.path": return Buffer.from(s.requestUri, "latin1");
      case "request.url_path": return Buffer.from(s.uri, "latin1");
      case "request.host": return str(this.opts.hostname);
      case "request.scheme": return str(s.scheme);
      case "request.method": return str(s.method);
      case "request.useragent": return firstValue(s.requestHeaders, "user-agent");
      case "request.protocol": return str(s.protocol);
      case "request.query": return Buffer.from(s.args, "latin1");
      case "request.id": return firstValue(s.requestHeaders, "x-request-id");
      case "request.referer": return firstValue(s.requestHeaders, "referer");
      case "request.time": return str(`${Math.floor(s.startMs / 1000)}.${String(s.startMs % 1000).padStart(3, "0")}`);
      case "request.duration": return str(((Date.now() - s.startMs) / 1000).toFixed(3));
      case "request.size": return firstValue(s.requestHeaders, "content-length");
      case "request.total_size": return str(reqLen);
      case "response.code": return str(s.status || 0);
      case "response.size": return str(s.bodyBytesSent);
      case "response.total_size": return str(s.bodyBytesSent);
      case "upstream.address": return str(s.upstreamAddress);
      case "upstream.port": return str(s.upstreamPort);
      case "source.address": return str(s.remoteAddr);
      case "source.port": return str(s.remotePort);
      case "connection.id": return str(s.connectionId);
      case "connection.mtls": return str("false");
    }
    return null;
  }

  /**
   * kong.*: before 3.6 Kong registers no getter, and NWM answers only what the filter set itself
   * (NotFound here). From 3.6 Kong's Lua answers (register_property_handlers, kong/runloop/wasm.lua):
   * NWM first looks in the request's cache of constant answers (ngx_proxy_wasm_properties_get_host,
   * src/common/proxy_wasm/ngx_proxy_wasm_properties.c:948, "even if there is an FFI getter, try reading
   * const value first" :1115 at 9136e463, the same at a7087a37), else calls Kong's getter through a
   * LuaJIT FFI callback (c_props_getter, lib/resty/wasmx/proxy_wasm.lua:368), and caches what the
   * getter marks constant (`return ok, value, const`; a constant nil too: is_const_null).
   *
   * That Lua call is safe only where Kong's own Lua has just run on the request's own thread: in the
   * access phase, where Kong attaches the filter chain and NWM then runs on_request_headers. LuaJIT
   * enters a callback on the thread that last made an interpreted FFI call (lj_ccallback_enter: `L =
   * cts->L`; set in ctype_cts, lj_ctype.h; compiled traces leave it), and the getter stamps the
   * request onto that thread (set_r → thread.exdata, proxy_wasm.lua:306-314). The response steps
   * (nginx's header and body filters), a request body that arrives after the access phase
   * (ngx_http_proxy_wasm_on_request_body_handler, the body reader's callback) and the log phase (nginx's
   * log handler, after Kong.log) are entered from nginx, so the thread can be another request's
   * coroutine parked in ngx.semaphore:wait; once the logged request is freed, the semaphore's post
   * resumes that coroutine with it (ngx_http_lua_sema_handler: `r = ngx_http_lua_get_req(wait_co_ctx->co);
   * c = r->connection`, ngx_lua 0.10.26, Kong 3.9.3's, src/ngx_http_lua_semaphore.c:486-489). Seen in Kong
   * 3.9.3 under 8 connections: a SIGSEGV loop there on a request with no connection, or signal 6
   * after "http finalize non-active request". Such a read is recorded as a crash (not acted out:
   * the real worker dies later, on another request's event).
   *
   * In the log phase the getters that read ngx.ctx find nothing: Kong.log has already released the
   * table to its pool, which clears it (release_table(CTX_NS, ctx), kong/init.lua:1847 at 3.9.3).
   */
  private kongProperty(stream: HttpStream, path: string): Buffer | null {
    // Plain nginx with NWM runs no Kong Lua: no getter answers.
    if (!this.nwm.kongProperties || this.opts.plainNginx) return null;
    const cached = stream.kongConstants.get(path);
    if (cached !== undefined) return cached;
    if (path === "kong.response.source") throw new HostTrap("kong.response.source: its getter is broken in Kong and traps");
    const phase = this.scope?.phase ?? "";
    this.kongLuaReads.set(path, (this.kongLuaReads.get(path) ?? 0) + 1);
    if (!KONG_LUA_SAFE_STEPS.has(phase)) {
      const message = `${path} read in ${phase}: Kong's Lua getter ran outside the access phase (an FFI callback on another Lua thread, which then points at this request after it is freed; ngx_http_lua_sema_handler later resumes it: SIGSEGV)`;
      this.crashes.push({ phase, message });
      this.hostLog("alert", `worker process will exit on signal 11 (SIGSEGV): ${message}`);
    }
    const got = this.kongGetter(stream.state, path, ["done", "log", "delete"].includes(phase));
    if (got.constant) stream.kongConstants.set(path, got.value);
    return got.value;
  }

  /** Kong's getters (kong/runloop/wasm.lua at 3.9.3:758-878; route_name and service_name from 3.9). */
  private kongGetter(s: RequestState, path: string, ctxReleased: boolean): { value: Buffer | null; constant: boolean } {
    const str = (v: string | undefined) => (v === undefined ? null : Buffer.from(v, "utf8"));
    // ngx.ctx.route and ngx.ctx.service, gone once Kong.log has run.
    const route = ctxReleased ? undefined : s.route;
    const service = ctxReleased ? undefined : s.service;
    const names = this.nwm.routeServiceNames;
    // `local const = ok`: a value found is constant for the request, a nil is not (asked again).
    const found = (v: string | undefined) => ({ value: str(v), constant: v !== undefined });
    switch (path) {
      case "kong.version": return { value: Buffer.from(this.kongVersion), constant: true };
      case "kong.node.id": return { value: Buffer.from(this.opts.nodeId), constant: true };
      case "kong.route_id": return found(route?.id);
      case "kong.service_id": return found(service?.id);
      case "kong.route_name": return names ? found(route?.name) : { value: null, constant: false };
      case "kong.service_name": return names ? found(service?.name) : { value: null, constant: false };
      // kong.router.get_route() / get_service() read ngx.ctx too; a nil is returned as constant.
      case "kong.router.route": return { value: route ? str(JSON.stringify(route)) : null, constant: true };
      case "kong.router.service": return { value: service ? str(JSON.stringify(service)) : null, constant: true };
      // kong.client.get_protocol() needs ngx.ctx.route.
      case "kong.client.protocol": return { value: route ? str(s.scheme) : null, constant: true };
    }
    return { value: null, constant: false };
  }

  /** nginx variables (ngx.*): those a test set, and the few built-in ones filters read. */
  private ngxVariable(s: RequestState, name: string): Buffer | null {
    const set = s.ngxVars?.[name];
    if (set !== undefined) return Buffer.from(set, "utf8");
    if (name === "nginx_version") return Buffer.from(versionAtLeast(this.kongVersion, "3.7.0") ? "1.25.3" : "1.21.4");
    if (name === "sent_http_content_type") return firstValue(s.responseHeaders, "content-type");
    // Kong's nginx template sets it in every proxied location (kong/templates/nginx_kong.lua,
    // `set $kong_proxy_mode 'http'`): how the filter tells Kong 3.4/3.5, which has no kong.version.
    if (name === "kong_proxy_mode") return this.opts.plainNginx ? null : Buffer.from("http");
    return null;
  }

  // ---- dispatch ----

  private dispatch(upstream: string, headerBytes: Buffer, body: Buffer, timeoutMs: number, tokenPtr: number): number {
    const scope = this.scope!;
    if (!DISPATCH_PHASES.has(scope.phase)) {
      throw new HostTrap(`dispatch failed: cannot dispatch an HTTP call in the ${scope.phase} phase`);
    }
    const fromRoot = !scope.stream;
    // Every pin: a root context's callback that dispatches leaves the answered call's fake request
    // unfinished (ngx_http_proxy_wasm_dispatch_resume_handler returns NGX_AGAIN for it).
    if (fromRoot && scope.call) this.leak(scope.call.token, "its answer's callback dispatched another call");
    const pairs = deserializeMap(headerBytes);
    if (pairs === null) return Status.BadArgument;
    const get = (k: string) => firstValue(pairs, k)?.toString("latin1");
    const method = get(":method");
    const path = get(":path");
    if (!method || !path) {
      const msg = `dispatch failed: no ${!method ? ":method" : ":path"}`;
      // The fake connection made for a root's call is not released on this error path
      // (ngx_http_proxy_wasm_dispatch's error: label destroys the call, not the fake request).
      if (fromRoot) this.leak(this.nextToken++, "a dispatch from a root context failed before it left");
      if (scope.phase === "tick") {
        this.hostLog("error", msg);
        return Status.InternalFailure;
      }
      throw new HostTrap(msg);
    }
    const target = parseUpstream(upstream);
    if (target === null) {
      this.hostLog("error", `dispatch failed: invalid upstream "${upstream}"`);
      // ngx_wasm_socket_tcp_init's ngx_parse_url failure takes the same error path as above.
      if (fromRoot) this.leak(this.nextToken++, "a dispatch from a root context failed before it left");
      return Status.InternalFailure;
    }
    const tls = get(":scheme") === "https";
    const authority = get(":authority");
    // ngx_wasm_socket_tcp_ssl_set_server_name (ngx_wasm_socket_tcp.c): SNI is :authority (else the
    // upstream) without its port; an IP literal is refused (RFC 6066), failing the TLS step.
    const sniSource = authority || target.host;
    const sniName = sniSource.startsWith("[") ? "" : sniSource.split(":")[0];
    const sniRefused = tls && (sniName === "" || sniSource.startsWith("[") || net.isIPv4(sniName));
    const token = this.nextToken++;
    const call: PendingCall = { token, rootId: scope.rootId, generation: this.generation, upstream, headers: pairs, body, fromRoot };
    this.calls.push(call);
    this.writeU32(tokenPtr, token);

    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of pairs) {
      const lk = k.toLowerCase();
      if (lk.startsWith(":") || lk === "host" || lk === "connection" || lk === "content-length") continue;
      const val = v.toString("latin1");
      const prev = headers[lk];
      headers[lk] = prev === undefined ? val : ([] as string[]).concat(prev, val);
    }
    headers.host = authority ?? target.host;
    headers.connection = "close";
    headers["content-length"] = String(body.length);
    const port = target.port ?? (tls ? 443 : 80);
    const options: https.RequestOptions = {
      host: target.host.replace(/^\[|\]$/g, ""),
      port,
      method,
      path,
      headers,
      agent: false,
      timeout: timeoutMs || 60000,
    };
    if (tls) {
      options.servername = sniName;
      if (this.opts.dispatchCa) options.ca = this.opts.dispatchCa;
    }
    // A failure has NWM's socket status (ngx_wasm_socket_errlist: "timeout", "broken connection",
    // "tls handshake failure", "resolver failure") and an error line "dispatch failed: tcp socket - …"
    // (ngx_http_proxy_wasm_dispatch_err); only from 3.9 does the filter hear of it.
    const finish = (outcome: { status?: number; list?: Pair[]; body?: Buffer; error?: { status: string; detail: string } }) => {
      if (call.outcome) return;
      call.outcome = { status: outcome.status, error: outcome.error?.status };
      if (!this.isCurrent(call.generation)) return;
      const leakOn = this.nwm.leakOnOverlap;
      if (fromRoot && leakOn !== null && (leakOn === "any" || outcome.error === undefined) &&
          this.calls.some((c) => c !== call && c.fromRoot && c.rootId === call.rootId && !c.outcome)) {
        this.leak(token, `it ended (${outcome.error === undefined ? "answered" : "failed"}) while another call of its root context was pending`);
      }
      if (outcome.error !== undefined) {
        this.hostLog("error", `dispatch failed: tcp socket - ${outcome.error.detail}`);
        if (!this.nwm.dispatchFailureCallback) return;
        const extras: Pair[] = [[":dispatch_status", Buffer.from(outcome.error.status)]];
        this.callRoot(call.rootId, "http_call_response", () => {
          this.scope!.callResponse = { list: [], extras, body: Buffer.alloc(0) };
          this.scope!.call = call;
          this.exports.proxy_on_http_call_response?.(call.rootId, token, 0, 0, 0);
        });
        return;
      }
      const list = outcome.list!;
      const respBody = outcome.body!;
      // Extras of the call response map (ngx_proxy_wasm_maps.c): :status, and :dispatch_status from
      // 9136e463. The count given to the callback is nginx's header list alone
      // (ngx_http_proxy_wasm_on_dispatch_response).
      const extras: Pair[] = [[":status", Buffer.from(String(outcome.status).padStart(3, "0"))]];
      if (this.nwm.dispatchFailureCallback) extras.push([":dispatch_status", Buffer.from("ok")]);
      this.callRoot(call.rootId, "http_call_response", () => {
        this.scope!.callResponse = { list, extras, body: respBody };
        this.scope!.call = call;
        this.exports.proxy_on_http_call_response?.(call.rootId, token, list.length, respBody.length, 0);
      });
    };
    if (sniRefused) {
      setImmediate(() => finish({ error: { status: "tls handshake failure", detail: `could not derive tls sni from host ("${target.host}")` } }));
      return Status.Ok;
    }
    if (this.opts.virtualDispatch) {
      const a = this.opts.virtualDispatch({ upstream, headers: pairs, body, timeoutMs });
      const at = this.timerNow() + ("hang" in a ? timeoutMs || 60000 : a.afterMs);
      const run = "hang" in a
        ? () => finish({ error: { status: "timeout", detail: `timed out reading from "${upstream}"` } })
        : () => finish({ status: a.status, list: a.headers ?? [], body: a.body ?? Buffer.alloc(0) });
      this.scheduled.push({ at, seq: this.seq++, run });
      return Status.Ok;
    }
    if (this.opts.dispatchStub) {
      const answer = this.opts.dispatchStub({ upstream, headers: pairs, body });
      setImmediate(() => finish({ status: answer.status, list: answer.headers ?? [], body: answer.body ?? Buffer.alloc(0) }));
      return Status.Ok;
    }
    // The timeout argument applies to each step (connect, every send, every read), as NWM's
    // connect/send/read timers do (ngx_wasm_socket_tcp.c): Node's socket timeout is the same kind
    // of idle timer, so a slow answer that keeps moving succeeds long after `timeoutMs`.
    const req = (tls ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const list: Pair[] = [];
        // Names as the collector sent them: nginx keeps their case.
        for (let i = 0; i < res.rawHeaders.length; i += 2) list.push([res.rawHeaders[i], Buffer.from(res.rawHeaders[i + 1], "latin1")]);
        finish({ status: res.statusCode, list, body: Buffer.concat(chunks) });
      });
      res.on("error", () => finish({ error: CLOSED_BEFORE_ANSWER }));
    });
    req.on("timeout", () => {
      req.destroy();
      finish({ error: { status: "timeout", detail: `timed out reading from "${upstream}"` } });
    });
    req.on("error", (e: NodeJS.ErrnoException) => {
      const error = e.code === "ECONNREFUSED" ? { status: "broken connection", detail: "Connection refused" }
        : e.code === "ECONNRESET" ? CLOSED_BEFORE_ANSWER
        : e.code === "ENOTFOUND" || e.code === "EAI_AGAIN" ? { status: "resolver failure", detail: `resolver error: Host not found` }
        : /certificate|SSL|TLS|self-signed/i.test(e.message) ? { status: "tls handshake failure", detail: `tls certificate verify error: (${e.message})` }
        : { status: "broken connection", detail: e.message };
      finish({ error });
    });
    req.end(body);
    return Status.Ok;
  }

  /** NWM would never free this root call's fake connection (nwm.ts, leakOnOverlap). */
  private leak(token: number, why: string): void {
    this.leaks.push({ token, why });
    this.hostLog("alert", `(emulated) the fake request of root call ${token} is never finalised: ${why}; a worker_connections slot is lost`);
  }

  /** With virtualDispatch: delivers every outcome due by now on the test's clock, in order. */
  runDue(): number {
    let n = 0;
    for (;;) {
      const now = this.timerNow();
      let pick = -1;
      for (let i = 0; i < this.scheduled.length; i++) {
        const e = this.scheduled[i];
        if (e.at <= now && (pick < 0 || e.at < this.scheduled[pick].at || (e.at === this.scheduled[pick].at && e.seq < this.scheduled[pick].seq))) pick = i;
      }
      if (pick < 0) return n;
      const [e] = this.scheduled.splice(pick, 1);
      e.run();
      n++;
    }
  }

  private timerNow(): number {
    return this.opts.timerClock ? this.opts.timerClock() : this.now();
  }

  /** Resolves once no dispatch is waiting for its answer. */
  async settle(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.calls.some((c) => !c.outcome) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  }
}

function parseUpstream(upstream: string): { host: string; port?: number } | null {
  if (upstream.startsWith("unix:")) return null;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s\/]+)(?::(\d{1,5}))?$/.exec(upstream);
  if (!m) return null;
  const port = m[2] ? Number(m[2]) : undefined;
  if (port !== undefined && (port < 1 || port > 65535)) return null;
  return { host: m[1], port };
}

/**
 * Where a kong.* read may call Kong's Lua (kongProperty): on_context_create and on_request_headers,
 * which NWM runs in the access phase right after Kong's access handler attached the chain.
 */
const KONG_LUA_SAFE_STEPS = new Set(["create", "request_headers"]);

/** The HTTP contexts of one request, one per filter of the chain, driven phase by phase. */
export class HttpStream {
  private done = false;
  /** NWM's per-request cache of the constant answers of Kong's getters (null: a constant nil). */
  readonly kongConstants = new Map<string, Buffer | null>();
  /** A response the filter stashed with proxy_send_local_response: Kong answers with it, the upstream is not called. */
  local: { status: number; headers: Pair[]; body: Buffer } | null = null;
  /** Set when a filter trapped: Kong skips the rest of the request's filter phases. */
  trapped: FilterTrapped | null = null;

  constructor(
    private host: KongWasmHost,
    readonly state: RequestState,
    readonly contexts: { id: number; rootId: number }[],
    private generation: number,
  ) {}

  /** @internal */
  invoke(phase: string, ctx: { id: number; rootId: number }, fn: () => unknown): unknown {
    if (this.trapped || !this.host.isCurrent(this.generation)) return Action.Continue;
    try {
      return this.host.streamCall(this, phase, ctx, fn);
    } catch (e) {
      if (e instanceof FilterTrapped) this.trapped = e;
      throw e;
    }
  }

  private each(phase: string, call: (id: number) => unknown): void {
    for (const ctx of this.contexts) {
      const action = this.invoke(phase, ctx, () => call(ctx.id));
      if (action === Action.Pause) this.host.pauses++;
    }
  }

  requestHeaders(): void {
    // end_of_stream: 1 before Kong 3.7, 0 from 3.7 (nwm.ts, headersEndOfStream); the count is nginx's
    // header list alone, without NWM's pseudo-headers (ngx_http_proxy_wasm_on_request_headers:
    // ngx_http_wasm_req_headers_count).
    const eos = this.host.nwm.headersEndOfStream ? 1 : 0;
    this.each("request_headers", (id) => this.host.exports.proxy_on_request_headers(id, this.state.requestHeaders.length, eos));
  }

  /** Kong calls on_request_body once, with the whole body. */
  requestBody(): void {
    const len = this.state.requestBody?.length ?? 0;
    this.each("request_body", (id) => this.host.exports.proxy_on_request_body?.(id, len, 1));
  }

  /** The response's length as on_response_headers found it (-1: none), for on_response_body's eof. */
  private responseLength = -1;

  responseHeaders(): void {
    this.state.responseStarted = true;
    // NWM keeps nginx's content_length_n for on_response_body (rctx->resp_content_length_n,
    // ngx_http_proxy_wasm.c:186 at 9136e463, :183 at 21732b18).
    const cl = firstValue(this.state.responseHeaders, "content-length")?.toString("latin1").trim();
    this.responseLength = cl !== undefined && /^\d{1,15}$/.test(cl) ? Number(cl) : -1;
    // nginx's header list plus the shim headers, without :status (ngx_http_proxy_wasm_on_response_headers).
    const n = this.host.responseHeaderCount(this.state);
    const eos = this.host.nwm.headersEndOfStream ? 1 : 0;
    this.each("response_headers", (id) => this.host.exports.proxy_on_response_headers?.(id, n, eos));
  }

  /**
   * One call per piece of body nginx passes on (the gateway: each upstream chunk of a response
   * without a length, 8 KiB proxy buffers of one with a length); `eof` is nginx's last buffer. NWM
   * then decides what the filter is told (ngx_http_proxy_wasm_on_response_body, ngx_http_proxy_wasm.c:
   * 226-231 at 9136e463, 223-228 at 21732b18, the same at every pin): for a response with a length,
   * end_of_stream is "this call carries the whole length", and a call with no bytes and no
   * end_of_stream is not made. So a response with a length whose body comes in one piece gets one
   * call with end_of_stream 1, and one in several pieces never gets end_of_stream (the filter must
   * finish in on_log); one without a length gets its pieces and then an empty call with
   * end_of_stream 1. All seen in the real host with the probe filter (the removed real-host suite, f66d8f6:tests/nwm/golden.test.ts).
   */
  responseBody(chunk: Buffer | null, eof: boolean): void {
    const len = chunk?.length ?? 0;
    const eos = this.responseLength > 0 ? len === this.responseLength : eof;
    if (len === 0 && !eos) return;
    this.state.responseChunk = chunk ?? Buffer.alloc(0);
    this.each("response_body", (id) => this.host.exports.proxy_on_response_body?.(id, len, eos ? 1 : 0));
    this.state.responseChunk = null;
  }

  /**
   * A whole call driven in-process, as Kong would: request headers, the request body (when the
   * state has one), response headers, each response chunk, the end of the body, the log phase.
   */
  runAll(responseChunks: Buffer[]): void {
    this.requestHeaders();
    if (!this.local && this.state.requestBody && this.state.requestBody.length > 0) this.requestBody();
    if (this.local) {
      const local = this.prepareLocalResponse();
      this.responseHeaders();
      this.state.headersSent = true;
      if (local.length > 0) this.responseBody(local, false);
      this.responseBody(null, true);
      this.finish();
      return;
    }
    this.responseHeaders();
    this.state.headersSent = true;
    for (const chunk of responseChunks) this.responseBody(chunk, false);
    this.responseBody(null, true);
    this.finish();
  }

  /**
   * Turns the stashed local response into the response state, as ngx_http_wasm_flush_local_response
   * does: its status and headers, Content-Length (the body plus nginx's line feed). Returns the body
   * to send.
   *
   * Then what NWM's header filter adds before on_response_headers (ngx_http_wasm_produce_resp_headers,
   * src/http/ngx_http_wasm_util.c:168-201 at 9136e463, the same function at every pin, called from
   * ngx_http_wasm_filter_module.c:90): Server when none is set — "nginx", as Kong's template has
   * `server_tokens off` — and Date (nginx's cached time). The real host shows both in a blocked
   * call's event (the removed real-host suite, f66d8f6:tests/nwm/governance.test.ts). A proxied response gets neither: Kong passes the
   * upstream's Server and Date (proxy_pass_header), and nginx's proxy module marks them present but
   * empty when the upstream sent none (ngx_http_proxy_process_header, nginx 1.25.3
   * src/http/modules/ngx_http_proxy_module.c:1962-1989). Not emulated: Kong's Lua header_filter,
   * which runs before NWM's and sets Server: kong/<version> on a response Kong did not proxy.
   */
  prepareLocalResponse(): Buffer {
    const local = this.local!;
    const body = local.body.length > 0 ? Buffer.concat([local.body, Buffer.from("\n")]) : Buffer.alloc(0);
    this.state.status = local.status;
    const headers: Pair[] = [...local.headers.filter(([k]) => k.toLowerCase() !== "content-length"), ["Content-Length", Buffer.from(String(body.length))]];
    if (firstValue(headers, "server") === null) headers.push(["Server", Buffer.from("nginx")]);
    if (firstValue(headers, "date") === null) headers.push(["Date", Buffer.from(new Date(this.host.now()).toUTCString())]);
    this.state.responseHeaders = headers;
    return body;
  }

  /** The log phase: on_done, then on_log, then on_delete (NWM's order). */
  finish(): void {
    if (this.done) return;
    this.done = true;
    const ex = () => this.host.exports;
    for (const phase of ["done", "log", "delete"] as const) {
      for (const ctx of this.contexts) {
        try {
          this.invoke(phase, ctx, () => ex()[`proxy_on_${phase}`]?.(ctx.id));
        } catch (e) {
          if (!(e instanceof FilterTrapped)) throw e;
          // The response is already sent: Kong can only log the trap.
        }
      }
    }
  }
}
