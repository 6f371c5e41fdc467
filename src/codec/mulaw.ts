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
 * Buffers are converted 8 samples at a time by WebAssembly SIMD kernels (`kernels.wat`):
 * the encoder reads segment and mantissa off the float32 bits of the biased magnitude, the
 * decoder multiplies by 2^exponent per lane; both are exact (every input is checked against the
 * reference functions below in the tests). Inputs are copied into the kernel's memory and the
 * results copied out, 16384 samples at a time.
 *
 * @module
 */

import { instantiateCodecKernels } from "./wasm.ts";

/** The mu-law code for digital silence (positive zero). */
export const MULAW_SILENCE = 0xff;

/** mu-law at 8 kHz: one byte per sample, 8 bytes per millisecond. */
export const MULAW_BYTES_PER_MS = 8;

/** One Twilio media frame: 20 ms of mu-law at 8 kHz (observed, not documented). */
export const MULAW_FRAME_MS = 20;

/** Bytes in one 20 ms frame (160). */
export const MULAW_FRAME_BYTES = MULAW_FRAME_MS * MULAW_BYTES_PER_MS;

/**
 * Encodes one PCM16 sample with the G.191 `ulaw_compress` algorithm (scalar reference form,
 * checked against the SIMD kernel in the tests; prefer {@linkcode encodeMulaw} for buffers).
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

// One module-level kernel instance: int16 samples at 0, codes after them, one chunk each.
const CHUNK = 16384;
const PCM_AT = 0;
const CODES_AT = 2 * CHUNK;
const kernels = instantiateCodecKernels();
const kernelPcm = new Int16Array(kernels.memory.buffer, PCM_AT, CHUNK);
const kernelCodes = new Uint8Array(kernels.memory.buffer, CODES_AT, CHUNK);
// Views of the first n results, cached while n repeats (steady frames allocate nothing).
let codesView = kernelCodes.subarray(0, 0);
let pcmView = kernelPcm.subarray(0, 0);

/**
 * Encodes PCM16 samples to mu-law codes into `out` (allocation-free for repeated lengths).
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
  for (let at = 0; at < n; at += CHUNK) {
    const len = Math.min(CHUNK, n - at);
    kernelPcm.set(len === n ? pcm : pcm.subarray(at, at + len));
    kernels.mulawEncode(PCM_AT, (len + 7) >> 3, CODES_AT);
    if (codesView.length !== len) codesView = kernelCodes.subarray(0, len);
    out.set(codesView, at);
  }
  return n;
}

/**
 * Decodes mu-law codes to PCM16 samples into `out` (allocation-free for repeated lengths).
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
  for (let at = 0; at < n; at += CHUNK) {
    const len = Math.min(CHUNK, n - at);
    kernelCodes.set(len === n ? codes : codes.subarray(at, at + len));
    kernels.mulawDecode(CODES_AT, (len + 7) >> 3, PCM_AT);
    if (pcmView.length !== len) pcmView = kernelPcm.subarray(0, len);
    out.set(pcmView, at);
  }
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
