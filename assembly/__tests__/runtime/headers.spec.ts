import { decodeHeaderMap, encodeHeaderMap, HeaderMap } from "../../runtime/headers";
import { b, s, bytesOf } from "../helpers";

describe("header map codec", () => {
  it("round-trips pairs, keeping bytes that are not UTF-8", () => {
    const enc = encodeHeaderMap([b(":path"), b("Content-Type"), b("x-bin")], [b("/a?b=1"), b("application/json"), bytesOf([0xff, 0x00, 0x41])]);
    const map = decodeHeaderMap(enc);
    expect(map).not.toBeNull();
    const m = map!;
    expect(m.count).toBe(3);
    expect(s(m.key(0))).toBe(":path");
    expect(s(m.value(0))).toBe("/a?b=1");
    expect(m.find(b("content-type"))).toBe(1);
    const v = m.value(2);
    expect(v.length).toBe(3);
    expect(v[0]).toBe(0xff);
    expect(v[1]).toBe(0x00);
  });

  it("uses the layout of the ABI: count, sizes, then key\\0value\\0", () => {
    const enc = encodeHeaderMap([b("a")], [b("bc")]);
    expect(enc.length).toBe(4 + 8 + 2 + 3);
    expect(load<u32>(enc.dataStart)).toBe(1);
    expect(load<u32>(enc.dataStart + 4)).toBe(1);
    expect(load<u32>(enc.dataStart + 8)).toBe(2);
    expect(enc[12]).toBe(0x61);
    expect(enc[13]).toBe(0);
    expect(enc[16]).toBe(0);
  });

  it("finds names ignoring ASCII case", () => {
    const m = decodeHeaderMap(encodeHeaderMap([b("X-Consumer-ID"), b("x-consumer-id")], [b("1"), b("2")]))!;
    expect(m.find(b("x-consumer-id"))).toBe(0);
    expect(m.find(b("x-consumer-id"), 1)).toBe(1);
    expect(m.find(b("x-consumer"))).toBe(-1);
  });

  it("decodes an empty block as an empty map", () => {
    const m = decodeHeaderMap(new Uint8Array(0))!;
    expect(m.count).toBe(0);
  });

  it("refuses malformed blocks instead of reading past them", () => {
    expect(decodeHeaderMap(bytesOf([1, 0]))).toBeNull();
    // count claims 1000 pairs in a 12-byte block
    expect(decodeHeaderMap(bytesOf([0xe8, 3, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]))).toBeNull();
    const good = encodeHeaderMap([b("k")], [b("v")]);
    // value length pointing past the end
    const long = good.slice(0);
    store<u32>(long.dataStart + 8, 0x7fffffff);
    expect(decodeHeaderMap(long)).toBeNull();
    // missing NUL terminator
    const noNul = good.slice(0);
    noNul[13] = 0x41;
    expect(decodeHeaderMap(noNul)).toBeNull();
    // truncated
    expect(decodeHeaderMap(good.slice(0, good.length - 1))).toBeNull();
  });

  it("gives an empty map with no pairs", () => {
    expect(HeaderMap.empty().find(b("x"))).toBe(-1);
  });
});
