// The per-request side: read what the event needs as the request passes (one host call per header
// map, bodies chunk by chunk up to their limit), never pause the stream, and build the event in the
// log phase, where the heavy work (decompression, JSON scanning, identification) happens.
import { HttpContext } from "../runtime/context";
import { Action, BufferType, MapType, Status } from "../runtime/abi";
import { getBufferBytes, getHeaderMap, propertyBytes, propertyPath, nowNanos, replaceHeader, sendLocalResponse, logWarn, statusName } from "../runtime/host";
import { GovernanceInput, Decision, decide } from "../governance/decide";
import { RuleSet } from "../governance/rules";
import { learnHost, hostKongAtLeast } from "../runtime/hostinfo";
import { HeaderMap, encodeHeaderMap, equalsLowered } from "../runtime/headers";
import { buildEvent, TRANSACTION_HEADER } from "../event/event";
import { Capture, BodyCapture, BodyState, KongInfo } from "../event/model";
import { readRequest, finish, RequestIdentity } from "../capture/identify";
import { clientIp } from "../capture/ip";
import { hostWithoutDefaultPort, isHostValue } from "../capture/host";
import { mixEntropy, uuid4, random01 } from "../codec/random";
import { SampleInput, weightFor } from "../delivery/sampling";
import { utf8, trimmed, trimmedDigitsAt, parseStatus, asciiLower, EMPTY_BYTES } from "../codec/bytes";
import { parseSecondsDotMillis } from "../codec/time";
import { CallSettings } from "./settings";

// Kong puts these pseudo-headers first in the request map (ngx_proxy_wasm_maps.c).
const PSEUDO_METHOD = utf8(":method");
const PSEUDO_SCHEME = utf8(":scheme");
const PSEUDO_PATH = utf8(":path");
const PSEUDO_AUTHORITY = utf8(":authority");
const PSEUDO_STATUS = utf8(":status");
const HOST = utf8("host");
/** The collector refuses events over 1 MB; stay a little under. */
const MAX_EVENT_BYTES = 1000000;
const CONTENT_LENGTH = utf8("content-length");
const CONTENT_TYPE = utf8("content-type");
const TRANSFER_ENCODING = utf8("transfer-encoding");
const JSON_TYPE = utf8("application/json");
const GRAPHQL_TYPE = utf8("application/graphql");
const TRANSACTION_ID = utf8(TRANSACTION_HEADER);
const TRANSACTION_ID_NAME = String.UTF8.encode(TRANSACTION_HEADER);

// request.path is nginx's $request_uri: the path and query exactly as the client sent them
// (`:path` is the normalised, decoded one). request.time is when nginx started the request.
const PROP_REQUEST_PATH = propertyPath("request.path");
const PROP_REQUEST_TIME = propertyPath("request.time");
const PROP_RESPONSE_CODE = propertyPath("response.code");
const PROP_SOURCE_ADDRESS = propertyPath("source.address");
// Served by Kong's Lua (register_property_handlers, kong/runloop/wasm.lua): read only in
// on_request_headers, see readKong.
const PROP_ROUTE_ID = propertyPath("kong.route_id");
const PROP_ROUTE_NAME = propertyPath("kong.route_name");
const PROP_SERVICE_ID = propertyPath("kong.service_id");
const PROP_SERVICE_NAME = propertyPath("kong.service_name");

function property(path: ArrayBuffer): Uint8Array | null {
  const d = propertyBytes(path);
  return d !== null && d.length > 0 ? d : null;
}

/**
 * Kong's route and service, read in on_request_headers and nowhere later. Kong's Lua serves them:
 * NWM calls Kong's getter as a LuaJIT FFI callback (c_props_getter, lib/resty/wasmx/proxy_wasm.lua:368
 * at 9136e463; no NWM Lua thread, no yield), which LuaJIT runs on whichever Lua thread last made an
 * interpreted FFI call (lj_ccallback_enter: `L = cts->L`, set by ctype_cts; compiled code leaves it),
 * and the getter stamps our request onto that thread (set_r → thread.exdata). Right after Kong's
 * access handler that is the request's own thread (Kong keeps the FFI call it makes there out of the
 * JIT from 3.8, 12d5eab). From nginx's response filters and log handler it
 * can be another request's coroutine parked in ngx.semaphore:wait: once our request is freed, the
 * post resumes that coroutine with it (`r = ngx_http_lua_get_req(wait_co_ctx->co); c = r->connection`,
 * ngx_lua 0.10.26 ngx_http_lua_semaphore.c:486-489), Kong 3.9.3's SIGSEGV loop. The log phase
 * would answer NotFound anyway: Kong.log has cleared ngx.ctx (release_table, kong/init.lua:1847 at
 * 3.9.3).
 * Kong serves ids from 3.6 and names from 3.9; nothing else is asked (each read is a Lua call).
 */
