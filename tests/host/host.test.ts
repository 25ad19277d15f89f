// The test host's own rules: each one Kong enforces is checked here, with hand-written modules
// (linking) and the probe filter (behaviour), so the filter's tests stand on a host that is right.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import binaryen from "binaryen";
import { KongWasmHost, FatalStartError, linkProblems, LogLine } from "./kong-host.ts";
import { startGateway } from "./gateway.ts";
import { serializeMap, deserializeMap } from "./maps.ts";
import { RequestState } from "./kong-host.ts";
import { startUpstream } from "../support/upstream.ts";

const probeWasm = readFileSync(new URL("../../build/probe.wasm", import.meta.url));

function wat(text: string): Uint8Array<ArrayBuffer> {
  const mod = binaryen.parseText(text);
  const bytes = mod.emitBinary() as Uint8Array<ArrayBuffer>;
  mod.dispose();
  return bytes;
}

/** A minimal module that exports what Kong requires, plus whatever `extra` declares. */
function minimalModule(extra = ""): string {
  return `(module
    ${extra}
    (memory (export "memory") 1)
    (func (export "proxy_abi_version_0_2_1"))
    (func (export "malloc") (param i32) (result i32) (i32.const 1024))
    (func (export "proxy_on_context_create") (param i32 i32))
    (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
    (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1)))`;
}

function probe(command: string, opts: ConstructorParameters<typeof KongWasmHost>[2] = {}): KongWasmHost {
  const host = new KongWasmHost(probeWasm, [{ name: "probe", config: command }], { autoTick: false, ...opts });
  host.start();
  return host;
}

function probeLines(host: KongWasmHost): string[] {
  return host.logs.filter((l: LogLine) => l.source === "filter" && l.message.startsWith("probe: ")).map((l) => l.message.slice(7));
}

