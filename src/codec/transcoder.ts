/**
 * The bridge's audio pipelines for `AUDIO_FORMAT=pcm16`: Twilio mu-law 8 kHz base64 payloads
 * <-> OpenAI Realtime PCM16 24 kHz base64 audio, one object per call (it holds filter state).
 *
 * Steady-state frames reuse preallocated buffers: base64 is decoded in place with
 * `Uint8Array.prototype.setFromBase64` (the in-place form of `Uint8Array.fromBase64`), every
 * intermediate view is cached, and the only per-frame allocations left are the result string of
 * `toBase64()` (unavoidable: strings are immutable) and the small `{ read, written }` record
 * that `setFromBase64` returns.
 *
 * @module
 */

import { decodeMulawInto, encodeMulawInto } from "./mulaw.ts";
import { base64DecodedLength, IS_LITTLE_ENDIAN, pcm16ToBytes } from "./pcm.ts";
import { Downsampler24kTo8k, RESAMPLER_DELAY_MS, Upsampler8kTo24k } from "./resample.ts";
import { Scratch } from "./scratch.ts";

/**
 * Per-call transcoder between Twilio media payloads and OpenAI PCM16 audio.
 * Methods throw `SyntaxError` on malformed base64; the caller decides how to drop the frame.
 *
 * @example
 * ```ts
 * declare const twilioMediaPayload: string; // base64 mu-law from a Twilio media message
 * declare const openAiAudioDelta: string; // base64 PCM16 24 kHz from response.output_audio.delta
 * const t = new MediaTranscoder();
 * const toOpenAi = t.twilioPayloadToPcm24(twilioMediaPayload); // 160 codes -> 960 bytes
 * const toTwilio = t.pcm24ToTwilioPayload(openAiAudioDelta); // 960 bytes -> 160 codes
 * ```
 */
export class MediaTranscoder {
  /** Group delay added by each direction, in milliseconds. */
  static readonly delayMs: number = RESAMPLER_DELAY_MS;

  readonly #up = new Upsampler8kTo24k();
  readonly #down = new Downsampler24kTo8k();
  // Caller -> model direction.
  readonly #inCodes = new Scratch();
  readonly #inPcm8 = new Scratch();
  readonly #inPcm24 = new Scratch();
  // Model -> caller direction.
  readonly #outPcm24 = new Scratch();
  readonly #outPcm8 = new Scratch();
  readonly #outCodes = new Scratch();
  #carry = -1; // a trailing odd byte of PCM16 waiting for its partner, or -1

  /**
   * Twilio `media.payload` (base64 mu-law, 8 kHz) -> base64 PCM16LE at 24 kHz.
   *
   * @example
   * ```ts
   * new MediaTranscoder().twilioPayloadToPcm24("////"); // 3 silent codes -> 18 zero bytes
   * ```
   */
  twilioPayloadToPcm24(payload: string): string {
    return this.twilioPayloadToPcm24Bytes(payload).toBase64();
  }

  /**
   * Like {@linkcode twilioPayloadToPcm24} but returns the PCM16LE bytes (a view into an
   * internal buffer, valid until the next call), e.g. for a recording.
   *
   * @example
   * ```ts
   * new MediaTranscoder().twilioPayloadToPcm24Bytes("////").length; // 18
   * ```
   */
  twilioPayloadToPcm24Bytes(payload: string): Uint8Array {
    const codes = this.#inCodes;
    codes.reserve(base64DecodedLength(payload));
    const n = codes.bytesStorage.setFromBase64(payload).written;
    return this.mulawToPcm24Bytes(codes.bytes(n));
  }

  /**
   * Mu-law codes already decoded from base64 (e.g. a frame `TwilioStream` handed over)
   * -> PCM16LE bytes at 24 kHz (a view valid until the next call), saving the base64
   * round trip.
   *
   * @example
   * ```ts
   * new MediaTranscoder().mulawToPcm24Bytes(new Uint8Array(160).fill(0xff)).length; // 960
   * ```
   */
  mulawToPcm24Bytes(codes: Uint8Array): Uint8Array {
    const n = codes.length;
    const pcm8 = this.#inPcm8.int16(n);
    decodeMulawInto(codes, pcm8);
    const pcm24 = this.#inPcm24.int16(3 * n);
    this.#up.processInto(pcm8, pcm24);
    return IS_LITTLE_ENDIAN ? this.#inPcm24.bytes(6 * n) : pcm16ToBytes(pcm24);
  }

  /**
   * OpenAI audio (base64 PCM16LE, 24 kHz) -> Twilio `media.payload` (base64 mu-law, 8 kHz).
   * Any chunk size works: a leftover odd byte and the decimation phase carry to the next call.
   *
   * @example
   * ```ts
   * new MediaTranscoder().pcm24ToTwilioPayload("AAAAAAAA"); // 3 zero samples -> "/w=="
   * ```
   */
  pcm24ToTwilioPayload(payload: string): string {
    return this.pcm24ToTwilioBytes(payload).toBase64();
  }

  /**
   * Like {@linkcode pcm24ToTwilioPayload} but returns the mu-law codes (a view into an
   * internal buffer, valid until the next call).
   *
   * @example
   * ```ts
   * new MediaTranscoder().pcm24ToTwilioBytes("AAAAAAAA"); // Uint8Array [0xff]
   * ```
   */
  pcm24ToTwilioBytes(payload: string): Uint8Array {
    const buf = this.#outPcm24;
    buf.reserve(base64DecodedLength(payload) + 2);
    let total: number;
    if (this.#carry < 0) {
      total = buf.bytesStorage.setFromBase64(payload).written;
    } else {
      buf.bytesStorage[0] = this.#carry;
      total = 1 + buf.bytesStorageFrom1.setFromBase64(payload).written;
    }
    const samples = total >> 1;
    this.#carry = total & 1 ? buf.bytesStorage[total - 1] : -1;
    let pcm24 = buf.int16(samples);
    if (!IS_LITTLE_ENDIAN) pcm24 = swapToNative(buf.bytes(2 * samples));
    const count = this.#down.outputLength(samples);
    const pcm8 = this.#outPcm8.int16(count);
    this.#down.processInto(pcm24, pcm8);
    const codes = this.#outCodes.bytes(count);
    encodeMulawInto(pcm8, codes);
    return codes;
  }

  /**
   * Clears filter state: "toCaller" (model -> Twilio, e.g. after a barge-in cleared the
   * model's audio), "toModel" (Twilio -> model), or both when omitted.
   *
   * @example
   * ```ts
   * const transcoder = new MediaTranscoder();
   * transcoder.reset("toCaller");
   * ```
   */
  reset(direction?: "toCaller" | "toModel"): void {
    if (direction !== "toCaller") this.#up.reset();
    if (direction !== "toModel") {
      this.#down.reset();
      this.#carry = -1;
    }
  }
}

/** PCM16LE bytes -> native samples on a big-endian host (copy). */
function swapToNative(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length >> 1);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getInt16(2 * i, true);
  return out;
}
