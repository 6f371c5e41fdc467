/**
 * Reading recordings back in tests: a two-channel WAV split into its channels, where a
 * known piece of audio sits in a longer one (normalized cross-correlation, coarse on
 * energy envelopes over the whole range, then sample-exact nearby), and where a channel's
 * sound starts and stops.
 *
 * @module
 */
import { decodeWav, wavToPcm16 } from "../../src/codec/wav.ts";

/** A stereo recording's channels. */
export interface Channels {
  sampleRate: number;
  left: Int16Array;
  right: Int16Array;
}

/** Splits a two-channel WAV file into its channels. */
export function readStereoWav(file: Uint8Array): Channels {
  const wav = decodeWav(file);
  if (wav.channels !== 2) throw new Error(`expected 2 channels, got ${wav.channels}`);
  const pcm = wavToPcm16(wav);
  const n = pcm.length / 2;
  const left = new Int16Array(n);
  const right = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    left[i] = pcm[2 * i];
    right[i] = pcm[2 * i + 1];
  }
  return { sampleRate: wav.sampleRate, left, right };
}

function envelope(x: Int16Array, step: number): Float64Array {
  const out = new Float64Array(Math.floor(x.length / step));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let k = 0; k < step; k++) sum += Math.abs(x[i * step + k]);
    out[i] = sum / step;
  }
  return out;
}

/** Normalized correlation of `needle` with `hay` at `lag`. */
function correlation(hay: ArrayLike<number>, needle: ArrayLike<number>, lag: number): number {
  let dot = 0;
  let a = 0;
  let b = 0;
  for (let i = 0; i < needle.length; i++) {
    const h = hay[lag + i] ?? 0;
    dot += h * needle[i];
    a += h * h;
    b += needle[i] * needle[i];
  }
  return a > 0 && b > 0 ? dot / Math.sqrt(a * b) : 0;
}

/**
 * Where `needle` best matches inside `hay` (sample offset) and how well (normalized
 * correlation, 1 = identical up to a gain).
 */
export function findOffset(hay: Int16Array, needle: Int16Array): { offset: number; score: number } {
  const step = 10;
  const envHay = envelope(hay, step);
  const envNeedle = envelope(needle, step);
  let bestLag = 0;
  let best = -Infinity;
  for (let lag = 0; lag + envNeedle.length <= envHay.length; lag++) {
    const c = correlation(envHay, envNeedle, lag);
    if (c > best) {
      best = c;
      bestLag = lag;
    }
  }
  let offset = bestLag * step;
  let score = -Infinity;
  const from = Math.max(0, offset - 4 * step);
  const to = Math.min(hay.length - needle.length, offset + 4 * step);
  for (let lag = from; lag <= to; lag++) {
    const c = correlation(hay, needle, lag);
    if (c > score) {
      score = c;
      offset = lag;
    }
  }
  return { offset, score };
}

/** Stretches of sound (|sample| > 0) separated by at least `gapSamples` of silence. */
export function soundSpans(x: Int16Array, gapSamples: number): { start: number; end: number }[] {
  const spans: { start: number; end: number }[] = [];
  let start = -1;
  let last = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i] === 0) continue;
    if (start < 0) start = i;
    else if (i - last > gapSamples) {
      spans.push({ start, end: last + 1 });
      start = i;
    }
    last = i;
  }
  if (start >= 0) spans.push({ start, end: last + 1 });
  return spans;
}
