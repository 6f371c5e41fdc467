/**
 * PCM16 little-endian byte views and base64, without copying where the platform allows.
 *
 * On little-endian hosts (every platform Deno ships for) an `Int16Array` and a `Uint8Array`
 * over the same memory *are* the PCM16LE wire format, so conversions are views. A big-endian
 * host, or a byte view at an odd offset, falls back to a copy with explicit byte order.
 *
 * @module
 */

/** True when typed arrays store multi-byte numbers little-endian (no byte swapping needed). */
export const IS_LITTLE_ENDIAN: boolean = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * The PCM16LE bytes of `samples`: a view of the same memory on little-endian hosts
 * (changes to one show in the other), a byte-swapped copy otherwise.
 *
 * @example
 * ```ts
 * pcm16ToBytes(Int16Array.of(1, -2)); // Uint8Array [1, 0, 254, 255]
 * ```
 */
export function pcm16ToBytes(samples: Int16Array): Uint8Array {
  if (IS_LITTLE_ENDIAN) {
    return new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
  }
  const out = new Uint8Array(samples.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < samples.length; i++) dv.setInt16(2 * i, samples[i], true);
  return out;
}

/**
 * Samples of PCM16LE `bytes`: a view when the bytes are 2-byte aligned on a little-endian
 * host, a copy otherwise. Throws on an odd byte count (half a sample).
 *
 * @example
 * ```ts
 * pcm16FromBytes(Uint8Array.of(1, 0, 254, 255)); // Int16Array [1, -2]
 * ```
 */
export function pcm16FromBytes(bytes: Uint8Array): Int16Array {
  if (bytes.byteLength % 2 !== 0) {
    throw new RangeError(`PCM16 needs an even number of bytes, got ${bytes.byteLength}`);
  }
  const n = bytes.byteLength / 2;
  if (IS_LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) {
    return new Int16Array(bytes.buffer, bytes.byteOffset, n);
  }
  const out = new Int16Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, true);
  return out;
}

/**
 * Decodes standard base64 (as in Twilio `media.payload` and OpenAI `audio` fields).
 *
 * @example
 * ```ts
 * base64ToBytes("AQI="); // Uint8Array [1, 2]
 * ```
 */
export function base64ToBytes(b64: string): Uint8Array {
  return Uint8Array.fromBase64(b64);
}

/**
 * Encodes bytes as standard padded base64.
 *
 * @example
 * ```ts
 * bytesToBase64(Uint8Array.of(1, 2)); // "AQI="
 * ```
 */
export function bytesToBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

/**
 * Decoded size in bytes of a base64 string (upper bound when whitespace is present);
 * use it to size the target of `Uint8Array.prototype.setFromBase64`.
 *
 * @example
 * ```ts
 * base64DecodedLength("AQI="); // 2
 * ```
 */
export function base64DecodedLength(b64: string): number {
  let n = b64.length;
  while (n > 0 && b64.charCodeAt(n - 1) === 0x3d) n--; // trailing "=" padding
  return Math.floor((n * 3) / 4);
}
