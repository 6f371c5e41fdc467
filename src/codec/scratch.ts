/**
 * Growable scratch buffers that hand back the same view while the requested length stays the
 * same, so steady-state audio frames allocate nothing.
 *
 * @module
 */

/**
 * A reusable buffer of bytes with a PCM16 view over the same memory.
 *
 * @example
 * ```ts
 * const s = new Scratch();
 * const a = s.int16(160);
 * s.int16(160) === a; // true: same view, no allocation
 * ```
 */
export class Scratch {
  #bytes = new Uint8Array(0);
  #bytesFrom1 = this.#bytes;
  #i16 = new Int16Array(0);
  #byteView = this.#bytes;
  #i16View = this.#i16;

  /** Makes sure at least `byteLength` bytes exist (grows by doubling, drops old contents). */
  reserve(byteLength: number): void {
    if (this.#bytes.length >= byteLength) return;
    const size = Math.max(byteLength, this.#bytes.length * 2, 256);
    // Keep an even size so the Int16 view covers the whole buffer.
    this.#bytes = new Uint8Array(size + (size % 2));
    this.#bytesFrom1 = this.#bytes.subarray(1);
    this.#i16 = new Int16Array(this.#bytes.buffer);
    this.#byteView = this.#bytes.subarray(0, 0);
    this.#i16View = this.#i16.subarray(0, 0);
  }

  /** The whole byte storage (at least the reserved size). */
  get bytesStorage(): Uint8Array {
    return this.#bytes;
  }

  /** The byte storage from offset 1 (to decode after a carried byte). */
  get bytesStorageFrom1(): Uint8Array {
    return this.#bytesFrom1;
  }

  /** The whole storage as PCM16 samples (native byte order). */
  get int16Storage(): Int16Array {
    return this.#i16;
  }

  /** The first `n` bytes, reserving them first; cached while `n` is unchanged. */
  bytes(n: number): Uint8Array {
    this.reserve(n);
    if (this.#byteView.length !== n || this.#byteView.buffer !== this.#bytes.buffer) {
      this.#byteView = this.#bytes.subarray(0, n);
    }
    return this.#byteView;
  }

  /** The first `n` samples, reserving them first; cached while `n` is unchanged. */
  int16(n: number): Int16Array {
    this.reserve(2 * n);
    if (this.#i16View.length !== n || this.#i16View.buffer !== this.#i16.buffer) {
      this.#i16View = this.#i16.subarray(0, n);
    }
    return this.#i16View;
  }
}
