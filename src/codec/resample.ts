/**
 * Streaming polyphase resamplers between 8 kHz (Twilio) and 24 kHz (OpenAI PCM16).
 *
 * Both directions share one linear-phase low-pass FIR running at 24 kHz: 109 taps,
 * Kaiser-windowed sinc, cutoff 3.9 kHz, beta 7 (passband 0-3.4 kHz flat within +-0.003 dB,
 * stopband from 4.4 kHz at least 71 dB down). The group delay is (109 - 1) / 2 = 54 samples
 * at 24 kHz = 18 samples at 8 kHz = **2.25 ms in each direction** (4.5 ms for a round trip),
 * a whole number of samples on both grids so a round trip can be aligned exactly.
 *
 * Each object keeps its filter history (and, downsampling, its decimation phase) across calls,
 * so any split of a signal into frames, of any sizes (odd, 1, 0), yields exactly the samples of
 * processing it in one piece. The hot path allocates nothing: histories are double-written ring
 * buffers (every window is contiguous) and outputs go to caller or preallocated buffers.
 *
 * @module
 */

import { designLowpass } from "./fir.ts";
import { Scratch } from "./scratch.ts";

/** Number of taps of the shared 24 kHz low-pass prototype. */
export const RESAMPLER_TAPS = 109;
/** -6 dB cutoff of the prototype, Hz. */
export const RESAMPLER_CUTOFF_HZ = 3900;
/** Kaiser beta of the prototype. */
export const RESAMPLER_KAISER_BETA = 7;
/** Group delay of each direction in milliseconds (constant: the filter is linear phase). */
export const RESAMPLER_DELAY_MS = ((RESAMPLER_TAPS - 1) / 2 / 24000) * 1000;

/** The prototype low-pass at 24 kHz, unity DC gain (exported for tests and docs). */
export const RESAMPLER_PROTOTYPE: Float64Array = designLowpass({
  taps: RESAMPLER_TAPS,
  cutoffHz: RESAMPLER_CUTOFF_HZ,
  sampleRateHz: 24000,
  beta: RESAMPLER_KAISER_BETA,
});

const FACTOR = 3;
const HALF = (RESAMPLER_TAPS - 1) / 2;
/** Taps per polyphase branch of the upsampler. */
const PHASE_TAPS = Math.ceil(RESAMPLER_TAPS / FACTOR);

// Upsampler branches, interleaved for locality: UP_COEFS[3j + p] = 3 * h[3(K-1-j) + p],
// so that output 3n+p = sum_j UP_COEFS[3j+p] * window[j], window oldest..newest.
const UP_COEFS = new Float64Array(PHASE_TAPS * FACTOR);
for (let j = 0; j < PHASE_TAPS; j++) {
  for (let p = 0; p < FACTOR; p++) {
    const k = FACTOR * (PHASE_TAPS - 1 - j) + p;
    UP_COEFS[FACTOR * j + p] = k < RESAMPLER_TAPS ? FACTOR * RESAMPLER_PROTOTYPE[k] : 0;
  }
}

