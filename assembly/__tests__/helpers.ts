// Shared by the specs: bytes <-> text.
export function b(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}
export function s(bytes: Uint8Array): string {
  return String.UTF8.decodeUnsafe(bytes.dataStart, bytes.length);
}
export function bytesOf(values: Array<i32>): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = <u8>values[i];
  return out;
}
