// How Kong matches a JSON-schema `pattern`, emulated in JavaScript without a PCRE library.
//
// lua-resty-ljsonschema (1.1.6 in Kong 3.5-3.8, 1.2.0 in 3.9) matches with ngx.re.find(s, p, "jo")
// (src/resty/ljsonschema/init.lua, default_match_pattern): PCRE (8.45 to Kong 3.6, PCRE2 from
// 3.7) with JIT and a compiled-once cache, and no other option: no UTF, no UCP, no multiline,
// no dollar-end-only, no caseless. So the subject is a string of bytes (Lua strings are the UTF-8
// bytes of the JSON text) and each construct means what PCRE's non-UTF mode says.
//
// The emulation runs the pattern as a JavaScript RegExp (no flags) over the subject's bytes
// decoded as latin1, a string whose code units are exactly those bytes (U+0000-U+00FF). It is
// faithful because it accepts only constructs whose PCRE byte-mode meaning is either the same as
// JavaScript's over such a string, or rewritten here to it; anything else throws, so no construct
// is ever silently misread:
// - the same in both: ASCII literal characters; \xHH; \t \n \r \f; escaped metacharacters; \d and
//   \D (PCRE without UCP reads its default C-locale tables, pcre2_chartables.c.dist, where digits
//   are 0-9; JavaScript's \d is always 0-9); character classes built from those, and negated ones
//   (a complement within 0x00-0xFF, which is all a latin1 string holds); `^` (start of subject in
//   both without multiline); groups, (?:), (?=), (?!), alternation, and *, +, ?, {n}, {n,}, {n,m}
//   with or without a lazy `?`. Both are backtracking engines with Perl semantics, and whether a
//   pattern matches somewhere in a subject does not depend on the order in which they try.
// - rewritten to PCRE's meaning: `$` (PCRE: at the end, or before a newline that ends the
//   subject; the default newline is LF, `pcre2test -C`), `.` (any byte but LF), \s and \S (C
//   locale: 09-0D and 20), \v and \V (vertical space: 0A-0D and 0x85, NEL, in every mode), \h and
//   \H (horizontal space: 09, 20 and 0xA0, NBSP). These are the ones that made Kong and the filter
//   disagree (issue 29): "abc\n" passes `^...$`, and \v refuses 0x85, the last byte of UTF-8 Å.
// - refused: \w \W \b \B (locale tables), \z \Z \A \G \R \X \N \K \Q \E \p \P \u \c \e \a \o \g \k,
//   back-references, octal escapes, \x{...}, lookbehind, named groups, inline options, atomic and
//   possessive forms, a `{` that is not a quantifier, `[` inside a class (POSIX [:alpha:] in
//   PCRE), `]` first in a class (a literal in PCRE, an empty class in JavaScript), and any byte
//   outside printable ASCII in the pattern itself (PCRE would see its UTF-8 bytes one by one).

const SPACE = "\\x09-\\x0d\\x20";
const NOT_SPACE = "\\x00-\\x08\\x0e-\\x1f\\x21-\\xff";
const VSPACE = "\\x0a-\\x0d\\x85";
const NOT_VSPACE = "\\x00-\\x09\\x0e-\\x84\\x86-\\xff";
const HSPACE = "\\x09\\x20\\xa0";
const NOT_HSPACE = "\\x00-\\x08\\x0a-\\x1f\\x21-\\x9f\\xa1-\\xff";
/** Inside a class: the bytes of each modelled escape. */
const CLASS_MODEL: Record<string, string> = { s: SPACE, S: NOT_SPACE, v: VSPACE, V: NOT_VSPACE, h: HSPACE, H: NOT_HSPACE };
const METACHARS = "\\^$.|?*+()[]{}/-";

export class UnsupportedConstruct extends Error {}

/** Constructs of `pattern` whose PCRE meaning the emulation rewrites (`$`, `\s`, ...), by name. */
export interface Translation {
  source: string;
  modelled: string[];
}

