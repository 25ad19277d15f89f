// The PCRE emulation (./pcre.ts) against a real PCRE2, where one is installed: Debian's
// pcre2-utils gives pcre2test, which runs patterns in the 8-bit library without UTF, as Kong's
// ngx.re.find(s, p, "jo") does. CI does not need it; kong-config.test.ts relies on the emulation,
// and this file checks the emulation itself, over every byte and the schema's patterns, on a
// machine that has one. (Kong 3.5/3.6 link PCRE 8.45, 3.7+ PCRE2: the constructs the emulation
// accepts mean the same in both.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pcreByteMode } from "./pcre.ts";

const have = spawnSync("pcre2test", ["-C"], { encoding: "utf8" }).status === 0;

/** pcre2test's verdict for each subject (bytes), in order. */
function pcre2(pattern: string, subjects: Buffer[]): boolean[] {
  const delimiter = [..."/!\"%,;:=@~`<>_"].find((d) => !pattern.includes(d));
  assert.ok(delimiter, `a delimiter for ${pattern}`);
  // Every subject byte as \xHH: pcre2test strips a data line's surrounding white space, and reads
  // a line holding only a backslash as the empty subject.
  const lines = [`${delimiter}${pattern}${delimiter}`, ...subjects.map((s) => `    ${s.length === 0 ? "\\" : [...s].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")}`), ""];
  const out = execFileSync("pcre2test", ["-q"], { input: lines.join("\n") + "\n", encoding: "latin1" });
  const verdicts: boolean[] = [];
  for (const line of out.split("\n")) {
    if (line.startsWith(" 0:")) verdicts.push(true);
    else if (line.startsWith("No match")) verdicts.push(false);
    else if (/^(Failed|\*\*)/.test(line)) throw new Error(`pcre2test on ${pattern}: ${line}`);
  }
  assert.equal(verdicts.length, subjects.length, `pcre2test answered every subject of ${pattern}`);
  return verdicts;
}

test("the PCRE emulation agrees with pcre2test over every byte, final newlines and UTF-8, for the schema's patterns and each modelled construct", { skip: have ? false : "pcre2test not installed (apt-get install pcre2-utils)" }, () => {
  const meta = JSON.parse(readFileSync(join(new URL("../../", import.meta.url).pathname, "kong/moesif.meta.json"), "utf8"));
  const schemaPatterns: string[] = [];
  JSON.stringify(meta, (k, v) => (k === "pattern" && typeof v === "string" && schemaPatterns.push(v), v));
  const patterns = [
    ...new Set(schemaPatterns),
    // Before issue 29, and one of each construct the emulation rewrites or passes through.
    "^[!-~]([ -~]*[!-~])?$", "^[^ \\t\\r\\n\\f\\v]([\\s\\S]*[^ \\t\\r\\n\\f\\v])?$", "^https://h(/[^?#\\s]*)?$",
    "^\\s$", "^\\S$", "^\\v$", "^\\V$", "^\\h$", "^\\H$", "^[\\s]$", "^[^\\v]$", "^[\\h\\d]$", "^[\\S\\V]$", "^.$", "a$", "^\\d+$", "^\\D$",
    "^[^\\x09-\\x0d ]$", "^a(?![\\d\\D])", "^a{2,3}(?!\\n)$", "^(?:ab|a)b$", "^[a-c]*?c$", "^\\x85", "[$.]",
  ];
  const subjects: Buffer[] = [Buffer.alloc(0)];
  for (let b = 0; b < 256; b++) subjects.push(Buffer.from([b]), Buffer.from([0x61, b]), Buffer.from([b, 0x0a]));
  for (const s of ["a\n", "aa\n", "aaa\n", "aaaa\n", "a\r\n", "a\n\n", "ab", "abb", "Å", "данных", "x\u00a0", "abc\n", "authorization\n", "https://h/a\u00a0b",
    "https://api.moesif.net\n", "https://127.0.0.1", "http://[::1]:80/x", "https://1.2.3.4\n"]) subjects.push(Buffer.from(s, "utf8"));
  let compared = 0;
  for (const pattern of patterns) {
    const real = pcre2(pattern, subjects);
    const emulated = pcreByteMode(pattern);
    subjects.forEach((s, i) => {
      assert.equal(emulated(s), real[i], `${pattern} on ${s.toString("hex")}`);
      compared++;
    });
  }
  assert.ok(compared > 20000);
});
