/**
 * Audio the service plays itself: mu-law silence frames and short tones (hold / filler beep).
 *
 * @module
 */

import { encodeMulaw, MULAW_BYTES_PER_MS, MULAW_SILENCE } from "./mulaw.ts";

/**
 * `ms` milliseconds of mu-law digital silence at 8 kHz (codes 0xFF), a new array.
 *
 * @example
 * ```ts
 * mulawSilence(20).length; // 160
 * ```
 */
export function mulawSilence(ms = 20): Uint8Array {
  return new Uint8Array(Math.round(ms * MULAW_BYTES_PER_MS)).fill(MULAW_SILENCE);
}

/**
 * Base64 payload of `ms` milliseconds of mu-law silence, ready for a Twilio `media` message.
 *
 * @example
 * ```ts
 * mulawSilencePayload(20).length; // 216
 * ```
 */
export function mulawSilencePayload(ms = 20): string {
  return mulawSilence(ms).toBase64();
}

/** Parameters of {@linkcode synthTone}. */
export interface ToneSpec {
  /** Tone frequency in Hz (or several, summed at equal level, e.g. [440, 480] for ringback). */
  frequencyHz: number | readonly number[];
  /** Duration in milliseconds. */
  durationMs: number;
  /** Output sample rate in Hz (default 8000). */
  sampleRate?: number;
  /** Peak level in dBFS of the summed tone (default -12). */
  levelDbfs?: number;
  /** Raised-cosine fade in/out in milliseconds, avoiding clicks (default 10). */
  fadeMs?: number;
}

/**
 * Synthesizes a short PCM16 tone with click-free fades.
 *
 * @example
 * ```ts
 * const beep = synthTone({ frequencyHz: 1000, durationMs: 150 }); // 1200 samples at 8 kHz
 * ```
 */
export function synthTone(spec: ToneSpec): Int16Array {
  const sampleRate = spec.sampleRate ?? 8000;
  const freqs = typeof spec.frequencyHz === "number" ? [spec.frequencyHz] : spec.frequencyHz;
  if (freqs.length === 0 || freqs.some((f) => !(f > 0 && f < sampleRate / 2))) {
    throw new RangeError(`tone frequencies must lie in (0, ${sampleRate / 2}) Hz`);
  }
  const n = Math.round((spec.durationMs * sampleRate) / 1000);
  const peak = 32767 * 10 ** ((spec.levelDbfs ?? -12) / 20) / freqs.length;
  const fade = Math.min(Math.round(((spec.fadeMs ?? 10) * sampleRate) / 1000), n >> 1);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (const f of freqs) v += Math.sin((2 * Math.PI * f * i) / sampleRate);
    const edge = Math.min(i, n - 1 - i);
    const g = edge < fade ? 0.5 - 0.5 * Math.cos((Math.PI * edge) / fade) : 1;
    out[i] = Math.round(peak * v * g);
  }
  return out;
}

/**
 * A tone as 8 kHz mu-law codes (what Twilio plays), e.g. a hold beep.
 *
 * @example
 * ```ts
 * const beep = synthToneMulaw({ frequencyHz: 440, durationMs: 200 }); // 1600 codes
 * ```
 */
export function synthToneMulaw(spec: Omit<ToneSpec, "sampleRate">): Uint8Array {
  return encodeMulaw(synthTone({ ...spec, sampleRate: 8000 }));
}