function readKong(): KongInfo | null {
  if (!hostKongAtLeast(306)) return null;
  const k = new KongInfo();
  k.routeId = property(PROP_ROUTE_ID);
  k.serviceId = property(PROP_SERVICE_ID);
  if (hostKongAtLeast(309)) {
    k.routeName = property(PROP_ROUTE_NAME);
    k.serviceName = property(PROP_SERVICE_NAME);
  }
  return k;
}

export class MoesifHttp extends HttpContext {
  private seenRequest: bool = false;
  private requestHeaders: HeaderMap = HeaderMap.empty();
  private responseHeaders: HeaderMap = HeaderMap.empty();
  private requestNs: u64 = 0;
  private requestBody: BodyCapture | null = null;
  private responseBody: BodyCapture | null = null;
  private transactionId: Uint8Array | null = null;
  private transactionIdAdded: bool = false;
  /** Header counts the host gave the callbacks (what the maps would hold but for Kong's limit). */
  private requestHeaderCount: u32 = 0;
  private responseHeaderCount: u32 = 0;
  /** The request's side of the identity, read once (in on_request_headers when governance needs it). */
  private requestIdentity: RequestIdentity | null = null;
  /** Governance waits for the body: a candidate rule tests a body field and the request has one. */
  private governanceWaits: GovernanceInput | null = null;
  /** request.path and the client's address, read once: by governance at the headers, else in the log. */
  private path: Uint8Array | null = null;
  private address: Uint8Array | null = null;
  private addressRead: bool = false;
  /** The rule that blocked the call, for the event's blocked_by. */
  private blockedBy: string | null = null;
  /** Headers non-blocking rules add to the upstream's response. */
  private addedHeaders: Decision | null = null;
  /** Kong's route and service, as on_request_headers read them (null: not Kong 3.6+). */
  private kong: KongInfo | null = null;

  constructor(id: u32, rootId: u32, private settings: CallSettings) {
    super(id, rootId);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): u32 {
    this.seenRequest = true;
    this.requestNs = nowNanos();
    // kong.version is one of Kong's Lua properties too: learnt here, by the first request.
    learnHost();
    this.kong = readKong();
    this.requestHeaderCount = headerCount;
    const req = getHeaderMap(MapType.RequestHeaders, headerCount);
    if (req !== null) this.requestHeaders = req;
    if (!this.settings.config.disableTransactionId) {
      const i = this.requestHeaders.find(TRANSACTION_ID);
      const given = i >= 0 ? trimmed(this.requestHeaders.value(i)) : null;
      if (given !== null && given.length <= 256) {
        this.transactionId = given;
      } else {
        mixEntropy(this.requestNs ^ (<u64>this.id << 32));
        const id = uuid4();
        this.transactionId = id;
        // The upstream sees the id too, so its logs can be joined with the event.
        this.transactionIdAdded = replaceHeader(MapType.RequestHeaders, TRANSACTION_ID_NAME, id) == Status.Ok;
      }
    }
    const store = this.settings.governance;
    // With no rules in force, governance costs this one branch.
    if (store !== null && !store.ruleSet.empty) {
      const input = this.governanceInput(store.ruleSet);
      const req = this.requestHeaders;
      if (!store.ruleSet.usesBody || !hasBody(req)) {
        this.govern(input, true);
      } else if (req.find(CONTENT_LENGTH) >= 0) {
        // A body is coming: Kong hands it to on_request_body before the upstream sees the call.
        this.governanceWaits = input;
      } else {
        // Chunked: an empty body never reaches on_request_body (NWM skips it), so what can block
        // without the body blocks now; the body's rules get their say if it comes.
        if (!this.govern(input, false)) this.governanceWaits = input;
      }
    }
    return Action.Continue;
  }

