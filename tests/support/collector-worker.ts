// A collector in a thread of its own, for load runs: its event loop answers batches while the
// gateway's is busy with traffic, as a real collector on another machine would. Light mode (only
// transaction ids kept) and a fixed answer delay, the collector's latency.
import { parentPort, workerData, Worker } from "node:worker_threads";
import { Collector } from "../collector/collector.ts";

export interface CollectorCounts {
  /** Every event's transaction id, in arrival order. */
  ids: string[];
  batches: number;
  maxConcurrent: number;
  configRequests: number;
  rulesRequests: number;
}

/** The collector thread, seen from the test: its URL, its counts, and close(). */
export class CollectorThread {
  private constructor(private worker: Worker, readonly url: string) {}

  static async start(delayMs: number): Promise<CollectorThread> {
    const worker = new Worker(new URL("./collector-thread.mjs", import.meta.url), { workerData: { delayMs } });
    const url = await new Promise<string>((resolve, reject) => {
      worker.once("message", (m: { url: string }) => resolve(m.url));
      worker.once("error", reject);
    });
    return new CollectorThread(worker, url);
  }

  counts(): Promise<CollectorCounts> {
    return new Promise((resolve) => {
      this.worker.once("message", resolve);
      this.worker.postMessage("counts");
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

if (parentPort && workerData && typeof workerData.delayMs === "number") {
  const port = parentPort;
  const collector = await new Collector({ light: true }).start();
  if (workerData.delayMs > 0) collector.failAll({ delayMs: workerData.delayMs });
  port.on("message", () => {
    const counts: CollectorCounts = {
      ids: collector.ids, batches: collector.batches.length, maxConcurrent: collector.maxConcurrent,
      configRequests: collector.configRequests, rulesRequests: collector.rulesRequests,
    };
    port.postMessage(counts);
  });
  port.postMessage({ url: collector.url });
}
