/**
 * The scalar reference functions of the mu-law codec agree with its SIMD kernels on every
 * input (the module's documentation promises this check), and the tests' own G.711 table
 * (scripts/sim/g711.ts, used by the fakes) agrees with the codec: decoding exactly,
 * encoding within one level (G.191 truncates negative magnitudes one step towards zero).
 */
import assert from "node:assert/strict";
import {
  decodeMulaw,
  encodeMulaw,
  ulawCompressSample,
  ulawExpandSample,
} from "../../src/codec/mulaw.ts";
import { MULAW_TO_PCM16, referenceEncodeSample } from "../../scripts/sim/g711.ts";

const ALL_PCM = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
const ALL_CODES = Uint8Array.from({ length: 256 }, (_, i) => i);

Deno.test("mu-law: the scalar reference encoder equals the SIMD kernel on all 65,536 inputs", () => {
  const kernel = encodeMulaw(ALL_PCM);
  for (let i = 0; i < ALL_PCM.length; i++) {
    if (ulawCompressSample(ALL_PCM[i]) !== kernel[i]) {
      assert.fail(
        `x=${ALL_PCM[i]}: reference ${ulawCompressSample(ALL_PCM[i])}, kernel ${kernel[i]}`,
      );
    }
  }
});

Deno.test("mu-law: the scalar reference decoder equals the SIMD kernel and the G.711 table", () => {
  const kernel = decodeMulaw(ALL_CODES);
  for (const code of ALL_CODES) {
    // + 0: the reference returns -0 for 0x7F ("negative zero"); a sample cannot be -0.
    assert.equal(ulawExpandSample(code) + 0, kernel[code], `code ${code}`);
    assert.equal(kernel[code], MULAW_TO_PCM16[code], `code ${code}`);
  }
});

Deno.test("mu-law: the tests' reference encoder is within one level of the codec everywhere", () => {
  const kernel = encodeMulaw(ALL_PCM);
  // Position on the level ladder: 0x00 (loudest negative) is 0, 0x7F (-0) 127, 0xFF (+0)
  // 128, 0x80 (loudest positive) 255.
  const rank = (c: number) => (c & 0x80 ? 128 + (0xff - c) : c);
  let differ = 0;
  for (let i = 0; i < ALL_PCM.length; i++) {
    const ours = referenceEncodeSample(ALL_PCM[i]);
    if (ours === kernel[i]) continue;
    differ++;
    // Same decoded value (+0 / -0), or the neighbouring level.
    const same = MULAW_TO_PCM16[ours] === MULAW_TO_PCM16[kernel[i]];
    assert.ok(same || Math.abs(rank(ours) - rank(kernel[i])) === 1, `x=${ALL_PCM[i]}`);
  }
  assert.ok(differ < 1000, `${differ} inputs differ`);
});
