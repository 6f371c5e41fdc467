/**
 * A cheap check for audio that passes through as base64: the decoded length of a string
 * that is plain, padded base64, found by scanning its characters (no decoding, no
 * allocation). Audio relayed untouched needs only this: its length, and the certainty that
 * it is base64 (so it can be concatenated into JSON without escaping).
 *
 * @module
 */

/** 1 for the 64 characters of the RFC 4648 base64 alphabet, by char code (below 128). */
const ALPHABET = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
  ALPHABET[c.charCodeAt(0)] = 1;
}
const PAD = 61; // "="

/**
 * The number of bytes `s` decodes to when it is strict base64: the standard alphabet, a
 * length that is a multiple of 4, and at most two `=` only at the end; -1 otherwise (for
 * whitespace, missing padding, the URL-safe alphabet, any other character). Whatever it
 * accepts, `Uint8Array.fromBase64` decodes to that many bytes.
 *
 * ```ts
 * strictBase64Bytes("AAEC"); // 3
 * strictBase64Bytes("QQ=="); // 1
 * strictBase64Bytes("QQ");   // -1 (unpadded)
 * ```
 */
export function strictBase64Bytes(s: string): number {
  const n = s.length;
  if ((n & 3) !== 0) return -1;
  let end = n;
  if (n > 0 && s.charCodeAt(n - 1) === PAD) end = s.charCodeAt(n - 2) === PAD ? n - 2 : n - 1;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || ALPHABET[c] === 0) return -1;
  }
  return (n >> 2) * 3 - (n - end);
}