/** One GET / through the gateway, with the probe filter doing `command` on a Kong version; closes everything. */
async function probeCall(command: string, kongVersion: string, upstream: (res: http.ServerResponse) => void = (res) => res.end("ok")): Promise<{ host: KongWasmHost; status: number }> {
  const host = probe(command, { kongVersion });
  const up = await startUpstream((_req, _body, res) => upstream(res));
  const gw = await startGateway({ host, upstream: up.url });
  const r = await fetch(gw.url + "/");
  await r.text();
  await gw.close();
  await up.close();
  return { host, status: r.status };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("linking, as Kong links", () => {
  test("a module importing what Kong lacks does not load", () => {
    for (const [mod, name] of [["env", "proxy_get_header_map_size"], ["env", "proxy_get_buffer_status"], ["env", "abort"], ["wasi_unstable", "fd_write"], ["env", "seed"]]) {
      const bytes = wat(minimalModule(`(import "${mod}" "${name}" (func (param i32 i32) (result i32)))`));
      assert.throws(() => new KongWasmHost(bytes, []), (e: Error) => e instanceof FatalStartError && e.message.includes(`${mod}.${name}`), `${mod}.${name}`);
    }
  });

  test("Kong's stubs link (and trap only when called)", () => {
    const bytes = wat(minimalModule(`(import "env" "proxy_done" (func (result i32)))`));
    assert.deepEqual(linkProblems(new WebAssembly.Module(bytes)), []);
  });

  test("the ABI marker, memory, malloc and the start callbacks are required", () => {
    const bytes = wat(`(module (memory (export "memory") 1) (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1)))`);
    const problems = linkProblems(new WebAssembly.Module(bytes));
    assert.ok(problems.some((p) => p.includes("proxy_abi_version")));
    assert.ok(problems.some((p) => p.includes("malloc")));
    assert.ok(problems.some((p) => p.includes("proxy_on_context_create")));
  });

  test("a host call from _initialize is refused (it crashes nginx)", () => {
    const bytes = wat(minimalModule(`(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
      (func (export "_initialize") (drop (call $log (i32.const 2) (i32.const 0) (i32.const 0))))`));
    assert.throws(() => new KongWasmHost(bytes, [{ name: "m", config: "" }]).start(), /_initialize/);
  });

  test("on_configure answering false stops nginx", () => {
    assert.throws(() => probe("refuse-configure"), (e: Error) => e instanceof FatalStartError && /on_configure/.test(e.message));
  });
});

describe("header-map codec", () => {
  test("round-trips, byte for byte", () => {
    const pairs: [string, Buffer][] = [["a", Buffer.from("1")], ["b", Buffer.from([0xff, 0x00, 0x41])]];
    const back = deserializeMap(serializeMap(pairs))!;
    assert.deepEqual(back, pairs);
    assert.equal(deserializeMap(Buffer.from([5, 0, 0, 0])), null);
  });
});

describe("stubs and traps", () => {
  test("calling a Kong stub traps, answers 500 and replaces the instance", async () => {
    const host = probe("stub");
    const up = await startUpstream((_req, _body, res) => res.end("ok"));
    const gw = await startGateway({ host, upstream: up.url });
    after(async () => {
      await gw.close();
      await up.close();
    });
    const r = await fetch(gw.url + "/x");
    assert.equal(r.status, 500);
    assert.equal(host.traps.length, 1);
    assert.match(host.traps[0].message, /proxy_done is a stub/);
    assert.equal(host.instantiations, 2);
    // The new instance was configured again.
    assert.equal(probeLines(host).filter((l) => l === "configured stub").length, 2);
  });

  test("an AssemblyScript abort is logged by the runtime's handler, then traps", async () => {
    const host = probe("abort");
    const up = await startUpstream((_req, _body, res) => res.end("ok"));
    const gw = await startGateway({ host, upstream: up.url });
    assert.equal((await fetch(gw.url + "/")).status, 500);
    await gw.close();
    await up.close();
    const crit = host.logs.filter((l) => l.source === "filter" && l.level === "crit").map((l) => l.message);
    assert.equal(crit.length, 1);
    assert.match(crit[0], /^moesif: internal error \(trap\): Index out of range at ~lib\/array\.ts:\d+:\d+$/);
    assert.equal(host.traps.length, 1);
  });

  test("a trap loses the root contexts' in-memory state (the new instance starts from zero)", async () => {
    const host = probe("stub");
    const rootId = host.rootIds[0];
    host.tick(rootId);
    host.tick(rootId);
    const up = await startUpstream((_req, _body, res) => res.end("ok"));
    const gw = await startGateway({ host, upstream: up.url });
    assert.equal((await fetch(gw.url + "/")).status, 500);
    await gw.close();
    await up.close();
    // The new instance set its tick period again, and counts its ticks from 1.
    assert.equal(host.tickPeriod(rootId), 100);
    host.tick(rootId);
    assert.deepEqual(probeLines(host).filter((l) => l.startsWith("tick ") && !l.startsWith("tick set")), ["tick 1", "tick 2", "tick 1"]);
  });
});

describe("ticks", () => {
  test("a second non-zero tick period traps", () => {
    const host = probe("tick-twice");
    assert.equal(host.tickPeriod(host.rootIds[0]), 100);
    host.tick(host.rootIds[0]);
    assert.equal(host.traps.length, 1);
    assert.match(host.traps[0].message, /tick_period already set/);
  });

  test("a tick period set from an HTTP context traps from Kong 3.6, is ignored before", async () => {
    for (const [kongVersion, status] of [["3.9.1", 500], ["3.6.1", 500], ["3.4.2", 200]] as const) {
      const { host, status: got } = await probeCall("tick-from-http", kongVersion);
      assert.equal(got, status, kongVersion);
      assert.equal(host.tickPeriod(host.rootIds[0]), 0);
      if (status === 500) assert.match(host.traps[0].message, /can only set tick_period in root context/);
      else assert.ok(probeLines(host).includes("tick from http Ok"));
    }
  });

  test("after a trap in on_tick, Kong 3.4/3.5 stop ticking until a request; later versions tick on", async () => {
    for (const kongVersion of ["3.4.2", "3.6.1"]) {
      const host = probe("tick-trap", { kongVersion });
      const rootId = host.rootIds[0];
      host.tick(rootId);
      assert.equal(host.traps.length, 1, kongVersion);
      if (kongVersion === "3.4.2") {
        assert.equal(host.tickPeriod(rootId), 0, "no tick is scheduled");
        host.tickAll();
        assert.equal(probeLines(host).filter((l) => l.startsWith("tick ") && !l.startsWith("tick set")).length, 1);
        const up = await startUpstream((_req, _body, res) => res.end("ok"));
        const gw = await startGateway({ host, upstream: up.url });
        await (await fetch(gw.url + "/")).text();
        await gw.close();
        await up.close();
      }
      // A new instance, configured again, with its tick period set.
      assert.equal(host.tickPeriod(rootId), 100, kongVersion);
      assert.equal(host.instantiations, 2);
    }
  });

  test("timers drive on_tick when autoTick is on", async () => {
    const host = probe("tick", { autoTick: true });
    await until(() => probeLines(host).includes("tick 2"));
    host.stop();
  });
});

describe("properties", () => {
  test("request-scoped properties in a root context answer InternalFailure with an error line", () => {
    const host = probe("root-property");
    host.tick(host.rootIds[0]);
    assert.deepEqual(host.traps, []);
    assert.ok(probeLines(host).includes("root property request.path InternalFailure, kong.version InternalFailure, plugin_name Ok"), probeLines(host).join("\n"));
    const errors = host.logs.filter((l) => l.source === "host" && l.level === "error").map((l) => l.message);
    assert.deepEqual(errors, ["cannot get ngx properties outside of a request", "cannot get host properties outside of a request"]);
  });

  test("kong.* and request properties are provided in a request; unknown ones are NotFound", async () => {
    const host = probe("properties");
    const up = await startUpstream((_req, _body, res) => res.end("ok"));
    const gw = await startGateway({ host, upstream: up.url, route: { id: "r-1", name: "route-a" }, service: { id: "s-1", name: "svc-a" } });
    await (await fetch(gw.url + "/a%20b?q=1")).text();
    await gw.close();
    await up.close();
    await until(() => probeLines(host).some((l) => l.startsWith("property no.such.thing")));
    const lines = probeLines(host);
    assert.ok(lines.includes("property kong.route_id = r-1"));
    assert.ok(lines.includes("property kong.service_name = svc-a"));
    assert.ok(lines.includes("property request.path = /a%20b?q=1"));
    assert.ok(lines.includes("property source.address = 127.0.0.1"));
    assert.ok(lines.includes("property plugin_name = probe"));
    assert.ok(lines.includes("property no.such.thing = NotFound"));
  });

  test("kong.route_name and kong.service_name need Kong 3.9; kong.* needs 3.6", async () => {
    for (const [version, want] of [["3.8.0", ["kong.route_id = r-1", "kong.service_name = NotFound", "kong.version = 3.8.0"]], ["3.5.0", ["kong.route_id = NotFound", "kong.version = NotFound"]]] as const) {
      const host = probe("properties", { kongVersion: version });
      const up = await startUpstream((_req, _body, res) => res.end("ok"));
      const gw = await startGateway({ host, upstream: up.url, route: { id: "r-1" }, service: { id: "s-1", name: "svc-a" } });
      await (await fetch(gw.url + "/")).text();
      await gw.close();
      await up.close();
      await until(() => probeLines(host).some((l) => l.startsWith("property no.such.thing")));
      for (const w of want) assert.ok(probeLines(host).includes(`property ${w}`), `${version}: ${w}`);
    }
  });
});

describe("kong.* properties: Kong's Lua answers them safely only in on_request_headers", () => {
  const route = { id: "r-1", name: "route-a" };
  const service = { id: "s-1", name: "svc-a" };

  /** One call with the probe reading Kong's route, service and version in `steps`. */
  async function kongCall(steps: string, kongVersion: string, opts: { withRoute?: boolean; body?: string } = {}): Promise<{ host: KongWasmHost; lines: string[] }> {
    const host = probe(`kong ${steps}`, { kongVersion });
    const up = await startUpstream((_req, _body, res) => res.end("ok"));
    const withRoute = opts.withRoute ?? true;
    const gw = await startGateway({ host, upstream: up.url, route: withRoute ? route : undefined, service: withRoute ? service : undefined });
    await (await fetch(gw.url + "/", opts.body === undefined ? {} : { method: "POST", body: opts.body })).text();
    await gw.close();
    await up.close();
    await until(() => probeLines(host).includes("delete"));
    return { host, lines: probeLines(host).filter((l) => / kong\./.test(l)) };
  }

  const all = (step: string, route: string, routeName: string, service: string, serviceName: string, version: string) => [
    `${step} kong.route_id = ${route}`, `${step} kong.route_name = ${routeName}`, `${step} kong.service_id = ${service}`,
    `${step} kong.service_name = ${serviceName}`, `${step} kong.version = ${version}`,
  ];

  test("read in on_request_headers they answer; read again in the log phase NWM answers from its cache, without Lua", async () => {
    const { host, lines } = await kongCall("request_headers,done,log", "3.9.1");
    assert.deepEqual(lines, [
      ...all("request_headers", "r-1", "route-a", "s-1", "svc-a", "3.9.1"),
      ...all("done", "r-1", "route-a", "s-1", "svc-a", "3.9.1"),
      ...all("log", "r-1", "route-a", "s-1", "svc-a", "3.9.1"),
    ]);
    assert.deepEqual(host.crashes, []);
    assert.deepEqual([...host.kongLuaReads.values()], [1, 1, 1, 1, 1], "each getter called once: its answer is constant");
  });

  test("read first in the log phase: NotFound (Kong.log has cleared ngx.ctx), and each Lua call is recorded as a crash", async () => {
    for (const step of ["done", "log"]) {
      const { host, lines } = await kongCall(step, "3.9.1");
      assert.deepEqual(lines, all(step, "NotFound", "NotFound", "NotFound", "NotFound", "3.9.1"), step);
      assert.deepEqual(host.crashes.map((c) => c.phase), [step, step, step, step, step], step);
      assert.match(host.crashes[0].message, /^kong\.route_id read in (done|log): Kong's Lua getter ran outside the access phase/);
      assert.ok(host.logs.some((l) => l.source === "host" && l.level === "alert" && /SIGSEGV/.test(l.message)));
    }
  });

  test("read in the response steps or the request body they answer, and are recorded as crashes", async () => {
    for (const step of ["response_headers", "response_body", "request_body"]) {
      const { host, lines } = await kongCall(step, "3.9.1", { body: step === "request_body" ? "hello" : undefined });
      assert.deepEqual(lines, all(step, "r-1", "route-a", "s-1", "svc-a", "3.9.1"), step);
      assert.equal(host.crashes.length, 5, step);
      assert.ok(host.crashes.every((c) => c.phase === step), step);
    }
  });

  test("a value not found is not cached: asked again in the log phase, Lua runs again (a crash)", async () => {
    const { host, lines } = await kongCall("request_headers,log", "3.9.1", { withRoute: false });
    assert.deepEqual(lines, [
      ...all("request_headers", "NotFound", "NotFound", "NotFound", "NotFound", "3.9.1"),
      ...all("log", "NotFound", "NotFound", "NotFound", "NotFound", "3.9.1"),
    ]);
    assert.deepEqual(host.crashes.map((c) => c.message.split(" ")[0]), ["kong.route_id", "kong.route_name", "kong.service_id", "kong.service_name"]);
  });

  test("3.6–3.8 have no names (asked in the log phase, Lua runs: a crash); 3.4/3.5 have no getter at all (no Lua, no crash)", async () => {
    const k38 = await kongCall("request_headers,log", "3.8.0");
    assert.deepEqual(k38.lines, [
      ...all("request_headers", "r-1", "NotFound", "s-1", "NotFound", "3.8.0"),
      ...all("log", "r-1", "NotFound", "s-1", "NotFound", "3.8.0"),
    ]);
    assert.deepEqual(k38.host.crashes.map((c) => c.message.split(" ")[0]), ["kong.route_name", "kong.service_name"]);
    const k35 = await kongCall("log", "3.5.0");
    assert.deepEqual(k35.lines, all("log", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound"));
    assert.deepEqual(k35.host.crashes, []);
    assert.equal(k35.host.kongLuaReads.size, 0);
  });
});

describe("phases and bodies through the gateway", () => {
  test("phase order, one whole request body, response body per upstream chunk, `start` ignored", async () => {
    const host = probe("log-phases");
    const up = await startUpstream((_req, _body, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("abcdef");
      setTimeout(() => res.write("ghij"), 30);
      setTimeout(() => res.end("kl"), 60);
    });
    const gw = await startGateway({ host, upstream: up.url });
    // Send the request body in pieces: Kong still hands it over once, whole.
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(gw.url + "/upload", { method: "POST", headers: { "transfer-encoding": "chunked" } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode!));
      });
      req.on("error", reject);
      req.write("12345");
      setTimeout(() => req.end("67890"), 20);
    });
    assert.equal(status, 200);
    await until(() => probeLines(host).includes("delete"));
    await gw.close();
    await up.close();
    assert.deepEqual(probeLines(host).slice(1), [
      "request_headers eos 0",
      "request_body size 10 eos 1 read 10",
      "response_headers eos 0",
      "response_body size 6 eos 0 read 61626364",
      "response_body size 4 eos 0 read 6768696a",
      "response_body size 2 eos 0 read 6b6c",
      "response_body size 0 eos 1 read Ok, no data",
      "done",
      "log",
      "delete",
    ]);
  });

  test("a request body bigger than client_body_buffer_size cannot be read (NotFound)", async () => {
    const host = probe("log-phases", { clientBodyBufferSize: 8 });
    const up = await startUpstream((_req, _body, res) => res.end());
    const gw = await startGateway({ host, upstream: up.url });
    await (await fetch(gw.url + "/", { method: "POST", body: "0123456789" })).text();
    await gw.close();
    await up.close();
    assert.ok(probeLines(host).includes("request_body size 10 eos 1 read NotFound"));
    assert.ok(host.logs.some((l) => l.source === "host" && /buffered to file/.test(l.message)));
  });

  test("header maps carry Kong's pseudo-headers and stop at 100 pairs", async () => {
    const host = probe("count-headers");
    const up = await startUpstream((_req, _body, res) => res.end());
    const gw = await startGateway({ host, upstream: up.url });
    const headers: Record<string, string> = {};
    for (let i = 0; i < 150; i++) headers[`x-h-${i}`] = String(i);
    await (await fetch(gw.url + "/p?q=1", { headers })).text();
    await gw.close();
    await up.close();
    // 150 of ours and the client's own (Host, Accept, …): the count is nginx's list, pseudo-headers apart.
    assert.ok(probeLines(host).some((l) => /^request map 100 pairs of 15\d headers, first :path :method :scheme :authority host$/.test(l)), probeLines(host).join("\n"));
    assert.ok(host.logs.some((l) => /truncated to 100/.test(l.message)));
  });

  test("the last chunk's empty buffer: Ok with no data from Kong 3.6, NotFound before", async () => {
    const host = probe("log-phases", { kongVersion: "3.4.2" });
    // Without a length (chunked): a body with one gets no empty last call (kong-host.ts, responseBody).
    const up = await startUpstream((_req, _body, res) => {
      res.writeHead(200);
      res.write("abc");
      res.end();
    });
    const gw = await startGateway({ host, upstream: up.url });
    await (await fetch(gw.url + "/")).text();
    await until(() => probeLines(host).includes("delete"));
    await gw.close();
    await up.close();
    assert.ok(probeLines(host).includes("response_body size 0 eos 1 read NotFound"));
  });

  test("a body read outside its step traps from Kong 3.6 (NotFound before)", async () => {
    for (const [kongVersion, status] of [["3.9.1", 500], ["3.4.2", 200]] as const) {
      const { host, status: got } = await probeCall("early-response-body", kongVersion);
      assert.equal(got, status, kongVersion);
      if (status === 500) assert.match(host.traps[0].message, /can only get response body during "on_response_body"/);
      else assert.ok(probeLines(host).includes("response body in request_headers NotFound"));
    }
  });

  test("response maps: :status, then nginx's shim headers, then the upstream's names in their own case", async () => {
    const host = probe("response-map");
    const up = await startUpstream((_req, _body, res) => {
      res.sendDate = false;
      res.writeHead(201, ["Content-Type", "text/plain", "X-Mixed-Case", "1", "Content-Length", "2"]);
      res.end("ok");
    });
    const gw = await startGateway({ host, upstream: up.url });
    await (await fetch(gw.url + "/", { headers: { connection: "close" } })).text();
    await gw.close();
    await up.close();
    // Three upstream headers besides the two nginx keeps as fields, plus three shims.
    assert.ok(probeLines(host).includes("response map of 7 headers: :status Content-Type Content-Length Connection X-Mixed-Case X-Kong-Upstream-Latency X-Kong-Proxy-Latency Via"),
      probeLines(host).join("\n"));
  });

  test("header setters after their step trap from Kong 3.7; before, an error line and Ok", async () => {
    for (const [kongVersion, trapped] of [["3.7.1", true], ["3.6.1", false]] as const) {
      const host = probe("late-header", { kongVersion });
      const up = await startUpstream((_req, _body, res) => res.end("ok"));
      const gw = await startGateway({ host, upstream: up.url });
      await fetch(gw.url + "/").then((r) => r.text()).catch(() => "");
      await until(() => probeLines(host).includes("delete") || host.traps.length > 0);
      await gw.close();
      await up.close();
      if (trapped) assert.match(host.traps[0].message, /can only set response headers before "on_response_body"/);
      else {
        assert.deepEqual(host.traps, []);
        assert.ok(probeLines(host).includes("late response header Ok"));
        assert.ok(host.logs.some((l) => l.source === "host" && l.message === "cannot set response headers: headers already sent"));
      }
    }
  });
});

