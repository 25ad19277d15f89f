// A request body that arrives in a later packet than its headers (Expect: 100-continue, large
// bodies, slow links), in the real host at each pin. Before ngx_wasm_module 3dbf52ae ("resume content
// phase after request_body read EAGAIN", first in Kong 3.8's 96b4e27e) such a request never reaches
// the upstream whatever the filter does: for every proxy_wasm chain NWM reads the body in the content
// phase (src/wasm/ngx_wasm_ops.c:448-449 at 21732b18, a7087a37 and 91d447ff), and on NGX_AGAIN
// ngx_http_wasm_read_client_request_body drops the request's reference (src/http/
// ngx_http_wasm_util.c:52-57, `r->main->count--`) with nothing left to resume the content handler.
// No filter export or directive changes that, so the no-op filter hangs the same way: these tests
// pin the behaviour per version, and the README's version table says it.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startUpstream, Upstream } from "../../support/upstream.ts";
import { Collector } from "../../collector/collector.ts";
import { startKong, Kong, BUILT } from "../launcher.ts";
import { SKIP, KONG_BIN, KONG_VERSION, PROFILE } from "./suite.ts";

/**
 * A POST whose 10-byte body leaves only once nginx has asked for it: its headers carry
 * `Expect: 100-continue`, which nginx answers when it starts reading a body it does not have yet
 * (ngx_http_test_expect, from ngx_http_read_client_request_body). So nginx has read the headers
 * alone, whatever the machine's load; a fixed delay before the body was not enough on a busy one.
 * The final status, 0 if none within 3 s, or -1 if nginx never asked for the body.
 */
function lateBody(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let got = "";
    let asked = false;
    const done = (status: number) => {
      clearTimeout(timer);
      s.destroy();
      resolve(status);
    };
    const timer = setTimeout(() => done(asked ? 0 : -1), 3000);
    s.on("data", (d) => {
      got += d.toString("latin1");
      const interim = asked ? null : /^HTTP\/1\.1 100 [^\r]*\r\n\r\n/.exec(got);
      if (interim) {
        asked = true;
        got = got.slice(interim[0].length);
        s.write('{"late":1}');
      }
      const m = /^HTTP\/1\.1 ([2-5]\d\d)/.exec(got);
      if (m && got.includes("\r\n\r\n")) done(Number(m[1]));
    });
    s.on("error", () => done(0));
    s.write(`POST ${path} HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nContent-Length: 10\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
  });
}

{
  describe(`Kong ${KONG_VERSION}: a request body that comes after its headers`, { skip: SKIP }, () => {
    let upstream: Upstream;
    let collector: Collector;
    const seen: string[] = [];
    let kong: Kong;
    before(async () => {
      collector = await new Collector().start();
      upstream = await startUpstream((req, body, res) => {
        seen.push(`${req.url} ${body.toString()}`);
        res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
      });
      // One Kong: /moesif-… routes to this filter, /late-noop and /whole-noop to the no-op filter.
      kong = await startKong({
        bin: KONG_BIN, version: KONG_VERSION, filters: [BUILT.moesif(), BUILT.noop()],
        config: {
          services: [{
            name: "late", url: upstream.url,
            routes: [
              { name: "noop", paths: ["/late-noop"], filters: [{ name: "noop" }] },
              { name: "moesif", paths: ["/"], filters: [{ name: "moesif", config: { application_id: "late", api_endpoint: collector.url, batch_max_wait: 100 } }] },
            ],
          }],
        },
      });
    });
    after(async () => {
      await kong?.stop();
      await upstream?.close();
      await collector?.close();
    });

    if (PROFILE.lateBodyAnswered) {
      test("reaches the upstream and is captured with its body", async () => {
        assert.equal(await lateBody(kong.proxyPort, "/late"), 200);
        assert.ok(seen.includes('/late {"late":1}'), seen.join("\n"));
        const [event] = await collector.waitForEvents(1, 5000);
        assert.equal(event.request.uri, "http://api.example.com/late");
        assert.deepEqual(event.request.body, { late: 1 });
        assert.deepEqual(kong.badLines(), []);
      });
    } else {
      test("hangs in Kong's Wasm host (ngx_wasm_module) before 3.8, with this filter and with a no-op filter alike", async () => {
        assert.equal(await lateBody(kong.proxyPort, "/late-moesif"), 0, "no answer within 3 s");
        assert.equal(await lateBody(kong.proxyPort, "/late-noop"), 0, "the no-op filter hangs too: NWM's bug, not the filter's");
        assert.ok(!seen.some((s) => s.startsWith("/late-")), `the upstream never sees them: ${seen.join(", ")}`);
        // A body in the same packet as its headers is unaffected.
        const r = await new Promise<number>((resolve) => {
          const s = net.connect(kong.proxyPort, "127.0.0.1", () => s.write('POST /whole HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{"late":1}'));
          s.on("data", (d) => (resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(d.toString())?.[1] ?? 0)), s.destroy()));
          s.on("error", () => resolve(0));
        });
        assert.equal(r, 200);
      });
    }
  });
}
