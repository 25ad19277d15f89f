// Delivery throughput in the project's own host: delivered ÷ sent against the request rate, for a
// collector that answers after 20 ms and one that answers after 200 ms, on Kong 3.9 (one call in
// flight at a time) and Kong 3.6 (as many as the collector takes), with the default configuration;
// the filter's own CPU per event delivered at each rate; the knee of each curve (the highest rate
// with at least 99.9% delivered); and what a quiet worker sends.
import { runLoad, LoadResult } from "../tests/support/load.ts";

export interface ThroughputRow {
  kongVersion: string;
  delayMs: number;
  target: number;
  result: LoadResult;
}

export interface Throughput {
  rows: ThroughputRow[];
  /** Per (version, delay): the highest target rate with ≥ 99.9% delivered, and the lowest without. */
  knees: { kongVersion: string; delayMs: number; knee: number; firstBelow: number | null }[];
  quiet: { seconds: number; sent: number; batches: number };
}

const RATES: Record<number, number[]> = {
  20: [1000, 2000, 5000, 8000, 12000],
  200: [500, 1000, 2000, 3000, 5000],
};

export async function throughput(quick: boolean): Promise<Throughput> {
  const rows: ThroughputRow[] = [];
  const knees: Throughput["knees"] = [];
  for (const kongVersion of ["3.9.1", "3.6.1"]) {
    for (const delayMs of [20, 200]) {
      const rates = quick ? [RATES[delayMs][0], RATES[delayMs][2]] : RATES[delayMs];
      let knee = 0;
      let firstBelow: number | null = null;
      for (const target of rates) {
        const result = await runLoad({ rate: target, seconds: quick ? 1.5 : 5, collectorDelayMs: delayMs, kongVersion, drainMs: 2500 });
        rows.push({ kongVersion, delayMs, target, result });
        if (result.delivered / result.sent >= 0.999 && result.duplicates === 0) {
          if (firstBelow === null) knee = target;
        } else if (firstBelow === null) {
          firstBelow = target;
        }
      }
      knees.push({ kongVersion, delayMs, knee, firstBelow });
    }
  }
  const seconds = quick ? 3 : 10;
  const q = await runLoad({ rate: 1, seconds, collectorDelayMs: 20, kongVersion: "3.9.1", drainMs: 1500 });
  return { rows, knees, quiet: { seconds, sent: q.sent, batches: q.batches } };
}