  /** What the rules may look at, as the event will report it. */
  private governanceInput(rules: RuleSet): GovernanceInput {
    const req = this.requestHeaders;
    const settings = this.settings;
    const input = new GovernanceInput();
    input.headers = req;
    input.verb = headerOr(req, PSEUDO_METHOD, "GET");
    // What no rule reads is left for the log phase, which reads it anyway.
    if (rules.usesRoute) {
      const path = this.requestPath();
      const q = path.indexOf(0x3f);
      input.route = q < 0 ? path : path.subarray(0, q);
    }
    if (rules.usesIp) input.ip = this.clientAddress();
    if (rules.usesIdentity) {
      const who = readRequest(req, settings.identity);
      this.requestIdentity = who;
      const user = who.user;
      const company = who.company;
      if (user !== null) input.userId = String.UTF8.decodeUnsafe(user.dataStart, user.length);
      if (company !== null) input.companyId = String.UTF8.decodeUnsafe(company.dataStart, company.length);
    }
    if (rules.usesBody) {
      const ct = req.find(CONTENT_TYPE);
      if (ct >= 0) {
        const t = trimmed(req.value(ct));
        input.graphql = t !== null && equalsLowered(t, 0, GRAPHQL_TYPE);
      }
    }
    return input;
  }

  /** The path and query exactly as the client sent them ($request_uri), else Kong's normalised :path. */
  private requestPath(): Uint8Array {
    let path = this.path;
    if (path === null) {
      path = property(PROP_REQUEST_PATH);
      if (path === null) path = headerOr(this.requestHeaders, PSEUDO_PATH, "/");
      this.path = path;
    }
    return path;
  }

  private clientAddress(): Uint8Array | null {
    if (!this.addressRead) {
      this.address = clientIp(this.requestHeaders, property(PROP_SOURCE_ADDRESS));
      this.addressRead = true;
    }
    return this.address;
  }

  /**
   * Applies the rules: answers the request itself when one blocks, else (when `final`) notes the
   * headers to add to the response. Returns whether the call was blocked.
   */
  private govern(input: GovernanceInput, final: bool): bool {
    const store = this.settings.governance!;
    const d = decide(store.ruleSet, store.cohorts, input);
    if (d === null) return false;
    if (d.blockedBy === null) {
      if (final && d.headerNames.length > 0) this.addedHeaders = d;
      return false;
    }
    const keys = new Array<Uint8Array>();
    const values = new Array<Uint8Array>();
    for (let i = 0; i < d.headerNames.length; i++) {
      // The blocked response is JSON whatever a rule says.
      if (asciiLower(d.headerNames[i]) == "content-type") continue;
      keys.push(utf8(d.headerNames[i]));
      values.push(utf8(d.headerValues[i]));
    }
    keys.push(CONTENT_TYPE);
    values.push(JSON_TYPE);
    const id = this.transactionId;
    if (id !== null) {
      keys.push(TRANSACTION_ID);
      values.push(id);
    }
    const st = sendLocalResponse(<u32>d.status, encodeHeaderMap(keys, values), d.body);
    if (st == Status.Ok) {
      this.blockedBy = d.blockedBy;
      return true;
    }
    logWarn("moesif: could not block a call for governance rule " + d.blockedBy! + " (" + statusName(st) + "); it goes on");
    return false;
  }

  onRequestBody(bodySize: u32, endOfStream: bool): u32 {
    this.captureRequestBody(bodySize);
    const waiting = this.governanceWaits;
    if (waiting !== null) {
      // Kong calls this once, with the whole body, before the upstream sees the request.
      this.governanceWaits = null;
      waiting.body = this.governanceBody(bodySize);
      this.govern(waiting, true);
    }
    return Action.Continue;
  }

  /** The body for rules that test it: the captured one, else read for them (up to the request limit). */
  private governanceBody(bodySize: u32): Uint8Array | null {
    const cap = this.requestBody;
    if (cap !== null) {
      const d = cap.data;
      return cap.state == BodyState.Captured && d !== null ? d.view() : null;
    }
    if (bodySize == 0 || bodySize > <u32>this.settings.config.requestMaxBodySizeLimit) return null;
    const got = getBufferBytes(BufferType.RequestBody, 0, bodySize);
    return got.status == Status.Ok ? got.data : null;
  }

