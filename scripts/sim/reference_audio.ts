/**
 * Audio helpers for the fakes and the end-to-end checks, written apart from the production
 * codec (`src/codec/`): reading a speech fixture, the fake model's 8 -> 24 kHz upsampler,
 * and comparing what a caller heard with what the model said.
 *
 * @module
 */
import { referenceDecode } from "./g711.ts";

/** A WAV file's format and the bytes of its data chunk. */
export interface WavData {
  /** 1 = PCM, 7 = mu-law. */
  tag: number;
  channels: number;
  rate: number;
  bits: number;
  data: Uint8Array;
}

/** Reads a WAV file's format and data (RIFF chunks, little-endian sizes, odd sizes padded). */
export function readWav(bytes: Uint8Array, name = "WAV"): WavData {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error(`${name}: not a WAV file`);
  let at = 12;
  let format: Omit<WavData, "data"> | undefined;
  while (at + 8 <= bytes.length) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    if (id === "fmt ") {
      format = {
        tag: view.getUint16(at + 8, true),
        channels: view.getUint16(at + 10, true),
        rate: view.getUint32(at + 12, true),
        bits: view.getUint16(at + 22, true),
      };
    } else if (id === "data") {
      if (!format) throw new Error(`${name}: data before fmt`);
      return { ...format, data: bytes.subarray(at + 8, at + 8 + size) };
    }
    at += 8 + size + (size & 1);
  }
  throw new Error(`${name}: no data chunk`);
}

/** Reads the samples of a 16-bit PCM mono 8 kHz WAV file (e.g. `tests/fixtures/NAME_8k_pcm16.wav`). */
export function readPcm8kWav(file: URL): Int16Array {
  const name = file.pathname.split("/").pop()!;
  const wav = readWav(Deno.readFileSync(file), name);
  if (wav.tag !== 1 || wav.bits !== 16 || wav.channels !== 1 || wav.rate !== 8000) {
    throw new Error(`${name}: expected 16-bit PCM mono 8 kHz, got ${JSON.stringify(wav)}`);
  }
  const view = new DataView(wav.data.buffer, wav.data.byteOffset, wav.data.byteLength);
  const out = new Int16Array(wav.data.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(2 * i, true);
  return out;
}

/** Where `part` first occurs in `whole` (byte for byte), or -1. */
export function indexOfBytes(whole: Uint8Array, part: Uint8Array): number {
  outer: for (let i = 0; i + part.length <= whole.length; i++) {
    for (let k = 0; k < part.length; k++) if (whole[i + k] !== part[k]) continue outer;
    return i;
  }
  return -1;
}

/**
 * 8 kHz -> 24 kHz by windowed-sinc interpolation (Hann window, 16 input samples each side,
 * cut-off at 4 kHz): a plain direct form, nothing like the service's polyphase resampler.
 */
export function upsample8kTo24k(pcm: Int16Array): Int16Array {
  const half = 16;
  const out = new Int16Array(pcm.length * 3);
  for (let n = 0; n < out.length; n++) {
    const t = n / 3; // position in input samples
    const center = Math.floor(t);
    let acc = 0;
    for (let k = center - half + 1; k <= center + half; k++) {
      if (k < 0 || k >= pcm.length) continue;
      const x = t - k;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const window = 0.5 + 0.5 * Math.cos((Math.PI * x) / half);
      acc += pcm[k] * sinc * window;
    }
    out[n] = Math.max(-32768, Math.min(32767, Math.round(acc)));
  }
  return out;
}

/** How close heard audio is to what was said. */
export interface AudioMatch {
  /** Samples the heard audio lags the reference by (best alignment). */
  lag: number;
  /** Normalised cross-correlation at that lag (1 = same shape). */
  correlation: number;
  /** Reference energy over the energy of the difference, dB, at that lag (gain fixed at 1). */
  snrDb: number;
  /** Samples compared. */
  samples: number;
}

/**
 * Compares heard mu-law (decoded with the reference table) with the 8 kHz PCM16 that was
 * said, over `reference.length` samples, at the lag in `[0, maxLag]` that correlates best.
 * The SNR is taken without fitting a gain or removing an offset, so a level error or a
 * DC bias shows up as noise, and a resampler's small delay is allowed for by the lag.
 */
export function compareHeard(
  heardMulaw: Uint8Array,
  reference: Int16Array,
  maxLag = 64,
): AudioMatch {
  const heard = referenceDecode(heardMulaw);
  let best: AudioMatch = { lag: 0, correlation: -Infinity, snrDb: -Infinity, samples: 0 };
  for (let lag = 0; lag <= maxLag; lag++) {
    const n = Math.min(reference.length, heard.length - lag);
    if (n <= 0) break;
    let xy = 0;
    let xx = 0;
    let yy = 0;
    let err = 0;
    for (let i = 0; i < n; i++) {
      const x = reference[i];
      const y = heard[i + lag];
      xy += x * y;
      xx += x * x;
      yy += y * y;
      err += (y - x) * (y - x);
    }
    const correlation = xy / Math.sqrt(xx * yy || 1);
    if (correlation > best.correlation) {
      best = { lag, correlation, snrDb: 10 * Math.log10(xx / (err || 1)), samples: n };
    }
  }
  return best;
}
