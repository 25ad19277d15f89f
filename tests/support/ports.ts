// Ports for servers the tests start: a listen that fails loudly, and ports that can be chosen now
// and bound later.
import fs from "node:fs";
import net from "node:net";

/**
 * Listens and resolves with the port, or rejects with the listen error. A bare
 * `server.listen(port, host, callback)` never calls back on EADDRINUSE: the error goes to the
 * process as an uncaught exception, the test awaiting it hangs past its `finally`, and the nginx
 * and servers it started keep the test process alive until CI's time limit.
 */
export function listen(server: net.Server, port = 0, host = "127.0.0.1"): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** The low end of the kernel's range for outgoing connections' local ports. */
function readEphemeralLow(): number {
  try {
    const low = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 1024) return low;
  } catch {}
  return 32768;
}

export const EPHEMERAL_LOW = readEphemeralLow();
/** The lowest port freePort hands out. */
export const FLOOR = 10_000;
const handedOut = new Set<number>();

/**
 * A port nothing listens on now, for a server bound later (nginx's listen; a collector that is
 * down, or goes down, and comes back on the same port). It lies below the kernel's ephemeral range:
 * a port from listen(0) lies inside it, and before it is bound again an outgoing connection may take
 * it as its local port. With nothing listening, even nginx's own connection to it can: a loopback
 * connect to a closed ephemeral port sometimes connects to itself (TCP simultaneous open), and the
 * collector's later listen fails with EADDRINUSE (seen in CI). This process never hands a port out
 * twice, so two tests cannot share one either.
 */
export async function freePort(): Promise<number> {
  const low = EPHEMERAL_LOW;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low - 1 > FLOOR ? FLOOR + Math.floor(Math.random() * (low - FLOOR)) : 0;
    if (handedOut.has(port)) continue;
    const probe = net.createServer();
    const bound = await listen(probe, port).catch(() => null);
    if (bound === null) continue;
    await new Promise<void>((r) => probe.close(() => r()));
    handedOut.add(bound);
    return bound;
  }
  throw new Error(`no free port below ${low} after 200 tries`);
}
