// A small regular-expression matcher for Moesif's sampling rules (regex_config): the common syntax
// — literals, `.`, classes with ranges and negation, \d \w \s (and their negations), anchors,
// groups, alternation and the quantifiers * + ? {n} {n,} {n,m} — compiled once to a program run
// by a Pike VM (Thompson NFA simulation). Time is linear in the input whatever the pattern, so a
// rule cannot stall a Kong worker. Matching is over bytes, like Lua's patterns in the Lua plugin.

const CHAR: u8 = 0;
const ANY: u8 = 1;
const CLASS: u8 = 2;
const SPLIT: u8 = 3;
const JMP: u8 = 4;
const BOL: u8 = 5;
const EOL: u8 = 6;
const MATCH: u8 = 7;

/** Longest program a pattern may compile to (counted repeats are expanded). */
const MAX_PROGRAM = 4096;
/** Longest leading literal looked for anywhere in a text (a longer one: its first bytes). */
const MAX_LITERAL = 16;
const NO_LITERAL = new Uint8Array(0);

class Inst {
  constructor(public op: u8, public x: i32 = 0, public y: i32 = 0) {}
}

// A parsed pattern, before compilation.
const N_CHAR = 0, N_ANY = 1, N_CLASS = 2, N_BOL = 3, N_EOL = 4, N_CAT = 5, N_ALT = 6, N_REPEAT = 7, N_EMPTY = 8;

class Node {
  kids: Array<Node> = [];
  constructor(public kind: i32, public value: i32 = 0, public min: i32 = 0, public max: i32 = -1) {}
}

class Parser {
  pos: i32 = 0;
  error: string = "";
  classes: Array<StaticArray<u8>> = [];

  constructor(private src: Uint8Array) {}

  private peek(): i32 {
    return this.pos < this.src.length ? <i32>this.src[this.pos] : -1;
  }

  alt(depth: i32): Node | null {
    if (depth > 100) { this.error = "groups nested too deeply"; return null; }
    const first = this.seq(depth);
    if (first === null) return null;
    if (this.peek() != 0x7c) return first;
    const n = new Node(N_ALT);
    n.kids.push(first);
    while (this.peek() == 0x7c) {
      this.pos++;
      const next = this.seq(depth);
      if (next === null) return null;
      n.kids.push(next);
    }
    return n;
  }

  private seq(depth: i32): Node | null {
    const n = new Node(N_CAT);
    while (true) {
      const c = this.peek();
      if (c < 0 || c == 0x7c || c == 0x29) break;
      let atom = this.atom(depth);
      if (atom === null) return null;
      atom = this.quantified(atom);
      if (atom === null) return null;
      n.kids.push(atom);
    }
    return n.kids.length == 0 ? new Node(N_EMPTY) : n;
  }

  private number(): i32 {
    let v = -1;
    while (this.peek() >= 0x30 && this.peek() <= 0x39) {
      v = (v < 0 ? 0 : v) * 10 + (this.peek() - 0x30);
      if (v > 1000) { this.error = "repeat count too large"; return -2; }
      this.pos++;
    }
    return v;
  }

  private quantified(atom: Node): Node | null {
    while (true) {
      const c = this.peek();
      let min = 0, max = -1;
      if (c == 0x2a) { this.pos++; }
      else if (c == 0x2b) { this.pos++; min = 1; }
      else if (c == 0x3f) { this.pos++; max = 1; }
      else if (c == 0x7b) {
        const save = this.pos;
        this.pos++;
        min = this.number();
        if (min == -2) return null;
        if (min < 0) { this.pos = save; return atom; } // a literal '{'
        max = min;
        if (this.peek() == 0x2c) {
          this.pos++;
          max = this.number();
          if (max == -2) return null;
        }
        if (this.peek() != 0x7d || (max >= 0 && max < min)) { this.error = "bad repeat"; return null; }
        this.pos++;
      } else return atom;
      // A lazy marker changes which match is found, not whether one is: ignored.
      if (this.peek() == 0x3f) this.pos++;
      if (atom.kind == N_BOL || atom.kind == N_EOL) { this.error = "nothing to repeat"; return null; }
      const r = new Node(N_REPEAT, 0, min, max);
      r.kids.push(atom);
      atom = r;
    }
  }

