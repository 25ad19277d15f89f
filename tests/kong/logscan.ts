// Reading Kong's error.log (<prefix>/logs/error.log: PREFIX_PATHS.nginx_err_logs,
// kong/conf_loader/constants.lua:219 at 3.9.3). Pure: a log's text in, lines out.
//
// The lines are nginx's: `2026/12/05 22:00:00 [error] 4321#0: *17 message, client: …`. The filter's
// own lines come through ngx_wasm_module's proxy_log, prefixed `[proxy-wasm]["<filter>" #<n>]`, the
// message starting with "moesif: " (the filter's own prefix). A worker that dies is reported by the
// master: `[alert] … worker process 4321 exited on signal 11`.

/** Lines a clean run never has: error or worse, a crashed worker, a wasm trap. */
export const BAD_LOG_LINE = /\[(error|crit|alert|emerg)\]|exited on signal|\btrap\b/i;

export function lines(log: string): string[] {
  return log.split("\n").filter((l) => l.length > 0);
}

/** Lines at error or worse, crashed workers and traps, but those a test expects (`allowed`). */
export function badLines(log: string, allowed: RegExp[] = []): string[] {
  return lines(log).filter((l) => BAD_LOG_LINE.test(l) && !allowed.some((re) => re.test(l)));
}

/** "worker process N exited on signal S" lines: each one a worker lost with what it held. */
export function workerExits(log: string): string[] {
  return lines(log).filter((l) => /worker process \d+ exited on signal \d+/.test(l));
}

/** [alert] lines (nginx's for a request it could not finalize, a worker's exit…). */
export function alerts(log: string): string[] {
  return lines(log).filter((l) => /\[alert\]/.test(l));
}

/** The filter's lines at a level, without nginx's prefix nor its `, client: …` context. */
export function filterLines(log: string, level: string, filter = "moesif"): string[] {
  return lines(log)
    .filter((l) => l.includes(`[${level}]`) && l.includes(`${filter}: `))
    .map((l) => l.slice(l.indexOf(`${filter}: `)).replace(/(, client: |, context: | while ).*$/, ""));
}

/** The part of the log written after `from` characters (a test's own lines, not the run's before it). */
export function since(log: string, from: number): string {
  return log.slice(from);
}
