/**
 * G.711 mu-law (the Twilio Media Streams wire format: 8 kHz, 8-bit, mono).
 *
 * Encoder: bit-exact with `ulaw_compress` from the ITU-T G.191 Software Tools Library
 * (`g711.c`), taking 16-bit input. That algorithm drops the two low bits and forms the
 * magnitude of a negative sample as a ones' complement: `(~x) >> 2`, i.e. `(|x| - 1) >> 2`.
 * So -1..-4 encode as "negative zero" (0x7F), and a negative sample lands one 14-bit step
 * closer to zero than in encoders that negate first (sox's `sox_14linear2ulaw` uses
 * `-(x >> 2)`, i.e. `ceil(|x| / 4)`; alawmulaw/Sun `g711.c` uses `|x|`). Inside a segment the
 * biased magnitude is truncated (G.711 decision levels), never rounded. Positive samples
 * agree with sox exactly; negative ones differ by at most one code at decision boundaries
 * (asserted against the real sox binary in the tests).
 *
 * Decoder: `ulaw_expand` from the same library (the G.711 reconstruction levels, scaled to
 * 16 bits: code 0x00 -> -32124, 0x80 -> 32124, 0xFF and 0x7F -> 0).
 *
 * Both directions are table lookups built once at module load (16 KiB + 512 B).
 *
 * @module
 */

/** The mu-law code for digital silence (positive zero). */
export const MULAW_SILENCE = 0xff;

/**
 * Encodes one PCM16 sample with the G.191 `ulaw_compress` algorithm (reference form,
 * used to build the lookup table; prefer {@linkcode encodeMulaw} for buffers).
 *
 * @example
 * ```ts
 * ulawCompressSample(0); // 0xff
 * ulawCompressSample(-1); // 0x7f (negative zero)
 * ```
 */
export function ulawCompressSample(x: number): number {
  // Ones' complement magnitude for negatives, exactly as G.191: ((~x) >> 2) + 33.
  let absno = (x < 0 ? ~x >> 2 : x >> 2) + 33;
  if (absno > 0x1fff) absno = 0x1fff;
  let i = absno >> 6;
  let segno = 1;
  while (i !== 0) {
    segno++;
    i >>= 1;
  }
  const high = 0x08 - segno;
  const low = 0x0f - ((absno >> segno) & 0x0f);
  const code = (high << 4) | low;
  return x >= 0 ? code | 0x80 : code;
}

/**
 * Decodes one mu-law code with the G.191 `ulaw_expand` algorithm (reference form).
 *
 * @example
 * ```ts
 * ulawExpandSample(0x80); // 32124
 * ```
 */
export function ulawExpandSample(code: number): number {
  const sign = (code & 0xff) < 0x80 ? -1 : 1;
  const m = ~code;
  const exponent = (m >> 4) & 0x07;
  const mantissa = m & 0x0f;
  const step = 4 << (exponent + 1);
  return sign * ((0x80 << exponent) + step * mantissa + (step >> 1) - 4 * 33);
}

// Encoding depends only on x >> 2 (for negatives ~x >> 2 === ~(x >> 2)), so a 14-bit table
// indexed by the top 14 bits of the sample is exact for all 65,536 inputs.
const ENCODE_TABLE = new Uint8Array(1 << 14);
for (let i = 0; i < 1 << 14; i++) {
  const x14 = i >= 1 << 13 ? i - (1 << 14) : i;
  ENCODE_TABLE[i] = ulawCompressSample(x14 << 2);
}

const DECODE_TABLE = new Int16Array(256);
for (let c = 0; c < 256; c++) DECODE_TABLE[c] = ulawExpandSample(c);

/**
 * Encodes PCM16 samples to mu-law codes into `out` (allocation-free).
 * `out` must hold at least `pcm.length` bytes; returns the number of bytes written.
 *
 * @example
 * ```ts
 * const codes = new Uint8Array(160);
 * encodeMulawInto(new Int16Array(160), codes); // 160, codes all 0xff
 * ```
 */
export function encodeMulawInto(pcm: Int16Array, out: Uint8Array): number {
  const n = pcm.length;
  if (out.length < n) throw new RangeError(`mu-law output too small: ${out.length} < ${n}`);
  const t = ENCODE_TABLE;
  for (let i = 0; i < n; i++) out[i] = t[(pcm[i] >> 2) & 0x3fff];
  return n;
}

/**
 * Decodes mu-law codes to PCM16 samples into `out` (allocation-free).
 * `out` must hold at least `codes.length` samples; returns the number written.
 *
 * @example
 * ```ts
 * const pcm = new Int16Array(160);
 * decodeMulawInto(new Uint8Array(160).fill(0xff), pcm); // 160, pcm all 0
 * ```
 */
export function decodeMulawInto(codes: Uint8Array, out: Int16Array): number {
  const n = codes.length;
  if (out.length < n) throw new RangeError(`PCM16 output too small: ${out.length} < ${n}`);
  const t = DECODE_TABLE;
  for (let i = 0; i < n; i++) out[i] = t[codes[i]];
  return n;
}

/**
 * Encodes PCM16 samples to a new array of mu-law codes.
 *
 * @example
 * ```ts
 * encodeMulaw(Int16Array.of(0, -1, 32767)); // Uint8Array [0xff, 0x7f, 0x80]
 * ```
 */
export function encodeMulaw(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  encodeMulawInto(pcm, out);
  return out;
}

/**
 * Decodes mu-law codes to a new PCM16 array.
 *
 * @example
 * ```ts
 * decodeMulaw(Uint8Array.of(0xff, 0x80, 0x00)); // Int16Array [0, 32124, -32124]
 * ```
 */
export function decodeMulaw(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  decodeMulawInto(codes, out);
  return out;
}
