// Where the consumer comes from on Kong: no Kong version hands a filter a consumer property, so the
// only word of it is the X-Consumer-* request headers Kong's auth plugins set, and on a route
// without one a client can send them itself. use_consumer_headers (default on, as the Lua plugin
// reads them) decides whether they name the user. Asserted on the events the collector received.
import { test, describe, afterEach } from "node:test";
import assert from "node:assert/strict";
import { harness, Harness, send, closeChecked } from "../support/harness.ts";
import { MoesifEvent } from "../collector/collector.ts";

let h: Harness | null = null;
afterEach(async () => {
  const done = h;
  h = null;
  await closeChecked(done);
});

// {"sub":"token-user"}, as a JWT payload.
const TOKEN = `e30.${Buffer.from(JSON.stringify({ sub: "token-user" })).toString("base64url")}.sig`;

async function eventFor(config: Record<string, unknown>, headers: [string, string][]): Promise<MoesifEvent> {
  h = await harness({ config: { application_id: "consumer-test", ...config } });
  const r = await send(h.gateway.url, { path: "/c", headers });
  assert.equal(r.status, 200);
  await h.flush();
  assert.equal(h.collector.events.length, 1);
  return h.collector.events[0];
}

describe("X-Consumer-* headers and use_consumer_headers", () => {
  test("by default a forged X-Consumer-Username names the user, ahead of the token (what the route's auth plugin must prevent)", async () => {
    const e = await eventFor({}, [["X-Consumer-Username", "forged-admin"], ["Authorization", `Bearer ${TOKEN}`]]);
    assert.equal(e.user_id, "forged-admin");
  });

  test("use_consumer_headers false: the forged header is ignored and the token names the user", async () => {
    const e = await eventFor({ use_consumer_headers: false }, [["X-Consumer-Username", "forged-admin"], ["X-Consumer-Id", "forged-id"],
      ["X-Consumer-Custom-Id", "forged-custom"], ["Authorization", `Bearer ${TOKEN}`]]);
    assert.equal(e.user_id, "token-user");
  });

  test("use_consumer_headers false and nothing else: the event has no user at all", async () => {
    const e = await eventFor({ use_consumer_headers: false }, [["X-Consumer-Username", "forged-admin"]]);
    assert.equal(e.user_id, undefined);
    // The header itself is still captured as a request header (it is not a secret; masks apply as usual).
    assert.equal(e.request.headers!["x-consumer-username"], "forged-admin");
  });
});
