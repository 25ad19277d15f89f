// A filter that does nothing: every callback returns Continue. Built beside moesif.wasm as the
// floor for benchmarks (what the host costs with no filter work at all).
import "./runtime/abort";

export * from "./runtime/exports";
