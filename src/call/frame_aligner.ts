/**
 * Cuts a stream of mu-law bytes into whole 20 ms frames (160 bytes), carrying the
 * remainder to the next push, so every media message to Twilio is frame-aligned and
 * every mark lands on a frame boundary.
 *
 * @module
 */
import { MULAW_SILENCE } from "../codec/mulaw.ts";

/** One 20 ms frame of 8 kHz mu-law. */
export const FRAME_BYTES = 160;

/** Accumulates bytes and hands back the frame-aligned part. */
export class FrameAligner {
  #buf = new Uint8Array(FRAME_BYTES * 64);
  #len = 0;

  /** Bytes waiting for the rest of their frame. */
  get pending(): number {
    return this.#len;
  }

  /**
   * Adds `bytes`; returns the whole frames now available (possibly empty). The returned
   * view is only valid until the next call.
   */
  push(bytes: Uint8Array): Uint8Array {
    const total = this.#len + bytes.length;
    if (total > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(total, this.#buf.length * 2));
      bigger.set(this.#buf.subarray(0, this.#len));
      this.#buf = bigger;
    }
    this.#buf.set(bytes, this.#len);
    const aligned = total - (total % FRAME_BYTES);
    // Hand out a copy: the carry is moved to the front of the buffer right after.
    const out = this.#buf.slice(0, aligned);
    this.#buf.copyWithin(0, aligned, total);
    this.#len = total - aligned;
    return out;
  }

  /** Returns the remainder padded with silence to a whole frame (empty if none). */
  flush(): Uint8Array {
    if (this.#len === 0) return new Uint8Array(0);
    const out = new Uint8Array(FRAME_BYTES).fill(MULAW_SILENCE);
    out.set(this.#buf.subarray(0, this.#len));
    this.#len = 0;
    return out;
  }

  /** Drops the remainder (after a barge-in). */
  reset(): void {
    this.#len = 0;
  }
}