  private escapeClass(c: i32, set: StaticArray<u8>): bool {
    if (c == 0x64 || c == 0x44) { for (let b = 0x30; b <= 0x39; b++) set[b] = 1; }
    else if (c == 0x77 || c == 0x57) {
      for (let b = 0; b < 256; b++) if ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x5f) set[b] = 1;
    } else if (c == 0x73 || c == 0x53) { set[0x20] = 1; set[0x09] = 1; set[0x0a] = 1; set[0x0d] = 1; set[0x0b] = 1; set[0x0c] = 1; }
    else return false;
    if (c == 0x44 || c == 0x57 || c == 0x53) for (let b = 0; b < 256; b++) set[b] ^= 1;
    return true;
  }

  private escapedChar(c: i32): i32 {
    if (c == 0x6e) return 0x0a;
    if (c == 0x74) return 0x09;
    if (c == 0x72) return 0x0d;
    return c;
  }

  private classNode(set: StaticArray<u8>): Node {
    this.classes.push(set);
    return new Node(N_CLASS, this.classes.length - 1);
  }

  private atom(depth: i32): Node | null {
    const c = this.peek();
    this.pos++;
    if (c == 0x28) {
      if (this.peek() == 0x3f) {
        if (this.pos + 1 < this.src.length && this.src[this.pos + 1] == 0x3a) this.pos += 2;
        else { this.error = "unsupported group"; return null; }
      }
      const inner = this.alt(depth + 1);
      if (inner === null) return null;
      if (this.peek() != 0x29) { this.error = "missing )"; return null; }
      this.pos++;
      return inner;
    }
    if (c == 0x5b) return this.bracket();
    if (c == 0x2e) return new Node(N_ANY);
    if (c == 0x5e) return new Node(N_BOL);
    if (c == 0x24) return new Node(N_EOL);
    if (c == 0x2a || c == 0x2b || c == 0x3f) { this.error = "nothing to repeat"; return null; }
    if (c == 0x5c) {
      const e = this.peek();
      if (e < 0) { this.error = "trailing backslash"; return null; }
      this.pos++;
      const set = new StaticArray<u8>(256);
      if (this.escapeClass(e, set)) return this.classNode(set);
      return new Node(N_CHAR, this.escapedChar(e));
    }
    return new Node(N_CHAR, c);
  }

  private bracket(): Node | null {
    const set = new StaticArray<u8>(256);
    let negate = false;
    if (this.peek() == 0x5e) { negate = true; this.pos++; }
    let first = true;
    while (true) {
      let c = this.peek();
      if (c < 0) { this.error = "missing ]"; return null; }
      this.pos++;
      if (c == 0x5d && !first) break;
      first = false;
      if (c == 0x5c) {
        const e = this.peek();
        if (e < 0) { this.error = "trailing backslash"; return null; }
        this.pos++;
        if (this.escapeClass(e, set)) continue;
        c = this.escapedChar(e);
      }
      if (this.peek() == 0x2d && this.pos + 1 < this.src.length && this.src[this.pos + 1] != 0x5d) {
        this.pos++;
        let hi = this.peek();
        this.pos++;
        if (hi == 0x5c) { hi = this.escapedChar(this.peek()); this.pos++; }
        if (hi < c) { this.error = "bad range"; return null; }
        for (let b = c; b <= hi; b++) set[b] = 1;
      } else {
        set[c] = 1;
      }
    }
    if (negate) for (let b = 0; b < 256; b++) set[b] ^= 1;
    return this.classNode(set);
  }
}

export class Regex {
  /** The program while it is emitted; then flattened into `code` and dropped. */
  private prog: Array<Inst> = [];
  /**
   * The program, three numbers per instruction (op, x, y): one object for the collector to visit
   * instead of one per instruction, which with a hundred rules made marking the larger part of the
   * collector's work (npm run bench §7).
   */
  private code: StaticArray<i32> = new StaticArray<i32>(0);
  private classes: Array<StaticArray<u8>> = [];
  /** Set when the pattern could not be compiled; such a regex matches nothing. */
  error: string = "";

  // The matcher's thread lists, made once with the program: a rule's regex is tested on every call
  // (a filter instance runs one callback at a time, so one set per regex is enough).
  private clist: StaticArray<i32> = new StaticArray<i32>(0);
  private nlist: StaticArray<i32> = new StaticArray<i32>(0);
  private mark: StaticArray<i32> = new StaticArray<i32>(0);
  private stack: StaticArray<i32> = new StaticArray<i32>(0);
  /** No thread can start past the first byte (every way in begins with ^): stop once none is left. */
  private anchored: bool = false;
  /**
   * Bytes every match begins with (the pattern's leading literal), and whether they must open the
   * text: most texts a rule tests fail on them, and a comparison rules them out before the VM runs.
   */
  private literal: Uint8Array = NO_LITERAL;
  private literalAtStart: bool = false;

