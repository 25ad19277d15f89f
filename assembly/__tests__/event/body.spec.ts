import { ByteWriter, decodeUtf8 } from "../../codec/bytes";
import { BodyOptions, writeBody, isFormType } from "../../event/body";
import { BodyCapture } from "../../event/model";
import { isFormBody } from "../../codec/urlencoded";
import { MaskSet } from "../../codec/jsonscan";
import { decodeHeaderMap, encodeHeaderMap } from "../../runtime/headers";
import { b, s, bytesOf } from "../helpers";

function options(masks: Array<string>): BodyOptions {
  const o = new BodyOptions();
  o.masks = MaskSet.of(masks);
  o.masksName = "request_body_masks";
  o.limitName = "request_max_body_size_limit";
  return o;
}

/** What writeBody appends, then " | " and its note (or "-"). */
function body(contentType: string, data: Uint8Array, masks: Array<string>): string {
  const keys = new Array<Uint8Array>();
  const values = new Array<Uint8Array>();
  if (contentType.length > 0) {
    keys.push(b("content-type"));
    values.push(b(contentType));
  }
  const cap = new BodyCapture(100000);
  cap.add(data);
  const w = new ByteWriter();
  const note = writeBody(w, cap, decodeHeaderMap(encodeHeaderMap(keys, values))!, options(masks));
  return s(w.toBytes()) + " | " + (note !== null ? note : "-");
}

describe("writeBody with masks: masked with certainty, or left out", () => {
  it("masks JSON, whatever the type says, and drops a byte order mark", () => {
    expect(body("application/json", b("{\"password\":\"x\"}"), ["password"])).toBe(",\"body\":{\"password\":\"*****\"},\"transfer_encoding\":\"json\" | -");
    expect(body("text/plain", b("{\"password\":\"x\"}"), ["password"])).toBe(",\"body\":{\"password\":\"*****\"},\"transfer_encoding\":\"json\" | -");
    expect(body("", bytesOf([0xef, 0xbb, 0xbf, 0x5b, 0x5d]), ["password"])).toBe(",\"body\":[],\"transfer_encoding\":\"json\" | -");
  });
  it("leaves out what it cannot read whole, saying why", () => {
    expect(body("application/json", b("{\"password\":\"x\"} {}"), ["password"]))
      .toBe(" | not captured: request_body_masks is set and the body is not valid JSON, so it cannot be masked with certainty");
    expect(body("text/plain", b("password: x"), ["password"]))
      .toBe(" | not captured: request_body_masks is set and a \"text/plain\" is neither JSON nor a form, so it cannot be masked with certainty");
    expect(body("", b("password: x"), ["password"]))
      .toBe(" | not captured: request_body_masks is set and a body without a content type is neither JSON nor a form, so it cannot be masked with certainty");
  });
  it("masks forms field by field and sends them as text", () => {
    expect(body("application/x-www-form-urlencoded", b("a=1&password=x&pass%77ord=y&b"), ["password"]))
      .toBe(",\"body\":\"a=1&password=*****&pass%77ord=*****&b\",\"transfer_encoding\":\"json\" | -");
  });
});

describe("writeBody without masks: as before", () => {
  it("sends what is not JSON as base64, and forms as text", () => {
    expect(body("text/plain", b("hi"), [])).toBe(",\"body\":\"aGk=\",\"transfer_encoding\":\"base64\" | -");
    expect(body("application/json", b("{"), [])).toBe(",\"body\":\"ew==\",\"transfer_encoding\":\"base64\" | -");
    expect(body("application/x-www-form-urlencoded", b("a=1"), [])).toBe(",\"body\":\"a=1\",\"transfer_encoding\":\"json\" | -");
  });
});

describe("forms", () => {
  it("knows the form type with parameters, any case", () => {
    expect(isFormType(b("application/x-www-form-urlencoded"))).toBe(true);
    expect(isFormType(b(" Application/X-WWW-Form-Urlencoded ; charset=UTF-8"))).toBe(true);
    expect(isFormType(b("application/x-www-form-urlencodedX"))).toBe(false);
    expect(isFormType(b("multipart/form-data"))).toBe(false);
  });
  it("takes only bodies a serializer writes as forms", () => {
    expect(isFormBody(b("a=1&b=%20x+y&c=&d"))).toBe(true);
    expect(isFormBody(b("{\"password\":\"x\"}"))).toBe(false);
    expect(isFormBody(b("a=%2"))).toBe(false);
    expect(isFormBody(b("a=%zz"))).toBe(false);
    expect(isFormBody(b("a=b c"))).toBe(false);
    expect(isFormBody(bytesOf([0x61, 0x3d, 0xc3, 0xa9]))).toBe(false);
  });
});

describe("decodeUtf8", () => {
  it("replaces each invalid sequence with U+FFFD", () => {
    const v = bytesOf([0x61, 0x64, 0x6d, 0x69, 0x6e, 0xc3]);
    expect(decodeUtf8(v.dataStart, v.length)).toBe("admin\uFFFD");
    const w = bytesOf([0xe2, 0x82, 0xac, 0xff, 0x41]);
    expect(decodeUtf8(w.dataStart, w.length)).toBe("€\uFFFDA");
    const plain = b("plain");
    expect(decodeUtf8(plain.dataStart, plain.length)).toBe("plain");
  });
});
