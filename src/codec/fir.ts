/**
 * Linear-phase low-pass FIR design (Kaiser-windowed sinc), used by the resamplers.
 *
 * @module
 */

/** Zeroth-order modified Bessel function of the first kind (power series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x / 2) * (x / 2);
  for (let k = 1; k < 64; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** Parameters for {@linkcode designLowpass}. */
export interface LowpassSpec {
  /** Number of taps; odd, so the filter has an integer group delay of (taps - 1) / 2. */
  taps: number;
  /** -6 dB cutoff in Hz (middle of the transition band). */
  cutoffHz: number;
  /** Sample rate the filter runs at, in Hz. */
  sampleRateHz: number;
  /** Kaiser window beta (about 0.1102 * (A - 8.7) for A dB of stopband attenuation). */
  beta: number;
}

/**
 * Designs a symmetric (linear-phase) low-pass FIR normalised to unity DC gain.
 *
 * @example
 * ```ts
 * const h = designLowpass({ taps: 121, cutoffHz: 3900, sampleRateHz: 24000, beta: 8 });
 * h.reduce((a, b) => a + b); // 1 (within rounding)
 * ```
 */
export function designLowpass(spec: LowpassSpec): Float64Array {
  const { taps, cutoffHz, sampleRateHz, beta } = spec;
  if (!Number.isInteger(taps) || taps < 1 || taps % 2 === 0) {
    throw new RangeError(`taps must be a positive odd integer, got ${taps}`);
  }
  const fc = cutoffHz / sampleRateHz; // cycles per sample
  const mid = (taps - 1) / 2;
  const h = new Float64Array(taps);
  const i0b = besselI0(beta);
  let sum = 0;
  for (let n = 0; n < taps; n++) {
    const t = n - mid;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = mid === 0 ? 0 : t / mid;
    const w = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0b;
    h[n] = sinc * w;
    sum += h[n];
  }
  for (let n = 0; n < taps; n++) h[n] /= sum;
  return h;
}

/**
 * Magnitude response |H(f)| of an FIR at `freqHz` (for tests and documentation).
 *
 * @example
 * ```ts
 * firMagnitude(Float64Array.of(0.5, 0.5), 0, 8000); // 1
 * ```
 */
export function firMagnitude(h: Float64Array, freqHz: number, sampleRateHz: number): number {
  const w = (2 * Math.PI * freqHz) / sampleRateHz;
  let re = 0;
  let im = 0;
  for (let n = 0; n < h.length; n++) {
    re += h[n] * Math.cos(w * n);
    im -= h[n] * Math.sin(w * n);
  }
  return Math.hypot(re, im);
}
