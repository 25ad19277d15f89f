// The test servers' ports (tests/support/ports.ts): a listen that fails instead of hanging, and
// ports chosen now and bound later that no outgoing connection can take in between.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { listen, freePort, EPHEMERAL_LOW, FLOOR } from "../support/ports.ts";
import { Collector } from "../collector/collector.ts";

test("a listen on a port in use rejects, and a collector's start with it", { timeout: 5000 }, async () => {
  const held = net.createServer();
  const port = await listen(held);
  try {
    await assert.rejects(listen(net.createServer(), port), { code: "EADDRINUSE" });
    await assert.rejects(new Collector({ port }).start(), { code: "EADDRINUSE" });
  } finally {
    await new Promise<void>((r) => held.close(() => r()));
  }
});

test("freePort: below the ephemeral range, free, never the same twice, and bindable again after a close", async () => {
  const ports = [];
  for (let i = 0; i < 50; i++) ports.push(await freePort());
  assert.equal(new Set(ports).size, ports.length);
  for (const p of ports) assert.ok(p >= FLOOR && p < EPHEMERAL_LOW, `${p} lies in [${FLOOR}, ${EPHEMERAL_LOW})`);
  // A collector down and back on the same port, as the delivery scenarios do.
  const first = await new Collector({ port: ports[0] }).start();
  await first.close();
  const again = await new Collector({ port: ports[0] }).start();
  assert.equal(again.port, ports[0]);
  await again.close();
});
