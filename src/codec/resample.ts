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
 * processing it in one piece.
 *
 * The filtering runs in small WebAssembly SIMD kernels (`kernels.wat`, f32x4: four
 * multiply-adds per instruction, 5-8x faster than the float64 TypeScript loops they replaced).
 * Each resampler owns one kernel instance and its 64 KiB memory, which holds the float32
 * coefficients, the history followed by the current input (a linear window: the last taps are
 * moved to the front after each call), and the int16 output. Float32 keeps ~24 bits: outputs
 * are within 1 LSB of a float64 computation, rounded to nearest (ties to even) and saturated.
 * Inputs longer than 4096 samples are processed in 4096-sample pieces. The hot path allocates
 * nothing: the output view for a given length is cached.
 *
 * @module
 */

import { designLowpass } from "./fir.ts";
import { Scratch } from "./scratch.ts";
import { instantiateCodecKernels } from "./wasm.ts";

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
/** The prototype in vectors of 4 taps (zero padded), for the downsampler. */
const TAP_QUADS = Math.ceil(RESAMPLER_TAPS / 4);
/** Largest input handed to a kernel in one call (longer inputs go in pieces). */
const CHUNK = 4096;
/** Byte offset of the signal window in kernel memory (coefficients live below it). */
const WINDOW_AT = 1024;

function instantiateKernels() {
  if (16 * Math.max(PHASE_TAPS, TAP_QUADS) > WINDOW_AT) throw new Error("filter too long");
  return instantiateCodecKernels();
}

/** Rounds a byte offset up to a multiple of 16 (v128 alignment). */
const align16 = (n: number) => (n + 15) & ~15;

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
 * What both resamplers share: `process` on top of `processInto`, into a buffer reused
 * from call to call.
 */
abstract class ResamplerBase implements StreamResampler {
  abstract readonly inputRate: number;
  abstract readonly outputRate: number;
  abstract readonly delaySamples: number;
  abstract outputLength(inputLength: number): number;
  abstract processInto(input: Int16Array, output: Int16Array): number;
  abstract reset(): void;
  readonly #out = new Scratch();

  /** @inheritdoc */
  process(input: Int16Array): Int16Array {
    const out = this.#out.int16(this.outputLength(input.length));
    this.processInto(input, out);
    return out;
  }
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
export class Upsampler8kTo24k extends ResamplerBase {
  /** @inheritdoc */
  readonly inputRate = 8000;
  /** @inheritdoc */
  readonly outputRate = 24000;
  /** @inheritdoc */
  readonly delaySamples = HALF;
  readonly #k = instantiateKernels();
  // Window: PHASE_TAPS - 1 history samples, then the input; +3 for the last block's overrun.
  readonly #window = new Float32Array(this.#k.memory.buffer, WINDOW_AT, PHASE_TAPS + CHUNK + 3);
  readonly #outAt = align16(WINDOW_AT + 4 * this.#window.length);
  readonly #outAll = new Int16Array(this.#k.memory.buffer, this.#outAt, FACTOR * (CHUNK + 3));
  #outView = this.#outAll.subarray(0, 0);