  private captureRequestBody(bodySize: u32): void {
    const config = this.settings.config;
    if (config.disableCaptureRequestBody || bodySize == 0) return;
    let cap = this.requestBody;
    if (cap === null) {
      cap = new BodyCapture(config.requestMaxBodySizeLimit);
      this.requestBody = cap;
    }
    // Kong hands the request body over whole, so its size is known.
    if (bodySize > <u32>cap.limit) {
      cap.tooLarge(bodySize, true);
      return;
    }
    if (!cap.accepts(bodySize)) return;
    const got = getBufferBytes(BufferType.RequestBody, 0, bodySize);
    if (got.status == Status.Ok) cap.take(got.data!);
    else if (got.status == Status.NotFound) cap.unreadable(bodySize);
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): u32 {
    const config = this.settings.config;
    const id = this.transactionId;
    if (id !== null) replaceHeader(MapType.ResponseHeaders, TRANSACTION_ID_NAME, id);
    const waiting = this.governanceWaits;
    if (waiting !== null) {
      // No body came after all: too late to block; the non-blocking rules still add their headers.
      this.governanceWaits = null;
      const store = this.settings.governance!;
      const d = decide(store.ruleSet, store.cohorts, waiting);
      if (d !== null && d.blockedBy === null && d.headerNames.length > 0) this.addedHeaders = d;
    }
    const added = this.addedHeaders;
    if (added !== null) {
      for (let i = 0; i < added.headerNames.length; i++) {
        replaceHeader(MapType.ResponseHeaders, String.UTF8.encode(added.headerNames[i]), utf8(added.headerValues[i]));
      }
    }
    this.responseHeaderCount = headerCount;
    const res = getHeaderMap(MapType.ResponseHeaders, headerCount);
    if (res !== null) this.responseHeaders = res;
    if (!config.disableCaptureResponseBody) {
      const cap = new BodyCapture(config.responseMaxBodySizeLimit);
      this.responseBody = cap;
      // A declared length over the limit: do not read a single chunk.
      const cl = this.responseHeaders.find(CONTENT_LENGTH);
      if (cl >= 0) {
        const n = parseLength(this.responseHeaders, cl);
        if (n > <i64>cap.limit) cap.tooLarge(n, true);
      }
    }
    return Action.Continue;
  }

  onResponseBody(bodySize: u32, endOfStream: bool): u32 {
    const cap = this.responseBody;
    if (cap === null || bodySize == 0 || !cap.accepts(bodySize)) return Action.Continue;
    const got = getBufferBytes(BufferType.ResponseBody, 0, bodySize);
    if (got.status == Status.Ok) cap.take(got.data!);
    return Action.Continue;
  }