describe("dispatch", () => {
  test("is refused in the log phase (trap)", async () => {
    const host = probe("dispatch-in-log 127.0.0.1:1");
    const up = await startUpstream((_req, _body, res) => res.end());
    const gw = await startGateway({ host, upstream: up.url });
    await (await fetch(gw.url + "/")).text();
    await until(() => host.traps.length > 0);
    await gw.close();
    await up.close();
    assert.match(host.traps[0].message, /log phase/);
    assert.equal(host.traps[0].phase, "log");
  });

  test("from on_tick, makes a real HTTP request and calls back with :status and the body", async () => {
    let seen: { method?: string; url?: string; headers?: http.IncomingHttpHeaders; body?: string } = {};
    const up = await startUpstream((req, body, res) => {
      seen = { method: req.method, url: req.url, headers: req.headers, body: body.toString() };
      res.writeHead(201, { "x-answer": "yes" });
      res.end("created");
    });
    const host = probe(`dispatch-on-tick 127.0.0.1:${up.port}`);
    host.tick(host.rootIds[0]);
    await host.settle();
    await up.close();
    assert.equal(seen.method, "POST");
    assert.equal(seen.url, "/probe?x=1");
    assert.equal(seen.headers?.host, "probe.example");
    assert.equal(seen.headers?.connection, "close");
    assert.equal(seen.headers?.["content-length"], "5");
    assert.equal(seen.body, "hello");
    assert.ok(probeLines(host).includes("dispatch Ok token 0"));
    // The count is the collector's own headers (X-Answer, Date, Connection, Transfer-Encoding),
    // without :status; Kong 3.9 adds :dispatch_status "ok".
    assert.ok(probeLines(host).includes("response token 0 headers 4 status 201 dispatch_status ok body created"), probeLines(host).join("\n"));
  });

  test("a failed call: Kong 3.9 calls back with :dispatch_status, older Kong never calls back", async () => {
    for (const version of ["3.9.0", "3.8.0"]) {
      const host = probe("dispatch-on-tick 127.0.0.1:1", { kongVersion: version });
      host.tick(host.rootIds[0]);
      await host.settle();
      const callbacks = probeLines(host).filter((l) => l.startsWith("response"));
      if (version === "3.9.0") assert.deepEqual(callbacks, ["response token 0 headers 0 status - dispatch_status broken connection body NotFound"]);
      else assert.deepEqual(callbacks, []);
      assert.ok(host.logs.some((l) => l.source === "host" && l.message === "dispatch failed: tcp socket - Connection refused"));
    }
  });

  test("the timeout applies to each step: a slow answer that keeps moving succeeds, a stalled one times out", async () => {
    const drip = await startUpstream((req, _body, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      // Four pieces 150 ms apart (600 ms in all, twice the timeout), or one stall of 600 ms.
      const pieces = req.url!.startsWith("/probe") ? ["a", "b", "c", "d"] : [];
      let i = 0;
      const next = () => (i < pieces.length ? (res.write(pieces[i++]), setTimeout(next, 150)) : res.end());
      setTimeout(next, 150);
    });
    const host = probe(`dispatch-on-tick 127.0.0.1:${drip.port} 300`);
    host.tick(host.rootIds[0]);
    await host.settle();
    await drip.close();
    assert.ok(probeLines(host).some((l) => /^response token 0 headers \d+ status 200 dispatch_status ok body abcd$/.test(l)), probeLines(host).join("\n"));

    const stall = await startUpstream((_req, _body, res) => setTimeout(() => res.end("late"), 600));
    const stalled = probe(`dispatch-on-tick 127.0.0.1:${stall.port} 300`);
    stalled.tick(stalled.rootIds[0]);
    await stalled.settle();
    await stall.close();
    assert.ok(probeLines(stalled).includes("response token 0 headers 0 status - dispatch_status timeout body NotFound"), probeLines(stalled).join("\n"));
  });

  test("a root's answer: reading its body crashes Kong 3.4.2/3.5's worker, any header but :status 3.4.0's; 3.6 reads both", async () => {
    const up = await startUpstream((_req, _body, res) => {
      res.writeHead(201, { "x-answer": "yes" });
      res.end("created");
    });
    for (const [version, crash] of [["3.4.0", /header map read \(:dispatch_status\)/], ["3.4.2", /get_buffer_bytes\(http call response body\)/], ["3.6.1", null]] as const) {
      const host = probe(`dispatch-on-tick 127.0.0.1:${up.port}`, { kongVersion: version });
      host.tick(host.rootIds[0]);
      await host.settle();
      if (crash === null) {
        assert.deepEqual(host.crashes, [], version);
        assert.ok(probeLines(host).includes("response token 0 headers 4 status 201 dispatch_status - body created"), probeLines(host).join("\n"));
      } else {
        assert.equal(host.crashes.length, 1, version);
        assert.match(host.crashes[0].message, crash);
        assert.ok(host.logs.some((l) => l.level === "alert" && /exited on signal 11/.test(l.message)), version);
        assert.equal(host.traps.length, 0, "a crash, not a trap");
        assert.equal(host.instantiations, 2, "nginx starts a new worker: a new instance, nothing of the old");
      }
    }
    await up.close();
  });

  test("two calls of a root in flight: from Kong 3.7 the first to end is never finished (a success on 3.7, any end from 3.8)", async () => {
    const fast = await startUpstream((_req, _body, res) => res.end("fast"));
    const slow = await startUpstream((_req, _body, res) => setTimeout(() => res.end("slow"), 100));
    const leaks = async (version: string, first: string) => {
      const host = probe(`dispatch-twice ${first} 127.0.0.1:${slow.port}`, { kongVersion: version });
      host.tick(host.rootIds[0]);
      await host.settle();
      return host.leaks.map((l) => `${l.token}: ${l.why}`);
    };
    const ok = `127.0.0.1:${fast.port}`;
    const refused = "127.0.0.1:1";
    for (const version of ["3.4.2", "3.6.1"]) {
      assert.deepEqual(await leaks(version, ok), [], version);
      assert.deepEqual(await leaks(version, refused), [], version);
    }
    assert.deepEqual(await leaks("3.7.1", ok), ["0: it ended (answered) while another call of its root context was pending"]);
    assert.deepEqual(await leaks("3.7.1", refused), [], "3.7 finishes a failed call");
    for (const version of ["3.8.0", "3.9.1"]) {
      assert.deepEqual(await leaks(version, ok), ["0: it ended (answered) while another call of its root context was pending"], version);
      assert.deepEqual(await leaks(version, refused), ["0: it ended (failed) while another call of its root context was pending"], version);
    }
    await fast.close();
    await slow.close();
  });

  test("a root's answer that dispatches again: the answered call is never finished, at every pin", async () => {
    const up = await startUpstream((_req, _body, res) => res.end("ok"));
    for (const version of ["3.4.2", "3.6.1", "3.9.1"]) {
      const host = probe(`dispatch-from-answer 127.0.0.1:${up.port}`, { kongVersion: version });
      host.tick(host.rootIds[0]);
      await host.settle();
      assert.deepEqual(host.leaks.map((l) => `${l.token}: ${l.why}`), ["0: its answer's callback dispatched another call"], version);
    }
    await up.close();
  });

  test("TLS to an IP address fails: Kong cannot derive SNI from it", async () => {
    const host = probe("dispatch-tls-ip 127.0.0.1:1");
    host.tick(host.rootIds[0]);
    await host.settle();
    assert.ok(probeLines(host).includes("response token 0 headers 0 status - dispatch_status tls handshake failure body NotFound"), probeLines(host).join("\n"));
    assert.ok(host.logs.some((l) => l.source === "host" && /could not derive tls sni/.test(l.message)));
  });

  test("without :path from on_tick: InternalFailure and an error line, no trap", () => {
    const host = probe("dispatch-no-path 127.0.0.1:1");
    host.tick(host.rootIds[0]);
    assert.ok(probeLines(host).includes("dispatch InternalFailure token 0"));
    assert.equal(host.traps.length, 0);
    assert.ok(host.logs.some((l) => l.level === "error" && /no :path/.test(l.message)));
  });

  test("without :path from an HTTP context: trap", async () => {
    const host = probe("dispatch-in-headers 127.0.0.1:1");
    const up = await startUpstream((_req, _body, res) => res.end());
    const gw = await startGateway({ host, upstream: up.url });
    const r = await fetch(gw.url + "/");
    await gw.close();
    await up.close();
    assert.equal(r.status, 500);
    assert.match(host.traps[0].message, /no :path/);
  });
});

