/**
 * Audio codec module: G.711 mu-law, 8 <-> 24 kHz streaming resamplers, PCM16 byte views and
 * base64, WAV read/write, tones, and the per-call Twilio <-> OpenAI transcoder.
 * Pure functions and small stateful stream objects on typed arrays; no I/O.
 *
 * @module
 */

export * from "./mulaw.ts";
export * from "./resample.ts";
export * from "./pcm.ts";
export * from "./wav.ts";
export * from "./tones.ts";
export * from "./transcoder.ts";
export { designLowpass, firMagnitude, type LowpassSpec } from "./fir.ts";
