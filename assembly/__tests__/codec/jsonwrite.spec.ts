import { ByteWriter } from "../../codec/bytes";
import { writeJsonString } from "../../codec/jsonwrite";
import { b, s, bytesOf } from "../helpers";

function quoted(src: Uint8Array, lower: bool = false): string {
  const w = new ByteWriter(4);
  writeJsonString(w, src, 0, -1, lower);
  return s(w.toBytes());
}

describe("JSON string writer", () => {
  it("escapes quotes, backslashes and control characters", () => {
    expect(quoted(b("a\"b\\c"))).toBe("\"a\\\"b\\\\c\"");
    expect(quoted(bytesOf([0x0a, 0x0d, 0x09, 0x01, 0x1f]))).toBe("\"\\n\\r\\t\\u0001\\u001f\"");
  });

  it("keeps valid UTF-8 as it is", () => {
    expect(quoted(b("héllo ✓ 😀"))).toBe("\"héllo ✓ 😀\"");
  });

  it("replaces invalid UTF-8 with U+FFFD, one per maximal subpart", () => {
    expect(quoted(bytesOf([0x61, 0xff, 0x62]))).toBe("\"a\uFFFDb\"");
    // truncated 3-byte sequence (E2 9C) then ASCII
    expect(quoted(bytesOf([0xe2, 0x9c, 0x41]))).toBe("\"\uFFFDA\"");
    // overlong encoding of '/'
    expect(quoted(bytesOf([0xc0, 0xaf]))).toBe("\"\uFFFD\uFFFD\"");
    // UTF-16 surrogate encoded in UTF-8 is invalid
    expect(quoted(bytesOf([0xed, 0xa0, 0x80]))).toBe("\"\uFFFD\uFFFD\uFFFD\"");
    // sequence cut at the end of the input
    expect(quoted(bytesOf([0xf0, 0x9f, 0x98]))).toBe("\"\uFFFD\"");
  });

  it("folds ASCII upper case when asked (header names)", () => {
    expect(quoted(b("Content-Type"), true)).toBe("\"content-type\"");
  });

  it("writes a sub-range", () => {
    const w = new ByteWriter();
    writeJsonString(w, b("abcdef"), 2, 3);
    expect(s(w.toBytes())).toBe("\"cde\"");
  });
});

describe("ByteWriter", () => {
  it("grows past its first capacity", () => {
    const w = new ByteWriter(16);
    for (let i = 0; i < 1000; i++) w.ascii("x");
    expect(w.length).toBe(1000);
  });

  it("writes numbers", () => {
    const w = new ByteWriter();
    w.u64(0).byte(0x20).u64(18446744073709551615).byte(0x20).padded(7, 3);
    expect(s(w.toBytes())).toBe("0 18446744073709551615 007");
  });
});