describe("metrics", () => {
  test("before Kong 3.8 a metric call traps (NYI); from 3.8 it counts", () => {
    const old = probe("metrics", { kongVersion: "3.7.1" });
    old.tick(old.rootIds[0]);
    assert.match(old.traps[0]?.message ?? "", /host trap \(function not yet implemented\): proxy_define_metric/);
    const current = probe("metrics", { kongVersion: "3.8.0" });
    current.tick(current.rootIds[0]);
    assert.deepEqual(current.traps, []);
    assert.ok(probeLines(current).includes("metric defined 1 increment Ok"));
    assert.equal(current.metrics.get("probe_calls"), 3n);
  });

  test("Kong 3.8 traps on misuse: increment of a gauge, record on a counter, unknown id, name too long", () => {
    const traps = ["increment-gauge", "record-counter", "unknown-id", "long-name"].map((misuse) => {
      const host = probe(`metric-misuse ${misuse}`, { kongVersion: "3.8.0" });
      host.tick(host.rootIds[0]);
      return host.traps[0]?.message;
    });
    assert.deepEqual(traps, [
      `could not increment metric id "1": metric not a counter`,
      `could not record value in metric id "2": metric is a counter`,
      `could not increment metric id "12345": metric not found`,
      `could not define metric: name "${"x".repeat(260)}" too long`,
    ]);
  });
});

