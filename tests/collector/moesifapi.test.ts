// The collector accepts what Moesif's own API client (npm moesifapi) sends, built with its models,
// through both of its event endpoints: proof that "Moesif-compatible" means what Moesif accepts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { Collector } from "./collector.ts";

const require = createRequire(import.meta.url);
const moesifapi = require("moesifapi");

let c: Collector;
before(async () => {
  c = await new Collector({ applicationId: "moesifapi-app" }).start();
  moesifapi.configuration.BaseUri = c.url;
  moesifapi.configuration.ApplicationId = "moesifapi-app";
});
after(() => c.close());

function send(method: "createEvent" | "createEventsBatch", body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    moesifapi.ApiController[method](body, (error: any, response: any) => (error ? reject(new Error(JSON.stringify(error))) : resolve(response.statusCode)));
  });
}

// As in moesifapi's own tests: capitalised header names, a response time given as a number.
const requestTime = new Date("2026-11-26T10:00:00.123Z");
const model = (withResponse: boolean) => new moesifapi.EventModel({
  request: {
    time: requestTime, uri: "https://api.acmeinc.com/items/reviews/", verb: "PATCH", apiVersion: "1.1.0", ipAddress: "61.48.220.123",
    headers: { Host: "api.acmeinc.com", Accept: "*/*", "Content-Type": "application/json", "Content-Length": "126" },
    body: { items: [{ type: 1, id: "fwfrf" }] },
  },
  response: withResponse ? { time: requestTime.getTime() + 500, status: 500, headers: { "Content-Type": "application/json; charset=utf-8" }, body: { Error: "x" } } : undefined,
  userId: "my_user_id", companyId: "my_company_id", sessionToken: "23jdf0owekfmcn4u3qypxg09w4d8ayrcdx8nu2ng", metadata: { testData: 1 },
});

test("an event from moesifapi's models, alone (POST /v1/events) and in a batch (POST /v1/events/batch)", async () => {
  assert.equal(await send("createEvent", model(true)), 201);
  assert.equal(await send("createEventsBatch", [model(true), model(false)]), 201);
  assert.deepEqual(c.rejected, []);
  assert.equal(c.events.length, 3);
  const [one] = c.events;
  assert.equal(one.request.uri, "https://api.acmeinc.com/items/reviews/");
  assert.equal(one.request.time, "2026-11-26T10:00:00.123Z");
  assert.equal((one.request.headers as Record<string, string>).Host, "api.acmeinc.com");
  assert.equal(one.user_id, "my_user_id");
  // Without a response, the models send one of nulls: Moesif takes it (a call that timed out).
  assert.equal(c.events[2].response.status, null);
  // None of these is an event this filter may send (capitalised names, nulls): recorded apart.
  assert.equal(c.filterViolations.length, 3);
});