/** Rounds to the nearest integer and saturates to the PCM16 range. */
function toInt16(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

/** Common surface of the two resamplers. */
export interface StreamResampler {
  /** Input sample rate in Hz. */
  readonly inputRate: number;
  /** Output sample rate in Hz. */
  readonly outputRate: number;
  /** Group delay in output samples. */
  readonly delaySamples: number;
  /** How many samples the next call with `inputLength` samples will produce. */
  outputLength(inputLength: number): number;
  /** Resamples into `output` (must hold `outputLength(input.length)`); returns the count. */
  processInto(input: Int16Array, output: Int16Array): number;
  /** Resamples into an internal buffer; the returned view is valid until the next call. */
  process(input: Int16Array): Int16Array;
  /** Forgets all history (start of a new, unrelated signal). */
  reset(): void;
}

/**
 * 8 kHz -> 24 kHz streaming upsampler (zero-stuffing + polyphase FIR, 37 taps per branch).
 *
 * @example
 * ```ts
 * const up = new Upsampler8kTo24k();
 * const frame24 = up.process(new Int16Array(160)); // 480 samples
 * ```
 */
export class Upsampler8kTo24k implements StreamResampler {
  /** @inheritdoc */
  readonly inputRate = 8000;
  /** @inheritdoc */
  readonly outputRate = 24000;
  /** @inheritdoc */
  readonly delaySamples = HALF;
  // Double-written ring: sample n stored at pos and pos + PHASE_TAPS.
  #hist = new Float64Array(2 * PHASE_TAPS);
  #pos = 0;
  #out = new Scratch();

  /** @inheritdoc */
  outputLength(inputLength: number): number {
    return inputLength * FACTOR;
  }

  /** @inheritdoc */
  processInto(input: Int16Array, output: Int16Array): number {
    const n = input.length;
    const need = n * FACTOR;
    if (output.length < need) throw new RangeError(`output too small: ${output.length} < ${need}`);
    const hist = this.#hist;
    const c = UP_COEFS;
    const taps = PHASE_TAPS;
    const pairEnd = taps & ~1;
    let pos = this.#pos;
    let o = 0;
    for (let i = 0; i < n; i++) {
      const x = input[i];
      hist[pos] = x;
      hist[pos + taps] = x;
      pos = pos + 1 === taps ? 0 : pos + 1;
      // Two independent accumulators per branch: the FP add latency chain, not the
      // multiplies, bounds the speed of a single-accumulator dot product.
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let j = 0;
      let k = 0;
      for (; j < pairEnd; j += 2, k += 6) {
        const v = hist[pos + j];
        const w = hist[pos + j + 1];
        a0 += c[k] * v;
        a1 += c[k + 1] * v;
        a2 += c[k + 2] * v;
        b0 += c[k + 3] * w;
        b1 += c[k + 4] * w;
        b2 += c[k + 5] * w;
      }
      for (; j < taps; j++, k += 3) {
        const v = hist[pos + j];
        a0 += c[k] * v;
        a1 += c[k + 1] * v;
        a2 += c[k + 2] * v;
      }
      output[o] = toInt16(a0 + b0);
      output[o + 1] = toInt16(a1 + b1);
      output[o + 2] = toInt16(a2 + b2);
      o += 3;
    }
    this.#pos = pos;
    return need;
  }

  /** @inheritdoc */
  process(input: Int16Array): Int16Array {
    const n = this.outputLength(input.length);
    const out = this.#out.int16(n);
    this.processInto(input, out);
    return out;
  }

  /** @inheritdoc */
  reset(): void {
    this.#hist.fill(0);
    this.#pos = 0;
  }
}

/**
 * 24 kHz -> 8 kHz streaming downsampler (anti-alias FIR evaluated only at kept samples,
 * symmetric taps folded). Keeps the decimation phase across calls, so inputs need not be
 * multiples of 3 samples.
 *
 * @example
 * ```ts
 * const down = new Downsampler24kTo8k();
 * const frame8 = down.process(new Int16Array(480)); // 160 samples
 * ```
 */
export class Downsampler24kTo8k implements StreamResampler {
  /** @inheritdoc */
  readonly inputRate = 24000;
  /** @inheritdoc */
  readonly outputRate = 8000;
  /** @inheritdoc */
  readonly delaySamples = HALF / FACTOR;
  #hist = new Float64Array(2 * RESAMPLER_TAPS);
  #pos = 0;
  // Input samples still to consume before the next kept (output) sample.
  #skip = 0;
  #out = new Scratch();

  /** @inheritdoc */
  outputLength(inputLength: number): number {
    const first = this.#skip;
    return inputLength > first ? Math.floor((inputLength - 1 - first) / FACTOR) + 1 : 0;
  }

  /** @inheritdoc */
  processInto(input: Int16Array, output: Int16Array): number {
    const n = input.length;
    const need = this.outputLength(n);
    if (output.length < need) throw new RangeError(`output too small: ${output.length} < ${need}`);
    const hist = this.#hist;
    const h = RESAMPLER_PROTOTYPE;
    const taps = RESAMPLER_TAPS;
    const last = taps - 1;
    const quadEnd = HALF & ~3;
    let pos = this.#pos;
    let skip = this.#skip;
    let o = 0;
    for (let i = 0; i < n; i++) {
      const x = input[i];
      hist[pos] = x;
      hist[pos + taps] = x;
      pos = pos + 1 === taps ? 0 : pos + 1;
      if (skip !== 0) {
        skip--;
        continue;
      }
      skip = FACTOR - 1;
      // Window hist[pos .. pos+taps-1] runs oldest..newest; h is symmetric, fold the pairs.
      // Four independent accumulators break the FP add latency chain.
      let a0 = h[HALF] * hist[pos + HALF];
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      const end = pos + last;
      let j = 0;
      for (; j < quadEnd; j += 4) {
        const p = pos + j;
        const q = end - j;
        a0 += h[j] * (hist[p] + hist[q]);
        a1 += h[j + 1] * (hist[p + 1] + hist[q - 1]);
        a2 += h[j + 2] * (hist[p + 2] + hist[q - 2]);
        a3 += h[j + 3] * (hist[p + 3] + hist[q - 3]);
      }
      for (; j < HALF; j++) a0 += h[j] * (hist[pos + j] + hist[end - j]);
      output[o++] = toInt16(a0 + a1 + (a2 + a3));
    }
    this.#pos = pos;
    this.#skip = skip;
    return o;
  }

  /** @inheritdoc */
  process(input: Int16Array): Int16Array {
    const n = this.outputLength(input.length);
    const out = this.#out.int16(n);
    this.processInto(input, out);
    return out;
  }

  /** @inheritdoc */
  reset(): void {
    this.#hist.fill(0);
    this.#pos = 0;
    this.#skip = 0;
  }
}
