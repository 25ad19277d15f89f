import { ByteWriter } from "../../codec/bytes";
import { writeBase64, decodeBase64 } from "../../codec/base64";
import { b, s, bytesOf } from "../helpers";

function enc(x: Uint8Array): string {
  const w = new ByteWriter();
  writeBase64(w, x);
  return s(w.toBytes());
}

describe("base64", () => {
  it("encodes the RFC 4648 test vectors", () => {
    expect(enc(b(""))).toBe("");
    expect(enc(b("f"))).toBe("Zg==");
    expect(enc(b("fo"))).toBe("Zm8=");
    expect(enc(b("foo"))).toBe("Zm9v");
    expect(enc(b("foob"))).toBe("Zm9vYg==");
    expect(enc(b("fooba"))).toBe("Zm9vYmE=");
    expect(enc(b("foobar"))).toBe("Zm9vYmFy");
    expect(enc(bytesOf([0xfb, 0xff, 0xbf]))).toBe("+/+/");
  });

  it("decodes standard and URL-safe alphabets, padded or not", () => {
    expect(s(decodeBase64(b("Zm9vYmE="))!)).toBe("fooba");
    expect(s(decodeBase64(b("Zm9vYmE"))!)).toBe("fooba");
    const std = decodeBase64(b("+/+/"))!;
    const url = decodeBase64(b("-_-_"))!;
    expect(std.length).toBe(3);
    for (let i = 0; i < 3; i++) expect(url[i]).toBe(std[i]);
    expect(decodeBase64(b(""))!.length).toBe(0);
  });

  it("round-trips every length and byte", () => {
    for (let n = 0; n < 70; n++) {
      const x = new Uint8Array(n);
      for (let i = 0; i < n; i++) x[i] = <u8>(i * 37 + n);
      const back = decodeBase64(b(enc(x)))!;
      expect(back.length).toBe(n);
      for (let i = 0; i < n; i++) expect(back[i]).toBe(x[i]);
    }
  });

  it("refuses what is not base64", () => {
    const bad = ["Zm9v!", "Z", "Zm9vY", "Zg===", "Z=g=", "Zm9v\n", "=Zg", "Zm 9v"];
    for (let i = 0; i < bad.length; i++) expect(decodeBase64(b(bad[i]))).toBeNull(bad[i]);
  });
});
