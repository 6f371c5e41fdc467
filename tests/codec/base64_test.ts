import assert from "node:assert/strict";
import { strictBase64Bytes } from "../../src/codec/base64.ts";

Deno.test("strictBase64Bytes: the decoded length of padded base64, without decoding", () => {
  for (let n = 0; n <= 400; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 97 + n) & 255);
    assert.equal(strictBase64Bytes(bytes.toBase64()), n, `${n} bytes`);
  }
  assert.equal(strictBase64Bytes(""), 0);
  assert.equal(strictBase64Bytes("QQ=="), 1);
  assert.equal(strictBase64Bytes("QUI="), 2);
  assert.equal(strictBase64Bytes("+/+/"), 3);
});

Deno.test("strictBase64Bytes: anything looser or not base64 is -1", () => {
  for (
    const s of [
      "QQ", // unpadded
      "QUI", // unpadded
      "Q===", // three pads
      "====",
      "=QQQ", // pad first
      "Q=QQ", // pad inside
      "QQ==QQ==", // pad inside
      "QU I=", // whitespace
      "QUI=\n",
      "-_-_", // URL-safe alphabet
      'QQ"}', // JSON breakers
      "QQ\\\\",
      "QQé=",
      "QQ\u0100=",
      "QUJD\u0000",
    ]
  ) assert.equal(strictBase64Bytes(s), -1, JSON.stringify(s));
});

Deno.test("strictBase64Bytes: whatever it accepts decodes to that many bytes (random strings)", () => {
  const alphabet = 'AQgw+/=_- \n"\\Zz09';
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let accepted = 0;
  for (let k = 0; k < 20_000; k++) {
    const len = Math.floor(rand() * 13);
    let s = "";
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
    const n = strictBase64Bytes(s);
    if (n < 0) continue;
    accepted++;
    assert.equal(Uint8Array.fromBase64(s).length, n, JSON.stringify(s));
    assert.match(s, /^[A-Za-z0-9+/]*={0,2}$/);
  }
  assert.ok(accepted > 100, `only ${accepted} accepted`);
});
