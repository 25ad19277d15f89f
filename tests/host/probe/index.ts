// A probe filter for the test host's own tests: built on the project's runtime, it does whatever its
// configuration (a command word and an argument) says, so each Kong rule the host copies can be
// exercised from real wasm. Not shipped.
import { setRootFactory, RootContext, HttpContext } from "../../../assembly/runtime/context";
import { Action, BufferType, MapType, Status } from "../../../assembly/runtime/abi";
import {
  logInfo, getBufferBytes, getHeaderMap, getProperty, propertyPath, setTickPeriod, httpCall, getHeaderValue, statusName,
  replaceHeader, defineMetric, incrementMetric, recordMetric, MetricCounter, MetricGauge,
} from "../../../assembly/runtime/host";
import { HeaderMap } from "../../../assembly/runtime/headers";
import { encodeHeaderMap } from "../../../assembly/runtime/headers";
import { proxy_done } from "@solo-io/proxy-runtime/assembly/imports";
import "../../../assembly/runtime/abort";

function u(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

/** A map the host could not give counts as an empty one in the probe's log lines. */
function orEmpty(m: HeaderMap | null): HeaderMap {
  return m !== null ? m : HeaderMap.empty();
}

function keys(m: HeaderMap, n: i32): string {
  let names = "";
  for (let i = 0; i < min(m.count, n); i++) names += String.UTF8.decode(m.key(i).buffer) + " ";
  return names.trim();
}

function hex(b: Uint8Array, n: i32): string {
  let out = "";
  for (let i = 0; i < min(n, b.length); i++) out += (<u32>b[i]).toString(16).padStart(2, "0");
  return out;
}

class ProbeRoot extends RootContext {
  command: string = "";
  arg: string = "";
  ticks: i32 = 0;

  onConfigure(size: u32): bool {
    const got = getBufferBytes(BufferType.PluginConfiguration, 0, size);
    const text = got.status == Status.Ok ? String.UTF8.decode(got.data!.buffer) : "";
    const sp = text.indexOf(" ");
    this.command = sp < 0 ? text : text.substring(0, sp);
    this.arg = sp < 0 ? "" : text.substring(sp + 1);
    logInfo("probe: configured " + this.command);
    if (this.command == "tick-twice" || this.command.startsWith("dispatch") || this.command == "root-property" || this.command == "tick" ||
      this.command == "stub" || this.command.startsWith("metric") || this.command == "tick-trap") {
      logInfo("probe: tick set " + statusName(setTickPeriod(100)));
    }
    return this.command != "refuse-configure";
  }

  onTick(): void {
    this.ticks++;
    logInfo("probe: tick " + this.ticks.toString());
    if (this.command == "tick-twice" && this.ticks == 1) setTickPeriod(200);
    if (this.command == "root-property") {
      logInfo("probe: root property request.path " + statusName(getProperty(propertyPath("request.path")).status) +
        ", kong.version " + statusName(getProperty(propertyPath("kong.version")).status) +
        ", plugin_name " + statusName(getProperty(propertyPath("plugin_name")).status));
    }
    if (this.command == "tick-trap" && this.ticks == 1) proxy_done();
    if (this.command == "metrics" && this.ticks == 1) {
      const c = defineMetric(MetricCounter, "probe_calls");
      logInfo("probe: metric defined " + c.toString() + " increment " + statusName(incrementMetric(c, 3)));
    }
    if (this.command == "metric-misuse") {
      const g = defineMetric(MetricGauge, "probe_gauge");
      const c = defineMetric(MetricCounter, "probe_counter");
      if (this.arg == "increment-gauge") incrementMetric(g, 1);
      if (this.arg == "record-counter") recordMetric(c, 1);
      if (this.arg == "unknown-id") incrementMetric(12345, 1);
      if (this.arg == "long-name") defineMetric(MetricCounter, "x".repeat(260));
    }
    if (this.command == "dispatch-tls-ip" && this.ticks == 1) {
      const keys: Array<Uint8Array> = [u(":method"), u(":path"), u(":scheme"), u(":authority")];
      const values: Array<Uint8Array> = [u("GET"), u("/"), u("https"), u(this.arg)];
      const r = httpCall(String.UTF8.encode(this.arg), encodeHeaderMap(keys, values), new Uint8Array(0), 2000);
      logInfo("probe: dispatch " + statusName(r.status) + " token " + r.token.toString());
    }
    if ((this.command == "dispatch-on-tick" || this.command == "dispatch-from-answer") && this.ticks == 1) this.dispatch(true);
    // Two calls at once: "host:port host:port" (the second, e.g., a slower upstream).
    if (this.command == "dispatch-twice" && this.ticks == 1) {
      const sp = this.arg.indexOf(" ");
      const first = this.arg.substring(0, sp);
      const second = this.arg.substring(sp + 1);
      this.arg = first;
      this.dispatch(true);
      this.arg = second;
      this.dispatch(true);
    }
    if (this.command == "dispatch-no-path" && this.ticks == 1) this.dispatch(false);
  }

  dispatch(withPath: bool): void {
    const keys: Array<Uint8Array> = [u(":method"), u(":authority"), u("x-probe")];
    const values: Array<Uint8Array> = [u("POST"), u("probe.example"), u("1")];
    if (withPath) {
      keys.push(u(":path"));
      values.push(u("/probe?x=1"));
    }
    // "host:port" or "host:port timeout_ms"
    const sp = this.arg.indexOf(" ");
    const upstream = sp < 0 ? this.arg : this.arg.substring(0, sp);
    const timeout = sp < 0 ? 2000 : <u32>parseInt(this.arg.substring(sp + 1));
    const r = httpCall(String.UTF8.encode(upstream), encodeHeaderMap(keys, values), u("hello"), timeout);
    logInfo("probe: dispatch " + statusName(r.status) + " token " + r.token.toString());
  }

  onHttpCallResponse(token: u32, headers: u32, body: u32, trailers: u32): void {
    if (this.command == "dispatch-from-answer" && token == 0) this.dispatch(true);
    const st = getHeaderValue(MapType.HttpCallResponseHeaders, String.UTF8.encode(":status"));
    const ds = getHeaderValue(MapType.HttpCallResponseHeaders, String.UTF8.encode(":dispatch_status"));
    const b = getBufferBytes(BufferType.HttpCallResponseBody, 0, body);
    logInfo("probe: response token " + token.toString() + " headers " + headers.toString() +
      " status " + (st.status == Status.Ok ? String.UTF8.decode(st.data!.buffer) : "-") +
      " dispatch_status " + (ds.status == Status.Ok ? String.UTF8.decode(ds.data!.buffer) : "-") +
      " body " + (b.status == Status.Ok ? String.UTF8.decode(b.data!.buffer) : statusName(b.status)));
  }

  newHttpContext(id: u32): HttpContext {
    return new ProbeHttp(id, this);
  }
}

const KONG_NAMES = ["kong.route_id", "kong.route_name", "kong.service_id", "kong.service_name", "kong.version"];

class ProbeHttp extends HttpContext {
  constructor(id: u32, private root: ProbeRoot) {
    super(id, root.id);
  }

  /** "kong <step>,<step>…": reads Kong's route, service and version in each step named. */
  readKong(step: string): void {
    if (this.root.command != "kong" || !this.root.arg.split(",").includes(step)) return;
    for (let i = 0; i < KONG_NAMES.length; i++) {
      const v = getProperty(propertyPath(KONG_NAMES[i]));
      logInfo("probe: " + step + " " + KONG_NAMES[i] + " = " + (v.status == Status.Ok ? String.UTF8.decode(v.data!.buffer) : statusName(v.status)));
    }
  }

  readProperties(): void {
    const names = ["kong.route_id", "kong.service_name", "request.path", "source.address", "plugin_name", "kong.version", "no.such.thing"];
    for (let i = 0; i < names.length; i++) {
      const v = getProperty(propertyPath(names[i]));
      logInfo("probe: property " + names[i] + " = " + (v.status == Status.Ok ? String.UTF8.decode(v.data!.buffer) : statusName(v.status)));
    }
  }

  onRequestHeaders(n: u32, eos: bool): u32 {
    const cmd = this.root.command;
    logInfo("probe: request_headers eos " + (eos ? "1" : "0"));
    if (cmd == "count-headers") {
      const m = orEmpty(getHeaderMap(MapType.RequestHeaders, n));
      logInfo("probe: request map " + m.count.toString() + " pairs of " + n.toString() + " headers, first " + keys(m, 5));
    }
    if (cmd == "early-response-body") {
      logInfo("probe: response body in request_headers " + statusName(getBufferBytes(BufferType.ResponseBody, 0, 10).status));
    }
    if (cmd == "stub") proxy_done();
    if (cmd == "abort") {
      // An out-of-range index is an AssemblyScript abort: our handler logs it, then traps.
      const empty = new Array<i32>(0);
      logInfo("probe: unreachable " + empty[<i32>n].toString());
    }
    if (cmd == "tick-from-http") logInfo("probe: tick from http " + statusName(setTickPeriod(100)));
    if (cmd == "dispatch-in-headers") this.root.dispatch(false);
    // Where Kong's Lua serves kong.* safely (kong-host.ts, kongProperty).
    if (cmd == "properties") this.readProperties();
    this.readKong("request_headers");
    return Action.Continue;
  }

  onRequestBody(size: u32, eos: bool): u32 {
    const b = getBufferBytes(BufferType.RequestBody, 0, 0xffffffff);
    logInfo("probe: request_body size " + size.toString() + " eos " + (eos ? "1" : "0") + " read " +
      (b.status == Status.Ok ? b.data!.length.toString() : statusName(b.status)));
    this.readKong("request_body");
    return Action.Continue;
  }

  onResponseHeaders(n: u32, eos: bool): u32 {
    logInfo("probe: response_headers eos " + (eos ? "1" : "0"));
    if (this.root.command == "response-map") {
      const m = orEmpty(getHeaderMap(MapType.ResponseHeaders, n));
      logInfo("probe: response map of " + n.toString() + " headers: " + keys(m, 8));
    }
    this.readKong("response_headers");
    return Action.Continue;
  }

  onResponseBody(size: u32, eos: bool): u32 {
    // Ask from offset 2: Kong ignores `start` and copies from byte 0.
    const b = getBufferBytes(BufferType.ResponseBody, 2, 4);
    logInfo("probe: response_body size " + size.toString() + " eos " + (eos ? "1" : "0") + " read " +
      (b.status == Status.Ok ? (b.data!.length > 0 ? hex(b.data!, 4) : "Ok, no data") : statusName(b.status)));
    if (this.root.command == "late-header") {
      logInfo("probe: late response header " + statusName(replaceHeader(MapType.ResponseHeaders, String.UTF8.encode("x-late"), u("1"))));
    }
    this.readKong("response_body");
    return Action.Continue;
  }

  onDone(): bool {
    logInfo("probe: done");
    this.readKong("done");
    return true;
  }

  onLog(): void {
    logInfo("probe: log");
    if (this.root.command == "dispatch-in-log") this.root.dispatch(true);
    this.readKong("log");
  }

  onDelete(): void {
    logInfo("probe: delete");
  }
}

setRootFactory((id: u32): RootContext => new ProbeRoot(id));

export * from "../../../assembly/runtime/exports";
