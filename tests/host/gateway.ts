// A reverse proxy that runs the filter the way Kong does: access phase (headers, then the whole
// request body once), proxy to the upstream, header_filter, body_filter once per upstream chunk,
// then the log phase. A trap answers the client 500 (or cuts the connection once headers are out).
import http from "node:http";
import https from "node:https";
import { KongWasmHost, FilterTrapped, HttpStream, RequestState } from "./kong-host.ts";
import { Pair } from "./maps.ts";
import { listen } from "../support/ports.ts";

export interface GatewayOptions {
  host: KongWasmHost;
  /** Base URL of the upstream service (Kong's service url). */
  upstream: string;
  port?: number;
  bindHost?: string;
  route?: { id: string; name?: string };
  service?: { id: string; name?: string };
  /** Kong's preserve_host: send the client's Host upstream (default false: the upstream's host). */
  preserveHost?: boolean;
  /** Wall clock in ms (request start times); give the host the same one to pin every timestamp. */
  clock?: () => number;
}

export interface Gateway {
  url: string;
  port: number;
  /** Resolves once every request so far has been through the log phase. */
  idle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** nginx's proxy buffer (proxy_buffers 8 4k|8k: one memory page; 8 KiB in the real host here). */
const PROXY_BUFFER = 8192;

// nginx drops these from the upstream response and sets its own.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"]);

function pairsFromRaw(raw: string[]): Pair[] {
  const out: Pair[] = [];
  // Node decodes header bytes as latin1, so this gives back the bytes the peer sent.
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i], Buffer.from(raw[i + 1], "latin1")]);
  return out;
}

function flat(pairs: Pair[]): string[] {
  const out: string[] = [];
  for (const [k, v] of pairs) out.push(k, v.toString("latin1"));
  return out;
}

/** nginx's $uri: the path percent-decoded, with duplicate slashes merged. */
function normalisedUri(path: string): string {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // nginx keeps undecodable bytes as they are.
  }
  return decoded.replace(/\/{2,}/g, "/");
}

/** nginx's keep-alive decision for the client connection (what the Connection shim header says). */
function keepsAlive(req: http.IncomingMessage): boolean {
  const c = (req.headers.connection ?? "").toLowerCase();
  return req.httpVersion === "1.0" ? c.includes("keep-alive") : !c.includes("close");
}

