/**
 * How audio crosses between Twilio (8 kHz mu-law) and the model, per `AUDIO_FORMAT`:
 * `pcmu` passes mu-law through untouched; `pcm16` transcodes to and from 24 kHz PCM16
 * with the codec module. One instance per call: the resamplers keep filter state.
 *
 * @module
 */
import { MediaTranscoder } from "../codec/transcoder.ts";

/** The two directions of one call's audio. */
export interface AudioPath {
  /**
   * True when the model speaks mu-law 8 kHz too: caller frames go to the model, and whole
   * frames of model audio to the caller, as the base64 they arrived in (not decoded).
   */
  readonly passThrough: boolean;
  /** Caller frame (mu-law bytes) -> base64 for `input_audio_buffer.append`. */
  toModel(mulaw: Uint8Array): string;
  /** Model audio delta (base64 in the session format) -> mu-law bytes for Twilio. */
  toCaller(deltaBase64: string): Uint8Array;
  /** Forgets outbound filter state (after a barge-in the next audio is unrelated). */
  resetOutbound(): void;
}

/** `pcmu`: the model speaks G.711 mu-law too, so bytes pass through. */
export class PassThroughAudioPath implements AudioPath {
  /** @inheritdoc */
  readonly passThrough = true;
  /** @inheritdoc */
  toModel(mulaw: Uint8Array): string {
    return mulaw.toBase64();
  }
  /** @inheritdoc */
  toCaller(deltaBase64: string): Uint8Array {
    return Uint8Array.fromBase64(deltaBase64);
  }
  /** @inheritdoc */
  resetOutbound(): void {}
}

/** `pcm16`: transcode with the codec module (mu-law 8 kHz <-> PCM16 24 kHz). */
export class TranscodingAudioPath implements AudioPath {
  /** @inheritdoc */
  readonly passThrough = false;
  readonly #transcoder = new MediaTranscoder();
  /** @inheritdoc */
  toModel(mulaw: Uint8Array): string {
    return this.#transcoder.mulawToPcm24Bytes(mulaw).toBase64();
  }
  /** @inheritdoc */
  toCaller(deltaBase64: string): Uint8Array {
    return this.#transcoder.pcm24ToTwilioBytes(deltaBase64);
  }
  /** @inheritdoc */
  resetOutbound(): void {
    this.#transcoder.reset("toCaller");
  }
}

/** The audio path for an `AUDIO_FORMAT` value. */
export function audioPathFor(format: "pcmu" | "pcm16"): AudioPath {
  return format === "pcm16" ? new TranscodingAudioPath() : new PassThroughAudioPath();
}