/** The JavaScript source that means, over a latin1 string of bytes, what `pattern` means to PCRE over those bytes. */
export function translate(pattern: string): Translation {
  let out = "";
  const modelled: string[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new UnsupportedConstruct(`${JSON.stringify(pattern)} at ${i}: ${why}`);
  };
  const printable = (c: string) => c >= " " && c <= "~";
  const hex2 = (): string => {
    const h = pattern.slice(i + 2, i + 4);
    if (!/^[0-9A-Fa-f]{2}$/.test(h)) fail("\\x needs two hex digits (\\x{...} is refused)");
    return h;
  };
  /** The escape at `i`: the same text, or (modelled) the bytes of its PCRE class, without brackets. */
  const escape = (): { text: string; modelled: boolean } => {
    const e = pattern[i + 1] ?? fail("a trailing backslash");
    if (e === "x") {
      const text = "\\x" + hex2();
      i += 4;
      return { text, modelled: false };
    }
    i += 2;
    if ("dDtnrf".includes(e) || METACHARS.includes(e)) return { text: "\\" + e, modelled: false };
    if (e in CLASS_MODEL) {
      modelled.push("\\" + e);
      return { text: CLASS_MODEL[e], modelled: true };
    }
    i -= 2;
    return fail(`the escape \\${e}`);
  };
  // Whether the previous emitted item can take a quantifier, to refuse possessive forms (`a*+`).
  let afterQuantifier = false;
  while (i < pattern.length) {
    const c = pattern[i];
    if (!printable(c)) fail("a byte outside printable ASCII");
    if (c === "\\") {
      const e = escape();
      out += e.modelled ? "[" + e.text + "]" : e.text;
      afterQuantifier = false;
      continue;
    }
    if (c === "[") {
      let cls = "[";
      i++;
      if (pattern[i] === "^") {
        cls += "^";
        i++;
      }
      if (pattern[i] === "]") fail("] first in a class");
      for (;;) {
        const d = pattern[i] ?? fail("an unterminated class");
        if (!printable(d)) fail("a byte outside printable ASCII");
        if (d === "]") break;
        if (d === "[") fail("[ inside a class");
        if (d === "\\") {
          cls += escape().text;
          continue;
        }
        cls += d;
        i++;
      }
      out += cls + "]";
      i++;
      afterQuantifier = false;
      continue;
    }
    if (c === "(") {
      const next = pattern.slice(i + 1, i + 3);
      if (next[0] === "?") {
        if (next !== "?:" && next !== "?=" && next !== "?!") fail(`the group (${next}`);
        out += "(" + next;
        i += 3;
      } else {
        out += "(";
        i++;
      }
      afterQuantifier = false;
      continue;
    }
    if (c === "*" || c === "+" || c === "?" || c === "{") {
      if (afterQuantifier && c === "+") fail("a possessive quantifier");
      if (afterQuantifier && c === "?") {
        out += "?";
        i++;
        afterQuantifier = false;
        continue;
      }
      if (c === "{") {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
        if (!m) fail("a { that is not a quantifier");
        out += m![0];
        i += m![0].length;
      } else {
        out += c;
        i++;
      }
      afterQuantifier = true;
      continue;
    }
    afterQuantifier = false;
    if (c === "$") {
      // PCRE: at the very end, or before a final LF (JavaScript's `$` without m: the end only).
      out += "(?=\\n?$)";
      modelled.push("$");
    } else if (c === ".") {
      out += "[^\\n]";
      modelled.push(".");
    } else if (c === "}" || c === "]") fail(`an unescaped ${c}`);
    else out += c; // ^ | ) and ASCII literals
    i++;
  }
  return { source: out, modelled };
}

/** A tester of `pattern` under PCRE's byte-mode rules: is there a match anywhere in these bytes? */
export function pcreByteMode(pattern: string): (subject: Buffer) => boolean {
  const re = new RegExp(translate(pattern).source);
  return (subject) => re.test(subject.toString("latin1"));
}

/**
 * The length lua-resty-ljsonschema gives a string for minLength/maxLength: 1.1.6 (Kong 3.5-3.8)
 * counts bytes (`#s`); 1.2.0 (Kong 3.9) counts UTF-8 characters, or bytes when the string is not
 * valid UTF-8 (src/resty/ljsonschema/init.lua: `utf_len(s) or #s`).
 */
export function ljsonschemaLength(bytes: Buffer, version: "1.1.6" | "1.2.0"): number {
  if (version === "1.1.6") return bytes.length;
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  const valid = Buffer.from(text, "utf8").equals(bytes);
  return valid ? [...text].length : bytes.length;
}
