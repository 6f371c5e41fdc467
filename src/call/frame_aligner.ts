/**
 * Cuts a stream of mu-law bytes into whole 20 ms frames (160 bytes), carrying the
 * remainder to the next push, so every media message to Twilio is frame-aligned and
 * every mark lands on a frame boundary.
 *
 * @module
 */
import { MULAW_FRAME_BYTES, MULAW_SILENCE } from "../codec/mulaw.ts";

/** Accumulates bytes and hands back the frame-aligned part. */
export class FrameAligner {
  #buf = new Uint8Array(MULAW_FRAME_BYTES * 64);
  #len = 0;

  /** Bytes held (whole frames not yet taken, plus the carry). */
  get pending(): number {
    return this.#len;
  }

  /** Adds `bytes` to what is held. */
  append(bytes: Uint8Array): void {
    const total = this.#len + bytes.length;
    if (total > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(total, this.#buf.length * 2));
      bigger.set(this.#buf.subarray(0, this.#len));
      this.#buf = bigger;
    }
    this.#buf.set(bytes, this.#len);
    this.#len = total;
  }

  /** Takes the whole frames held (possibly none), keeping the remainder. */
  takeAligned(): Uint8Array {
    const aligned = this.#len - (this.#len % MULAW_FRAME_BYTES);
    // A copy: the carry is moved to the front of the buffer right after.
    const out = this.#buf.slice(0, aligned);
    this.#buf.copyWithin(0, aligned, this.#len);
    this.#len -= aligned;
    return out;
  }

  /** Takes everything held, the last frame padded with silence (empty if nothing). */
  flush(): Uint8Array {
    if (this.#len === 0) return new Uint8Array(0);
    const size = Math.ceil(this.#len / MULAW_FRAME_BYTES) * MULAW_FRAME_BYTES;
    const out = new Uint8Array(size).fill(MULAW_SILENCE, this.#len);
    out.set(this.#buf.subarray(0, this.#len));
    this.#len = 0;
    return out;
  }

  /** Drops the remainder (after a barge-in). */
  reset(): void {
    this.#len = 0;
  }
}
