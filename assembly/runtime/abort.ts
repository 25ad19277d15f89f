// Kong links no `env.abort`, so asc is told (`--use abort=…`) to call this instead. It logs why, then
// traps: AssemblyScript code after an abort assumes it never returns. Reaching it is always a bug —
// the filter is written so that every failure is a status, not an abort.
import { proxy_log } from "@solo-io/proxy-runtime/assembly/imports";
import { LogLevel } from "./abi";

let aborting = false;

export function abortHandler(message: string | null, fileName: string | null, line: u32, column: u32): void {
  // An abort from inside the allocator (a corrupt heap) would abort again while building the line.
  if (aborting) unreachable();
  aborting = true;
  let text = "moesif: internal error (trap): ";
  text += message !== null ? message : "abort";
  if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  const utf8 = String.UTF8.encode(text);
  proxy_log(LogLevel.Critical, changetype<usize>(utf8), utf8.byteLength);
  unreachable();
}
