// The filter's entry module: the ABI exports, with Moesif's root context behind them.
// Top-level code here runs from _initialize and must not call the host (Kong issue #695).
import { setRootFactory, RootContext } from "./runtime/context";
import { MoesifRoot } from "./filter/root";
// Named by asc --use abort=…, so it must be compiled in.
import "./runtime/abort";

setRootFactory((id: u32): RootContext => new MoesifRoot(id));

export * from "./runtime/exports";