describe("header-map marshalling, exactly as NWM (every pin)", () => {
  // A module whose malloc always answers 4096, so the test can read what the host wrote there.
  const BLOCK = 4096;
  const module = wat(minimalModule(`
    (import "env" "proxy_get_header_map_pairs" (func $pairs (param i32 i32 i32) (result i32)))
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
      (drop (call $pairs (i32.const 0) (i32.const 16) (i32.const 20))) (i32.const 0))`).replace("(i32.const 1024)", `(i32.const ${BLOCK})`));

  function run(headers: [string, Buffer][]): { reported: number; mem: Buffer } {
    const host = new KongWasmHost(module, [{ name: "m", config: "" }], { autoTick: false });
    host.start();
    const state: RequestState = {
      method: "GET", scheme: "http", requestUri: "/p", uri: "/p", args: "", serverName: "kong", serverPort: 8000,
      remoteAddr: "10.0.0.1", remotePort: 1, protocol: "HTTP/1.1", startMs: 0, requestHeaders: headers, requestBody: null,
      responseHeaders: [], responseChunk: null, status: 0, headersSent: false, responseStarted: false, bodyBytesSent: 0, connectionId: 1,
    };
    host.newStream(state).requestHeaders();
    const mem = Buffer.from((host.exports.memory as WebAssembly.Memory).buffer);
    assert.equal(mem.readUInt32LE(16), BLOCK);
    return { reported: mem.readUInt32LE(20), mem };
  }

  const short = (n: number): [string, Buffer][] => Array.from({ length: n }, (_, i) => [`h${i}`, Buffer.from("v")]);
  const entry = (k: string, v: string) => 8 + k.length + 1 + v.length + 1;
  const EXTRAS: [string, string][] = [[":path", "/p"], [":method", "GET"], [":scheme", "http"], [":authority", "kong:8000"]];

  test("97 short headers: the block holds all it reports (4 extras first, then 96 headers)", () => {
    const { reported, mem } = run(short(97));
    // NWM sizes 97 list pairs and then all 4 extras (the count stays below 100 until the last).
    const size = 4 + short(97).reduce((n, [k]) => n + entry(k, "v"), 0) + EXTRAS.reduce((n, [k, v]) => n + entry(k, v), 0);
    assert.equal(reported, size);
    assert.equal(mem.readUInt32LE(BLOCK), 100);
    const pairs = deserializeMap(mem.subarray(BLOCK, BLOCK + size))!;
    assert.deepEqual(pairs.slice(0, 5).map(([k]) => k), [":path", ":method", ":scheme", ":authority", "h0"]);
    assert.equal(pairs[99][0], "h95");
  });

  test("100 or more short headers: NWM writes past the block it reported, by the extras it did not count", () => {
    for (const n of [100, 150]) {
      const { reported, mem } = run(short(n));
      // Sized: 100 list pairs and one extra (:path). Written: 4 extras and 96 list pairs.
      const size = 4 + short(100).reduce((x, [k]) => x + entry(k, "v"), 0) + entry(":path", "/p");
      assert.equal(reported, size, `${n} headers`);
      const written = 4 + EXTRAS.reduce((x, [k, v]) => x + entry(k, v), 0) + short(96).reduce((x, [k]) => x + entry(k, "v"), 0);
      assert.ok(written > size);
      // The bytes past the block hold the rest of NWM's layout: the 96th header ends exactly there.
      const pairs = deserializeMap(mem.subarray(BLOCK, BLOCK + written))!;
      assert.equal(pairs.length, 100);
      assert.deepEqual(pairs[99], ["h95", Buffer.from("v")]);
      assert.equal(mem.subarray(BLOCK + written - 6, BLOCK + written).toString("latin1"), "h95\0v\0");
      assert.equal(deserializeMap(mem.subarray(BLOCK, BLOCK + size)), null, "the reported length cuts the map short");
    }
  });
});