  onLog(): void {
    // A request that a Lua plugin answered before the filter ran never reached on_request_headers.
    if (!this.seenRequest) return;
    const settings = this.settings;
    const nowMs = nowNanos() / 1000000;
    const c = new Capture();
    const req = this.requestHeaders;
    c.requestHeaders = req;
    c.responseHeaders = this.responseHeaders;
    c.requestHeadersNote = truncationNote(req, this.requestHeaderCount);
    c.responseHeadersNote = truncationNote(this.responseHeaders, this.responseHeaderCount);
    c.method = headerOr(req, PSEUDO_METHOD, "GET");
    c.scheme = headerOr(req, PSEUDO_SCHEME, "http");
    // The client's Host, unless it is not a host (nginx refuses most of those): then Kong's own name.
    let i = req.find(HOST);
    if (i >= 0 && !isHostValue(req.value(i))) i = -1;
    if (i < 0) i = req.find(PSEUDO_AUTHORITY);
    c.host = i >= 0 ? hostWithoutDefaultPort(req.value(i), c.scheme.length == 5) : utf8("localhost");
    c.path = this.requestPath();

    const started = property(PROP_REQUEST_TIME);
    c.requestMs = started !== null ? parseSecondsDotMillis(started) : 0;
    if (c.requestMs == 0) c.requestMs = this.requestNs / 1000000;
    c.responseMs = nowMs;

    const s = this.responseHeaders.find(PSEUDO_STATUS);
    if (s >= 0) c.status = parseStatus(this.responseHeaders.value(s));
    if (c.status == 0) {
      const code = property(PROP_RESPONSE_CODE);
      if (code !== null) c.status = parseStatus(code);
    }
    c.ipAddress = this.clientAddress();
    c.requestBody = this.requestBody;
    c.responseBody = this.responseBody;
    const who = this.requestIdentity;
    c.identity = finish(who !== null ? who : readRequest(req, settings.identity), this.responseHeaders, settings.identity);
    c.blockedBy = this.blockedBy;
    c.transactionId = this.transactionId;
    c.transactionIdAdded = this.transactionIdAdded;
    const kong = this.kong;
    if (kong !== null) c.kong = kong;

    settings.stats.captured++;
    const sender = settings.sender;
    const sampling = sender.sampling;
    if (sampling !== null) {
      const rate = sampling.rateFor(sampleInput(c));
      // Kept when rate > random × 100 (Moesif's rule); the event then stands for 100 / rate calls.
      if (!(rate > random01() * 100)) {
        settings.stats.droppedSampled++;
        return;
      }
      c.weight = weightFor(rate);
    }

    if (!sender.admits()) return;
    let event = buildEvent(c, settings.eventOptions);
    if (event.length > MAX_EVENT_BYTES) {
      // Bodies are what makes an event big: leave them out (the event says so), keep the call.
      if (c.requestBody !== null) c.requestBody!.omit();
      if (c.responseBody !== null) c.responseBody!.omit();
      event = buildEvent(c, settings.eventOptions);
      if (event.length > MAX_EVENT_BYTES) {
        sender.tooLarge();
        return;
      }
    }
    sender.offer(event);
  }
}

function sampleInput(c: Capture): SampleInput {
  const s = new SampleInput();
  const user = c.identity.userId;
  const company = c.identity.companyId;
  if (user !== null) s.userId = String.UTF8.decodeUnsafe(user.dataStart, user.length);
  if (company !== null) s.companyId = String.UTF8.decodeUnsafe(company.dataStart, company.length);
  s.verb = c.method;
  const q = c.path.indexOf(0x3f);
  s.route = q < 0 ? c.path : c.path.subarray(0, q);
  s.ip = c.ipAddress !== null ? c.ipAddress! : EMPTY_BYTES;
  s.status = statusBytes(c.status);
  return s;
}

// The status as decimal text for sampling rules, made once per code (HTTP has few of them).
const STATUS_TEXT = new Map<i32, Uint8Array>();

function statusBytes(status: i32): Uint8Array {
  if (STATUS_TEXT.has(status)) return STATUS_TEXT.get(status);
  const text = utf8(status.toString());
  // Bounded: at most the 1,000 codes from 0 to 999 (parseStatus reads three digits).
  if (status >= 0 && status < 1000) STATUS_TEXT.set(status, text);
  return text;
}

/**
 * Kong hands a filter at most 100 map entries, its own pseudo-headers first: when the callback's
 * count says there were more headers than the map holds, the event says how many are missing.
 */
function truncationNote(map: HeaderMap, given: u32): string | null {
  let held: u32 = 0;
  const base = map.data.dataStart;
  // A key of length > 0 starts inside the block (decodeHeaderMap checked it).
  for (let i = 0; i < map.count; i++) if (map.keyLength(i) > 0 && load<u8>(base + map.keyStart(i)) != 0x3a) held++;
  if (map.count == 0 || given <= held) return null;
  return "truncated: " + held.toString() + " of " + given.toString() + " headers (Kong hands a filter at most 100, its own pseudo-headers included)";
}

/** Whether the request has a body Kong will hand over (a length above 0, or chunked). */
function hasBody(req: HeaderMap): bool {
  const cl = req.find(CONTENT_LENGTH);
  if (cl >= 0) return parseLength(req, cl) > 0;
  return req.find(TRANSFER_ENCODING) >= 0;
}

function headerOr(map: HeaderMap, name: Uint8Array, fallback: string): Uint8Array {
  const i = map.find(name);
  return i >= 0 ? map.value(i) : utf8(fallback);
}

/** Pair i's value as a Content-Length, or -1 when it is not a plain decimal (read in the map's block). */
function parseLength(map: HeaderMap, i: i32): i64 {
  return trimmedDigitsAt(map.data.dataStart + map.valueStart(i), <i32>map.valueLength(i), 15);
}