  constructor(pattern: string) {
    this.error = this.compile(pattern);
    if (this.error.length > 0) this.prog = [];
    const n = this.prog.length;
    const code = new StaticArray<i32>(n * 3);
    for (let i = 0; i < n; i++) {
      const inst = unchecked(this.prog[i]);
      unchecked(code[i * 3] = <i32>inst.op);
      unchecked(code[i * 3 + 1] = inst.x);
      unchecked(code[i * 3 + 2] = inst.y);
    }
    this.code = code;
    this.prog = [];
    this.clist = new StaticArray<i32>(n);
    this.nlist = new StaticArray<i32>(n);
    this.mark = new StaticArray<i32>(n);
    this.stack = new StaticArray<i32>(n * 2 + 2);
    // A thread started mid-text (0 < pos < len) or at its end (pos == len) gets nowhere: anchored.
    if (n > 0) {
      this.anchored = this.add(this.clist, 0, 0, 1, 2, this.mark, 1, this.stack) == 0 &&
        this.add(this.clist, 0, 0, 1, 1, this.mark, 2, this.stack) == 0;
      for (let i = 0; i < n; i++) unchecked(this.mark[i] = 0);
      this.findLiteral();
    }
  }

  /**
   * The leading literal: the CHAR instructions at the program's start (after a ^), cut short where
   * a jump or split lands inside them, since only then does every way to MATCH pass through all
   * of them in order from the first. Unanchored, at most MAX_LITERAL bytes, so that looking for it
   * stays linear in the text.
   */
  private findLiteral(): void {
    const code = this.code;
    const n = this.code.length / 3;
    let start = 0;
    if (unchecked(code[0]) == BOL) start = 1;
    let end = start;
    while (end < n && unchecked(code[end * 3]) == CHAR) end++;
    for (let i = 0; i < n; i++) {
      const op = unchecked(code[i * 3]);
      if (op != JMP && op != SPLIT) continue;
      const x = unchecked(code[i * 3 + 1]);
      const y = op == SPLIT ? unchecked(code[i * 3 + 2]) : x;
      // A way back to the ^ itself, or into the literal: only the part before it is certain.
      if (x <= start || y <= start) return;
      if (x < end) end = x;
      if (y < end) end = y;
    }
    if (start == 0) end = min(end, MAX_LITERAL);
    if (end <= start) return;
    const lit = new Uint8Array(end - start);
    for (let i = start; i < end; i++) unchecked(lit[i - start] = <u8>unchecked(code[i * 3 + 1]));
    this.literal = lit;
    this.literalAtStart = start == 1;
  }

  /** Whether `text` can hold a match at all, by its leading literal. */
  private mayMatch(text: Uint8Array): bool {
    const lit = this.literal;
    const m = lit.length;
    if (m == 0) return true;
    const len = text.length;
    if (len < m) return false;
    const t = text.dataStart;
    const l = lit.dataStart;
    if (this.literalAtStart) return memory.compare(t, l, m) == 0;
    const first = load<u8>(l);
    for (let i = 0; i <= len - m; i++) {
      if (load<u8>(t + i) == first && memory.compare(t + i, l, m) == 0) return true;
    }
    return false;
  }

  private compile(pattern: string): string {
    const src = Uint8Array.wrap(String.UTF8.encode(pattern));
    const p = new Parser(src);
    const tree = p.alt(0);
    if (tree === null) return p.error;
    if (p.pos != src.length) return "unexpected )";
    this.classes = p.classes;
    if (!this.emit(tree)) return "pattern too large";
    this.prog.push(new Inst(MATCH));
    return "";
  }