let connectionCounter = 0;

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const upstream = new URL(opts.upstream);
  const client = upstream.protocol === "https:" ? https : http;
  const agent = new client.Agent({ keepAlive: true });
  const basePath = upstream.pathname.replace(/\/$/, "");
  const connectionIds = new WeakMap<object, number>();
  let active = 0;

  const server = http.createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
    const requestUri = req.url ?? "/";
    const q = requestUri.indexOf("?");
    const socket = req.socket;
    if (!connectionIds.has(socket)) connectionIds.set(socket, ++connectionCounter);
    const state: RequestState = {
      method: req.method ?? "GET",
      scheme: "http",
      requestUri,
      uri: normalisedUri(q < 0 ? requestUri : requestUri.slice(0, q)),
      args: q < 0 ? "" : requestUri.slice(q + 1),
      serverName: "kong",
      serverPort: (socket.localPort ?? 0),
      remoteAddr: (socket.remoteAddress ?? "").replace(/^::ffff:/, ""),
      remotePort: socket.remotePort ?? 0,
      protocol: `HTTP/${req.httpVersion}`,
      startMs: (opts.clock ?? Date.now)(),
      requestHeaders: pairsFromRaw(req.rawHeaders),
      requestBody: null,
      responseHeaders: [],
      responseChunk: null,
      status: 0,
      headersSent: false,
      responseStarted: false,
      bodyBytesSent: 0,
      connectionId: connectionIds.get(socket)!,
      keepAlive: keepsAlive(req),
      route: opts.route,
      service: opts.service,
    };
    const stream = opts.host.newStream(state);
    active++;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      try {
        stream.finish();
      } finally {
        active--;
      }
    };
    res.on("close", finish);

    const fail = (status: number, body: string) => {
      state.status = status;
      if (!res.headersSent) {
        res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
        res.end(body);
      } else {
        res.destroy();
      }
    };
    const trapped = (e: unknown): boolean => {
      if (e instanceof FilterTrapped) {
        fail(500, JSON.stringify({ message: "An unexpected error occurred" }));
        return true;
      }
      return false;
    };

    try {
      stream.requestHeaders();
    } catch (e) {
      if (trapped(e)) return;
      throw e;
    }

    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => res.destroy());
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      try {
        // Kong calls on_request_body only when the request has a body, and not once the filter
        // answered the request itself (from on_request_headers): then the body is discarded.
        if (body.length > 0 && !stream.local) {
          state.requestBody = body;
          stream.requestBody();
        }
      } catch (e) {
        if (trapped(e)) return;
        throw e;
      }
      // The filter answered the request itself: the upstream is never called.
      if (stream.local) return respondLocally();
      proxy(body);
    });

    const respondLocally = () => {
      const body = stream.prepareLocalResponse();
      if (!runResponseHeaders(stream)) return;
      writeHead();
      if (body.length > 0 && !runBody(body)) return;
      if (!runBody(null)) return;
      res.end();
    };

    const proxy = (body: Buffer) => {
      const headers = state.requestHeaders
        .filter(([k]) => !HOP_BY_HOP.has(k.toLowerCase()) && (opts.preserveHost || k.toLowerCase() !== "host"));
      if (!opts.preserveHost) headers.push(["Host", Buffer.from(upstream.host)]);
      const path = basePath + (state.uri !== normalisedUri(q < 0 ? requestUri : requestUri.slice(0, q))
        ? state.uri + (state.args ? "?" + state.args : "")
        : requestUri);
      const started = Date.now();
      const up = client.request({
        agent,
        host: upstream.hostname,
        port: upstream.port || (upstream.protocol === "https:" ? 443 : 80),
        method: state.method,
        path,
        headers: flat(headers.filter(([k]) => k.toLowerCase() !== "content-length").concat(
          body.length > 0 || state.method !== "GET" ? [["Content-Length", Buffer.from(String(body.length))]] : [])),
      }, (upRes) => respond(upRes, Date.now() - started));
      up.on("error", () => {
        if (res.headersSent) return res.destroy();
        sendKongError(502, "An invalid response was received from the upstream server");
      });
      up.end(body);
    };

    const sendKongError = (status: number, message: string) => {
      const body = Buffer.from(JSON.stringify({ message }));
      state.status = status;
      state.responseHeaders = [["Content-Type", Buffer.from("application/json; charset=utf-8")], ["Content-Length", Buffer.from(String(body.length))]];
      if (!runResponseHeaders(stream)) return;
      writeHead();
      if (!runBody(body)) return;
      if (!runBody(null)) return;
      res.end();
    };

    const runResponseHeaders = (s: HttpStream): boolean => {
      try {
        s.responseHeaders();
        return true;
      } catch (e) {
        if (trapped(e)) return false;
        throw e;
      }
    };

    const writeHead = () => {
      res.writeHead(state.status, flat(state.responseHeaders));
      state.headersSent = true;
    };

    const runBody = (chunk: Buffer | null): boolean => {
      try {
        stream.responseBody(chunk, chunk === null);
      } catch (e) {
        if (trapped(e)) return false;
        throw e;
      }
      if (chunk) {
        state.bodyBytesSent += chunk.length;
        res.write(chunk);
      }
      return true;
    };

    const respond = (upRes: http.IncomingMessage, latencyMs: number) => {
      state.status = upRes.statusCode ?? 502;
      const headers = pairsFromRaw(upRes.rawHeaders).filter(([k]) => !HOP_BY_HOP.has(k.toLowerCase()));
      if (upRes.headers["content-length"] === undefined && upRes.headers["transfer-encoding"] !== undefined) {
        headers.push(["Transfer-Encoding", Buffer.from("chunked")]);
      }
      headers.push(["X-Kong-Upstream-Latency", Buffer.from(String(latencyMs))]);
      headers.push(["X-Kong-Proxy-Latency", Buffer.from("0")]);
      headers.push(["Via", Buffer.from(`1.1 kong/${opts.host.kongVersion}`)]);
      state.responseHeaders = headers;
      if (!runResponseHeaders(stream)) {
        upRes.resume();
        return;
      }
      writeHead();
      let broken = false;
      // A body with a length reaches the body filters as nginx's proxy buffers fill (proxy_buffering
      // on, Kong's default: 8 KiB buffers here), not as the upstream wrote it: the real host passed a
      // 6-byte body written in two parts 50 ms apart as one piece, and a 60 KB one as 8 KiB pieces
      // (the removed real-host suite, f66d8f6:tests/nwm/golden.test.ts).
      // One without a length goes on chunk by chunk, as there.
      const length = upRes.headers["transfer-encoding"] === undefined && upRes.headers["content-length"] !== undefined;
      let held: Buffer[] = [];
      let heldBytes = 0;
      const pass = (chunk: Buffer): boolean => {
        if (broken) return false;
        if (!runBody(chunk)) {
          broken = true;
          upRes.destroy();
        }
        return !broken;
      };
      upRes.on("data", (chunk: Buffer) => {
        if (broken) return;
        if (!length) return void pass(chunk);
        held.push(chunk);
        heldBytes += chunk.length;
        if (heldBytes < PROXY_BUFFER) return;
        let all = Buffer.concat(held);
        while (all.length >= PROXY_BUFFER && pass(all.subarray(0, PROXY_BUFFER))) all = all.subarray(PROXY_BUFFER);
        held = [all];
        heldBytes = all.length;
      });
      upRes.on("end", () => {
        if (broken) return;
        if (heldBytes > 0 && !pass(Buffer.concat(held))) return;
        if (runBody(null)) res.end();
      });
      upRes.on("error", () => res.destroy());
    };
  });

  server.keepAliveTimeout = 5000;
  const port = await listen(server, opts.port ?? 0, opts.bindHost ?? "127.0.0.1");
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async idle(timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      while (active > 0) {
        if (Date.now() > end) throw new Error(`gateway: ${active} requests still in flight after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    close: () => new Promise<void>((resolve) => {
      agent.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
