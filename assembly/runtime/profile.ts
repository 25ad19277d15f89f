// What a proxy-wasm host lets a root context do with its calls, as one value (runtime/hostinfo.ts
// builds it from what the first request told; delivery's core takes it as an argument, so it can be
// driven with any host in a unit test). Until the host is known, and for a host that cannot be
// told, it is the safe profile: one call at a time, nothing read from an answer but `:status`.
export class HostProfile {
  /** The first request has told which host this is: fetches (answer bodies) may start. */
  known: bool = false;
  /** More than one call of a root context may be in flight at once (else one, of any kind). */
  parallelCalls: bool = false;
  /** An answer's other headers and its body may be read, not only `:status`. */
  readsAnswers: bool = false;
  /** A failed call is called back (else it is never heard of, and must be presumed lost). */
  reportsFailures: bool = false;
  /** A root context may dispatch from a call's answer callback without a leak. */
  dispatchesFromAnswers: bool = false;
  /** proxy_define_metric and the others work. */
  metrics: bool = false;
  /** An nginx that did not say which Kong release's ngx_wasm_module it runs (or said it unreadably). */
  undeclared: bool = false;

}
