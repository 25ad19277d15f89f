// Randomness: UUID v4 for transaction ids, uniform numbers for sampling and jitter. Kong links no `env.seed` (Math.random needs it), so randomness is a
// xorshift128+ generator seeded from the clock and mixed with every request's own values.
import { uninitialised, HEX_DIGITS } from "./bytes";

let s0: u64 = 0x9e3779b97f4a7c15;
let s1: u64 = 0xbf58476d1ce4e5b9;
let seeded = false;

function splitmix(x: u64): u64 {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

/** Stirs entropy into the generator (the time of each request, its context id). */
export function mixEntropy(v: u64): void {
  s0 ^= splitmix(v);
  s1 ^= splitmix(s0 ^ v);
  if (s0 == 0 && s1 == 0) s1 = 1;
  seeded = true;
}

function next(): u64 {
  let x = s0;
  const y = s1;
  s0 = y;
  x ^= x << 23;
  s1 = x ^ y ^ (x >> 17) ^ (y >> 26);
  return s1 + y;
}

const RAW = memory.data(16);

/** A random (version 4, variant 1) UUID in its 36-character text form. */
export function uuid4(): Uint8Array {
  if (!seeded) mixEntropy(0x5851f42d4c957f2d);
  // A transaction id is made for every call: the 16 random bytes in static memory, each text
  // byte written once.
  store<u64>(RAW, next());
  store<u64>(RAW + 8, next());
  store<u8>(RAW + 6, (load<u8>(RAW + 6) & 0x0f) | 0x40);
  store<u8>(RAW + 8, (load<u8>(RAW + 8) & 0x3f) | 0x80);
  const out = uninitialised(36);
  const p = out.dataStart;
  let o: usize = 0;
  for (let i: usize = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) store<u8>(p + o++, 0x2d);
    const b = load<u8>(RAW + i);
    store<u8>(p + o++, load<u8>(HEX_DIGITS + (b >> 4)));
    store<u8>(p + o++, load<u8>(HEX_DIGITS + (b & 15)));
  }
  return out;
}

/** A uniformly distributed number in [0, 1) (sampling, retry jitter). */
export function random01(): f64 {
  if (!seeded) mixEntropy(0x5851f42d4c957f2d);
  return <f64>(next() >> 11) / 9007199254740992.0;
}
