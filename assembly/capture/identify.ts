// Who made the call: user id, company id and session token, from headers and tokens, in the order
// the Lua plugin uses, without its bugs (base64url JWT payloads, padding optional; Basic split at the
// first colon; Bearer matched case-insensitively). Malformed input of any kind gives no id.
import { HeaderMap } from "../runtime/headers";
import { decodeBase64 } from "../codec/base64";
import { JsonParser, JKind, JObject, JString, JNumber } from "../codec/json";
import { utf8, trimmed, isBlank } from "../codec/bytes";
import { Identity } from "../event/model";

/** Longer authorization values are not parsed (nginx's own header buffers are 8 KB by default). */
const MAX_TOKEN = 16384;
/** An id longer than this is not an id. */
const MAX_ID = 1024;

export class IdentityConfig {
  userIdHeader: Uint8Array | null = null;
  companyIdHeader: Uint8Array | null = null;
  sessionTokenHeader: Uint8Array | null = null;
  /** The session token header is also a masked header: the event gets the mask, not the token. */
  sessionTokenMasked: bool = false;
  authorizationHeaders: Array<Uint8Array> = [];
  userIdField: string = "sub";
  companyIdField: string = "";
  /**
   * Whether Kong's X-Consumer-* headers name the user (use_consumer_headers). On Kong they are the
   * only word a filter gets of the consumer: no version hands a filter a consumer property
   * (register_property_handlers, kong/runloop/wasm.lua). Kong attaches the filter chain after its
   * plugins' access phase (kong/init.lua, access: runloop.wasm_attach), so an auth plugin has set or
   * cleared each header (set_consumer in e.g. kong/plugins/key-auth/handler.lua) or answered the
   * request itself; on a route without one, the client writes them.
   */
  consumerHeaders: bool = true;
}

const CONSUMER_HEADERS: Array<Uint8Array> = [utf8("x-consumer-custom-id"), utf8("x-consumer-username"), utf8("x-consumer-id")];

function idFrom(v: Uint8Array | null): Uint8Array | null {
  if (v === null) return null;
  const t = trimmed(v);
  return t !== null && t.length <= MAX_ID ? t : null;
}

/** A request header: the first of its name (the one nginx, and Kong's plugins, read). */
function header(map: HeaderMap, name: Uint8Array | null): Uint8Array | null {
  if (name === null) return null;
  const i = map.find(name);
  return i >= 0 ? idFrom(map.value(i)) : null;
}

/** A response header: the last of its name, as a repeated header's last setting wins for clients. */
function lastHeader(map: HeaderMap, name: Uint8Array | null): Uint8Array | null {
  if (name === null) return null;
  let last = -1;
  for (let i = map.find(name); i >= 0; i = map.find(name, i + 1)) last = i;
  return last >= 0 ? idFrom(map.value(last)) : null;
}

const MASKED = utf8("*****");

function startsWithWord(v: Uint8Array, word: string): bool {
  const n = word.length;
  if (v.length <= n) return false;
  for (let i = 0; i < n; i++) if ((v[i] | 0x20) != <u8>word.charCodeAt(i)) return false;
  return isBlank(v[n]);
}

/** The claims of a token: the JSON object in a JWT's payload, or in a base64 token. */
export function tokenClaims(token: Uint8Array): JObject | null {
  let start = 0;
  let len = token.length;
  const dot = token.indexOf(0x2e);
  if (dot >= 0) {
    // header.payload.signature: the payload is the second segment.
    start = dot + 1;
    const next = token.indexOf(0x2e, start);
    len = (next < 0 ? token.length : next) - start;
  }
  if (len <= 0) return null;
  const decoded = decodeBase64(token, start, len);
  if (decoded === null) return null;
  const parsed = new JsonParser(decoded).parse();
  if (parsed === null || parsed.kind != JKind.Object) return null;
  return parsed.asObject();
}

