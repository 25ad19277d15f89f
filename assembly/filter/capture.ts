// The per-request side: read what the event needs as the request passes (one host call per header
// map), never pause the stream, and build the event in the log phase.
import { HttpContext } from "../runtime/context";
import { Action, MapType, Status } from "../runtime/abi";
import { getHeaderMap, getProperty, propertyPath, nowNanos } from "../runtime/host";
import { HeaderMap } from "../runtime/headers";
import { Capture, buildEvent } from "./event";
import { utf8 } from "./bytes";
import { parseSecondsDotMillis } from "./time";
import { parseStatus } from "./sender";
import { MoesifRoot } from "./root";

// Kong puts these pseudo-headers first in the request map (ngx_proxy_wasm_maps.c).
const PSEUDO_METHOD = utf8(":method");
const PSEUDO_SCHEME = utf8(":scheme");
const PSEUDO_PATH = utf8(":path");
const PSEUDO_AUTHORITY = utf8(":authority");
const PSEUDO_STATUS = utf8(":status");
const HOST = utf8("host");

// request.path is nginx's $request_uri: the path and query exactly as the client sent them
// (`:path` is the normalised, decoded one). request.time is when nginx started the request.
const PROP_REQUEST_PATH = propertyPath("request.path");
const PROP_REQUEST_TIME = propertyPath("request.time");
const PROP_RESPONSE_CODE = propertyPath("response.code");
const PROP_SOURCE_ADDRESS = propertyPath("source.address");

export class MoesifHttp extends HttpContext {
  private seenRequest: bool = false;
  private requestHeaders: HeaderMap = HeaderMap.empty();
  private responseHeaders: HeaderMap = HeaderMap.empty();
  private requestNs: u64 = 0;

  constructor(id: u32, private root: MoesifRoot) {
    super(id, root.id);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): u32 {
    this.seenRequest = true;
    this.requestNs = nowNanos();
    const got = getHeaderMap(MapType.RequestHeaders);
    if (got.status == Status.Ok) this.requestHeaders = got.map;
    return Action.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): u32 {
    const got = getHeaderMap(MapType.ResponseHeaders);
    if (got.status == Status.Ok) this.responseHeaders = got.map;
    return Action.Continue;
  }

  onLog(): void {
    // A request that a Lua plugin answered before the filter ran never reached on_request_headers.
    if (!this.seenRequest) return;
    const nowMs = nowNanos() / 1000000;
    const c = new Capture();
    const req = this.requestHeaders;
    c.requestHeaders = req;
    c.responseHeaders = this.responseHeaders;
    c.method = headerOr(req, PSEUDO_METHOD, "GET");
    c.scheme = headerOr(req, PSEUDO_SCHEME, "http");
    let i = req.find(HOST);
    if (i < 0) i = req.find(PSEUDO_AUTHORITY);
    c.host = i >= 0 ? req.value(i) : new Uint8Array(0);
    const path = getProperty(PROP_REQUEST_PATH);
    c.path = path.status == Status.Ok ? path.data! : headerOr(req, PSEUDO_PATH, "/");

    const started = getProperty(PROP_REQUEST_TIME);
    c.requestMs = started.status == Status.Ok ? parseSecondsDotMillis(started.data!) : 0;
    if (c.requestMs == 0) c.requestMs = this.requestNs / 1000000;
    c.responseMs = nowMs;

    const s = this.responseHeaders.find(PSEUDO_STATUS);
    if (s >= 0) c.status = parseStatus(this.responseHeaders.value(s));
    if (c.status == 0) {
      const code = getProperty(PROP_RESPONSE_CODE);
      if (code.status == Status.Ok) c.status = parseStatus(code.data!);
    }
    const ip = getProperty(PROP_SOURCE_ADDRESS);
    if (ip.status == Status.Ok) c.ipAddress = ip.data;

    this.root.enqueue(buildEvent(c, this.root.eventOptions), nowMs);
  }
}

function headerOr(map: HeaderMap, name: Uint8Array, fallback: string): Uint8Array {
  const i = map.find(name);
  return i >= 0 ? map.value(i) : utf8(fallback);
}
