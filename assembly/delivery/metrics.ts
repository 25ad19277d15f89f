// Hands the counters to the host's metrics (host-facing: part of the sender's adapter). Only
// where the host implements them: on Kong before 3.8 any metric call traps, and until the first
// request tells which host this is, none is made (what accrues meanwhile is handed over later).
import { defineMetric, incrementMetric, recordMetric, MetricCounter, MetricGauge } from "../runtime/host";
import { Stats, NAMES } from "./stats";

export class MetricsExport {
  private ids: StaticArray<u32> = new StaticArray<u32>(NAMES.length);
  private exported: StaticArray<u64> = new StaticArray<u64>(NAMES.length);
  private queuedId: u32 = 0;
  private inFlightId: u32 = 0;
  private gauges: StaticArray<i64> = [-1, -1];
  private defined: bool = false;

  /** The counters' increase since the last call, and the two gauges when they moved. */
  export(stats: Stats, queued: i32, inFlight: i32): void {
    if (!this.defined) {
      for (let i = 0; i < NAMES.length; i++) this.ids[i] = defineMetric(MetricCounter, "moesif_" + NAMES[i]);
      this.queuedId = defineMetric(MetricGauge, "moesif_events_queued");
      this.inFlightId = defineMetric(MetricGauge, "moesif_calls_in_flight");
      this.defined = true;
    }
    const v = stats.values();
    for (let i = 0; i < NAMES.length; i++) {
      const delta = v[i] - this.exported[i];
      if (delta != 0 && this.ids[i] != 0) incrementMetric(this.ids[i], <i64>delta);
      this.exported[i] = v[i];
    }
    // Ticks come often: a gauge is handed over only when it moved.
    if (this.queuedId != 0 && this.gauges[0] != queued) recordMetric(this.queuedId, <u64>queued);
    if (this.inFlightId != 0 && this.gauges[1] != inFlight) recordMetric(this.inFlightId, <u64>inFlight);
    this.gauges[0] = queued;
    this.gauges[1] = inFlight;
  }
}
