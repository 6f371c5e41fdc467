/**
 * Files the service ships with (`assets/`), read relative to this module so they are
 * found both from the source tree and inside the compiled binary (`compile --include assets`).
 *
 * @module
 */
import { encodeMulaw } from "./codec/mulaw.ts";
import { decodeWav, wavToPcm16 } from "./codec/wav.ts";

/** URL of a file in `assets/`. */
export function assetUrl(name: string): URL {
  return new URL(`../assets/${name}`, import.meta.url);
}

/** Reads an 8 kHz mono WAV asset as mu-law bytes, ready to send to Twilio. */
export function loadMulawPrompt(name: string): Uint8Array {
  const wav = decodeWav(Deno.readFileSync(assetUrl(name)));
  if (wav.sampleRate !== 8000 || wav.channels !== 1) {
    throw new Error(`asset ${name} must be 8 kHz mono, is ${wav.sampleRate} Hz/${wav.channels}ch`);
  }
  return wav.encoding === "mulaw" ? wav.data : encodeMulaw(wavToPcm16(wav));
}

/** The prepared prompts played without the model: apologies and the hold phrase. */
export interface Apologies {
  /** "…let me put you through" (a transfer follows). */
  transfer: Uint8Array;
  /** "…please call again" (a hang-up follows). */
  hangUp: Uint8Array;
  /** "One moment, please." (the model connection dropped; it may come back). */
  hold: Uint8Array;
}

/** Loads the prepared prompts. */
export function loadApologies(): Apologies {
  return {
    transfer: loadMulawPrompt("apology_transfer.wav"),
    hangUp: loadMulawPrompt("apology_hangup.wav"),
    hold: loadMulawPrompt("hold.wav"),
  };
}
