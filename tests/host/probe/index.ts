// A probe filter for the test host's own tests: built on the project's runtime, it does whatever its
// configuration (a command word and an argument) says, so each Kong rule the host copies can be
// exercised from real wasm. Not shipped.
import { setRootFactory, RootContext, HttpContext } from "../../../assembly/runtime/context";
import { Action, BufferType, MapType, Status } from "../../../assembly/runtime/abi";
import {
  logInfo, getBufferBytes, getHeaderMap, getProperty, propertyPath, setTickPeriod, httpCall, getHeaderValue, statusName,
} from "../../../assembly/runtime/host";
import { encodeHeaderMap } from "../../../assembly/runtime/headers";
import { proxy_done } from "@solo-io/proxy-runtime/assembly/imports";
import "../../../assembly/runtime/abort";

function u(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
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
    if (this.command == "tick-twice" || this.command.startsWith("dispatch") || this.command == "root-property" || this.command == "tick" || this.command == "stub") {
      logInfo("probe: tick set " + statusName(setTickPeriod(100)));
    }
    return this.command != "refuse-configure";
  }

  onTick(): void {
    this.ticks++;
    logInfo("probe: tick " + this.ticks.toString());
    if (this.command == "tick-twice" && this.ticks == 1) setTickPeriod(200);
    if (this.command == "root-property") getProperty(propertyPath("request.path"));
    if (this.command == "dispatch-on-tick" && this.ticks == 1) this.dispatch(true);
    if (this.command == "dispatch-no-path" && this.ticks == 1) this.dispatch(false);
  }

  dispatch(withPath: bool): void {
    const keys: Array<Uint8Array> = [u(":method"), u(":authority"), u("x-probe")];
    const values: Array<Uint8Array> = [u("POST"), u("probe.example"), u("1")];
    if (withPath) {
      keys.push(u(":path"));
      values.push(u("/probe?x=1"));
    }
    const r = httpCall(String.UTF8.encode(this.arg), encodeHeaderMap(keys, values), u("hello"), 2000);
    logInfo("probe: dispatch " + statusName(r.status) + " token " + r.token.toString());
  }

  onHttpCallResponse(token: u32, headers: u32, body: u32, trailers: u32): void {
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

class ProbeHttp extends HttpContext {
  constructor(id: u32, private root: ProbeRoot) {
    super(id, root.id);
  }

  onRequestHeaders(n: u32, eos: bool): u32 {
    const cmd = this.root.command;
    logInfo("probe: request_headers eos " + (eos ? "1" : "0"));
    if (cmd == "count-headers") {
      const m = getHeaderMap(MapType.RequestHeaders);
      let names = "";
      for (let i = 0; i < min(m.map.count, 4); i++) names += String.UTF8.decode(m.map.key(i).buffer) + " ";
      logInfo("probe: request map " + m.map.count.toString() + " pairs, first " + names.trim());
    }
    if (cmd == "stub") proxy_done();
    if (cmd == "abort") {
      // An out-of-range index is an AssemblyScript abort: our handler logs it, then traps.
      const empty = new Array<i32>(0);
      logInfo("probe: unreachable " + empty[<i32>n].toString());
    }
    if (cmd == "tick-from-http") logInfo("probe: tick from http " + statusName(setTickPeriod(100)));
    if (cmd == "dispatch-in-headers") this.root.dispatch(false);
    return Action.Continue;
  }

  onRequestBody(size: u32, eos: bool): u32 {
    const b = getBufferBytes(BufferType.RequestBody, 0, 0xffffffff);
    logInfo("probe: request_body size " + size.toString() + " eos " + (eos ? "1" : "0") + " read " +
      (b.status == Status.Ok ? b.data!.length.toString() : statusName(b.status)));
    return Action.Continue;
  }

  onResponseHeaders(n: u32, eos: bool): u32 {
    logInfo("probe: response_headers eos " + (eos ? "1" : "0"));
    return Action.Continue;
  }

  onResponseBody(size: u32, eos: bool): u32 {
    // Ask from offset 2: Kong ignores `start` and copies from byte 0.
    const b = getBufferBytes(BufferType.ResponseBody, 2, 4);
    logInfo("probe: response_body size " + size.toString() + " eos " + (eos ? "1" : "0") + " read " +
      (b.status == Status.Ok ? hex(b.data!, 4) : statusName(b.status)));
    return Action.Continue;
  }

  onDone(): bool {
    logInfo("probe: done");
    return true;
  }

  onLog(): void {
    logInfo("probe: log");
    if (this.root.command == "dispatch-in-log") this.root.dispatch(true);
    if (this.root.command == "properties") {
      const names = ["kong.route_id", "kong.service_name", "request.path", "source.address", "plugin_name", "kong.version", "no.such.thing"];
      for (let i = 0; i < names.length; i++) {
        const v = getProperty(propertyPath(names[i]));
        logInfo("probe: property " + names[i] + " = " + (v.status == Status.Ok ? String.UTF8.decode(v.data!.buffer) : statusName(v.status)));
      }
    }
  }

  onDelete(): void {
    logInfo("probe: delete");
  }
}

setRootFactory((id: u32): RootContext => new ProbeRoot(id));

export * from "../../../assembly/runtime/exports";