/** A claim by name, or by dotted path (`user.id`) when no claim has the literal name. Strings and numbers only. */
export function claim(claims: JObject, field: string): Uint8Array | null {
  if (field.length == 0) return null;
  const v = claims.field(field);
  if (v === null) return null;
  if (v.kind == JKind.String) return idFrom(utf8(v.asString().value));
  if (v.kind == JKind.Number) return idFrom(utf8(v.asNumber().raw));
  return null;
}

class AuthResult {
  userId: Uint8Array | null = null;
  claims: JObject | null = null;
}

/** Reads the first configured authorization header present. */
function fromAuthorization(req: HeaderMap, cfg: IdentityConfig): AuthResult {
  const r = new AuthResult();
  let raw: Uint8Array | null = null;
  for (let i = 0; i < cfg.authorizationHeaders.length; i++) {
    const at = req.find(cfg.authorizationHeaders[i]);
    if (at >= 0) {
      raw = req.value(at);
      break;
    }
  }
  if (raw === null || raw.length > MAX_TOKEN) return r;
  const value = trimmed(raw);
  if (value === null) return r;
  if (startsWithWord(value, "basic")) {
    const creds = trimmed(value.subarray(6));
    if (creds === null) return r;
    const decoded = decodeBase64(creds);
    if (decoded === null) return r;
    // RFC 7617: the user id ends at the first colon (passwords may contain colons).
    const colon = decoded.indexOf(0x3a);
    if (colon > 0) r.userId = idFrom(decoded.subarray(0, colon));
    return r;
  }
  let token: Uint8Array | null = value;
  if (startsWithWord(value, "bearer")) token = trimmed(value.subarray(7));
  else if (value.indexOf(0x20) >= 0 || value.indexOf(0x09) >= 0) return r; // another scheme
  if (token === null) return r;
  r.claims = tokenClaims(token);
  if (r.claims !== null) r.userId = claim(r.claims!, cfg.userIdField);
  return r;
}

/** What the request alone says of who made the call (the response may add to it, see finish). */
export class RequestIdentity {
  user: Uint8Array | null = null;
  companyHeader: Uint8Array | null = null;
  companyClaim: Uint8Array | null = null;
  sessionToken: Uint8Array | null = null;

  /** The company as far as the request tells: its header, else the token's claim. */
  get company(): Uint8Array | null {
    return this.companyHeader !== null ? this.companyHeader : this.companyClaim;
  }
}

/** Reads the request's side of the identity: once, in on_request_headers when governance needs it. */
export function readRequest(req: HeaderMap, cfg: IdentityConfig): RequestIdentity {
  const r = new RequestIdentity();
  let user = header(req, cfg.userIdHeader);
  if (cfg.consumerHeaders) {
    for (let i = 0; user === null && i < CONSUMER_HEADERS.length; i++) user = header(req, CONSUMER_HEADERS[i]);
  }
  let auth: AuthResult | null = null;
  if (user === null || cfg.companyIdField.length > 0) auth = fromAuthorization(req, cfg);
  if (user === null && auth !== null) user = auth.userId;
  r.user = user;
  r.companyHeader = header(req, cfg.companyIdHeader);
  if (auth !== null && auth.claims !== null) r.companyClaim = claim(auth.claims!, cfg.companyIdField);
  const token = header(req, cfg.sessionTokenHeader);
  r.sessionToken = token !== null && cfg.sessionTokenMasked ? MASKED : token;
  return r;
}

/** The event's identity: the request's, with the response's headers where the request had none. */
export function finish(r: RequestIdentity, res: HeaderMap, cfg: IdentityConfig): Identity {
  const id = new Identity();
  id.userId = r.user !== null ? r.user : lastHeader(res, cfg.userIdHeader);
  let company = r.companyHeader;
  if (company === null) company = lastHeader(res, cfg.companyIdHeader);
  if (company === null) company = r.companyClaim;
  id.companyId = company;
  id.sessionToken = r.sessionToken;
  return id;
}

export function identify(req: HeaderMap, res: HeaderMap, cfg: IdentityConfig): Identity {
  return finish(readRequest(req, cfg), res, cfg);
}
