// The sender's clock. Hosts give wall time (Kong: proxy_get_current_time_nanoseconds is
// ngx_wasm_wall_time, i.e. ngx_timeofday, src/common/proxy_wasm/ngx_proxy_wasm_host.c), which an
// NTP step moves back and a paused VM or a stalled worker moves forward in one leap. Every duration
// of delivery is measured on this clock instead: it never goes back (a backward step is absorbed —
// time stands still until wall time passes the highest reading again), and it moves forward by at
// most MAX_STEP_MS per reading, so a leap alone presumes no call lost and expires no pause at once.
// Readings come with every tick (20 ms) and answer; a worker that really stalls longer simply
// sees time pass more slowly, which delays presumptions, never hastens them.
export const MAX_STEP_MS: i64 = 1000;

export class MonoClock {
  /** The last wall reading. */
  private wallMs: i64 = 0;
  private started: bool = false;
  /** Monotonic milliseconds since the first reading (starts at 0). */
  nowMs: i64 = 0;

  /** Takes a wall-clock reading (ms since the epoch) and returns the monotonic time. */
  read(wallMs: i64): i64 {
    if (!this.started) {
      this.started = true;
      this.wallMs = wallMs;
      return this.nowMs;
    }
    const d = wallMs - this.wallMs;
    this.wallMs = wallMs;
    if (d > 0) this.nowMs += d < MAX_STEP_MS ? d : MAX_STEP_MS;
    return this.nowMs;
  }
}