  /** Interleaves the branches: coefs[4j + p] = 3 * h[3(K-1-j) + p] (window oldest first). */
  constructor() {
    super();
    const coefs = new Float32Array(this.#k.memory.buffer, 0, 4 * PHASE_TAPS);
    for (let j = 0; j < PHASE_TAPS; j++) {
      for (let p = 0; p < FACTOR; p++) {
        const k = FACTOR * (PHASE_TAPS - 1 - j) + p;
        coefs[4 * j + p] = k < RESAMPLER_TAPS ? FACTOR * RESAMPLER_PROTOTYPE[k] : 0;
      }
    }
  }

  /** @inheritdoc */
  outputLength(inputLength: number): number {
    return inputLength * FACTOR;
  }

  /** @inheritdoc */
  processInto(input: Int16Array, output: Int16Array): number {
    const n = input.length;
    const need = n * FACTOR;
    if (output.length < need) throw new RangeError(`output too small: ${output.length} < ${need}`);
    if (n <= CHUNK) {
      this.#run(input, output, 0);
    } else {
      for (let at = 0; at < n; at += CHUNK) {
        this.#run(input.subarray(at, Math.min(n, at + CHUNK)), output, FACTOR * at);
      }
    }
    return need;
  }

  #run(input: Int16Array, output: Int16Array, outputAt: number): void {
    const n = input.length;
    if (n === 0) return;
    const window = this.#window;
    window.set(input, PHASE_TAPS - 1);
    this.#k.up3(0, PHASE_TAPS, WINDOW_AT, (n + 3) >> 2, this.#outAt);
    if (this.#outView.length !== FACTOR * n) this.#outView = this.#outAll.subarray(0, FACTOR * n);
    output.set(this.#outView, outputAt);
    window.copyWithin(0, n, n + PHASE_TAPS - 1);
  }

  /** @inheritdoc */
  reset(): void {
    this.#window.fill(0, 0, PHASE_TAPS - 1);
  }
}

/**
 * 24 kHz -> 8 kHz streaming downsampler (anti-alias FIR evaluated only at kept samples).
 * Keeps the decimation phase across calls, so inputs need not be multiples of 3 samples.
 *
 * @example
 * ```ts
 * const down = new Downsampler24kTo8k();
 * const frame8 = down.process(new Int16Array(480)); // 160 samples
 * ```
 */
export class Downsampler24kTo8k extends ResamplerBase {
  /** @inheritdoc */
  readonly inputRate = 24000;
  /** @inheritdoc */
  readonly outputRate = 8000;
  /** @inheritdoc */
  readonly delaySamples = HALF / FACTOR;
  readonly #k = instantiateKernels();
  // Window: RESAMPLER_TAPS - 1 history samples, then the input, then the last block's overrun
  // (3 more outputs at stride 3, each reading TAP_QUADS vectors).
  readonly #window = new Float32Array(
    this.#k.memory.buffer,
    WINDOW_AT,
    RESAMPLER_TAPS + CHUNK + 4 * TAP_QUADS + 12,
  );
  readonly #outAt = align16(WINDOW_AT + 4 * this.#window.length);
  readonly #outAll = new Int16Array(this.#k.memory.buffer, this.#outAt, CHUNK / FACTOR + 8);
  #outView = this.#outAll.subarray(0, 0);
  // Input samples still to consume before the next kept (output) sample.
  #skip = 0;

  /** Loads the prototype (symmetric, so no reversal) zero padded to whole vectors. */
  constructor() {
    super();
    new Float32Array(this.#k.memory.buffer, 0, 4 * TAP_QUADS).set(RESAMPLER_PROTOTYPE);
  }

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
    if (n <= CHUNK) return this.#run(input, output, 0);
    let o = 0;
    for (let at = 0; at < n; at += CHUNK) {
      o += this.#run(input.subarray(at, Math.min(n, at + CHUNK)), output, o);
    }
    return o;
  }

  #run(input: Int16Array, output: Int16Array, outputAt: number): number {
    const n = input.length;
    const count = this.outputLength(n);
    const window = this.#window;
    window.set(input, RESAMPLER_TAPS - 1);
    if (count > 0) {
      // The window of the first kept input (index skip) starts skip samples into the buffer.
      this.#k.down3(0, TAP_QUADS, WINDOW_AT + 4 * this.#skip, (count + 3) >> 2, this.#outAt);
      if (this.#outView.length !== count) this.#outView = this.#outAll.subarray(0, count);
      output.set(this.#outView, outputAt);
    }
    this.#skip += FACTOR * count - n;
    window.copyWithin(0, n, n + RESAMPLER_TAPS - 1);
    return count;
  }

  /** @inheritdoc */
  reset(): void {
    this.#window.fill(0, 0, RESAMPLER_TAPS - 1);
    this.#skip = 0;
  }
}