  private emit(n: Node): bool {
    if (this.prog.length > MAX_PROGRAM) return false;
    switch (n.kind) {
      case N_CHAR: this.prog.push(new Inst(CHAR, n.value)); return true;
      case N_ANY: this.prog.push(new Inst(ANY)); return true;
      case N_CLASS: this.prog.push(new Inst(CLASS, n.value)); return true;
      case N_BOL: this.prog.push(new Inst(BOL)); return true;
      case N_EOL: this.prog.push(new Inst(EOL)); return true;
      case N_EMPTY: return true;
      case N_CAT: {
        for (let i = 0; i < n.kids.length; i++) if (!this.emit(n.kids[i])) return false;
        return true;
      }
      case N_ALT: {
        const jumps = new Array<Inst>();
        for (let i = 0; i < n.kids.length; i++) {
          if (i < n.kids.length - 1) {
            const split = new Inst(SPLIT, this.prog.length + 1, 0);
            this.prog.push(split);
            if (!this.emit(n.kids[i])) return false;
            const j = new Inst(JMP);
            this.prog.push(j);
            jumps.push(j);
            split.y = this.prog.length;
          } else if (!this.emit(n.kids[i])) return false;
        }
        for (let i = 0; i < jumps.length; i++) jumps[i].x = this.prog.length;
        return true;
      }
      case N_REPEAT: {
        const kid = n.kids[0];
        for (let i = 0; i < n.min; i++) if (!this.emit(kid)) return false;
        if (n.max < 0) {
          // kid*: L: split body, end; body; jmp L
          const split = new Inst(SPLIT, this.prog.length + 1, 0);
          const at = this.prog.length;
          this.prog.push(split);
          if (!this.emit(kid)) return false;
          this.prog.push(new Inst(JMP, at));
          split.y = this.prog.length;
          return true;
        }
        const splits = new Array<Inst>();
        for (let i = n.min; i < n.max; i++) {
          const split = new Inst(SPLIT, this.prog.length + 1, 0);
          this.prog.push(split);
          splits.push(split);
          if (!this.emit(kid)) return false;
        }
        for (let i = 0; i < splits.length; i++) splits[i].y = this.prog.length;
        return true;
      }
    }
    return false;
  }

  /** Whether the pattern matches anywhere in `text` (as JavaScript's RegExp.test does). */
  test(text: Uint8Array): bool {
    const n = this.code.length / 3;
    if (n == 0 || !this.mayMatch(text)) return false;
    const code = this.code;
    let clist = this.clist;
    let nlist = this.nlist;
    const mark = this.mark;
    const stack = this.stack;
    // Generations restart with each call: the marks the last call left are cleared first.
    for (let i = 0; i < n; i++) unchecked(mark[i] = 0);
    const len = text.length;
    let generation = 1;
    let ccount = this.add(clist, 0, 0, 0, len, mark, generation, stack);
    for (let pos = 0; ; pos++) {
      for (let i = 0; i < ccount; i++) if (unchecked(code[unchecked(clist[i]) * 3]) == MATCH) return true;
      if (pos >= len || (ccount == 0 && this.anchored)) return false;
      generation++;
      const c = <i32>load<u8>(text.dataStart + pos);
      let ncount = 0;
      for (let i = 0; i < ccount; i++) {
        const pc = unchecked(clist[i]);
        const op = unchecked(code[pc * 3]);
        const x = unchecked(code[pc * 3 + 1]);
        let ok = false;
        if (op == CHAR) ok = x == c;
        else if (op == ANY) ok = c != 0x0a;
        else if (op == CLASS) ok = unchecked(unchecked(this.classes[x])[c]) != 0;
        if (ok) ncount = this.add(nlist, ncount, pc + 1, pos + 1, len, mark, generation, stack);
      }
      // Unanchored search: a new attempt starts at every position.
      ncount = this.add(nlist, ncount, 0, pos + 1, len, mark, generation, stack);
      const t = clist;
      clist = nlist;
      nlist = t;
      ccount = ncount;
    }
    return false;
  }

  /** Adds the thread at `pc`, following jumps, splits and anchors, without recursion. */
  private add(list: StaticArray<i32>, count: i32, pc0: i32, pos: i32, len: i32, mark: StaticArray<i32>, generation: i32, stack: StaticArray<i32>): i32 {
    const code = this.code;
    let sp = 0;
    unchecked(stack[sp++] = pc0);
    while (sp > 0) {
      const pc = unchecked(stack[--sp]);
      if (unchecked(mark[pc]) == generation) continue;
      unchecked(mark[pc] = generation);
      const op = unchecked(code[pc * 3]);
      if (op == JMP) { unchecked(stack[sp++] = unchecked(code[pc * 3 + 1])); continue; }
      if (op == SPLIT) {
        unchecked(stack[sp++] = unchecked(code[pc * 3 + 2]));
        unchecked(stack[sp++] = unchecked(code[pc * 3 + 1]));
        continue;
      }
      if (op == BOL) { if (pos == 0) unchecked(stack[sp++] = pc + 1); continue; }
      if (op == EOL) { if (pos == len) unchecked(stack[sp++] = pc + 1); continue; }
      unchecked(list[count++] = pc);
    }
    return count;
  }
}
