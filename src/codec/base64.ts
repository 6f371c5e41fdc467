/**
 * A cheap check for audio that passes through as base64: the decoded length of a string
 * that is plain, padded base64, found by scanning its characters (no decoding, no
 * allocation). Audio relayed untouched needs only this: its length, and the certainty that
 * it is base64 (so it can be concatenated into JSON without escaping).
 *
 * @module
 */

/**
 * 0 for the 64 characters of the RFC 4648 base64 alphabet, 1 for every other UTF-16 code
 * unit: one load per character and no branch (64 KiB).
 */
const NOT_BASE64 = new Uint8Array(65536).fill(1);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
  NOT_BASE64[c.charCodeAt(0)] = 0;
}
const PAD = 61; // "="

/**
 * The number of bytes `s` decodes to when it is strict base64: the standard alphabet, a
 * length that is a multiple of 4, and at most two `=` only at the end; -1 otherwise (for
 * whitespace, missing padding, the URL-safe alphabet, any other character). Whatever it
 * accepts, `Uint8Array.fromBase64` decodes to that many bytes. `start` and `end` check
 * part of `s` only (as if it were sliced).
 *
 * ```ts
 * strictBase64Bytes("AAEC"); // 3
 * strictBase64Bytes("QQ=="); // 1
 * strictBase64Bytes("QQ");   // -1 (unpadded)
 * ```
 */
export function strictBase64Bytes(s: string, start = 0, end = s.length): number {
  const n = end - start;
  if ((n & 3) !== 0) return -1;
  let stop = end;
  if (n > 0 && s.charCodeAt(end - 1) === PAD) {
    stop = s.charCodeAt(end - 2) === PAD ? end - 2 : end - 1;
  }
  // Four characters a step, the verdicts OR-ed: ~1 ns a character.
  let bad = 0;
  let i = start;
  for (const last = stop - 3; i < last; i += 4) {
    bad |= NOT_BASE64[s.charCodeAt(i)] | NOT_BASE64[s.charCodeAt(i + 1)] |
      NOT_BASE64[s.charCodeAt(i + 2)] | NOT_BASE64[s.charCodeAt(i + 3)];
  }
  for (; i < stop; i++) bad |= NOT_BASE64[s.charCodeAt(i)];
  return bad === 0 ? (n >> 2) * 3 - (end - stop) : -1;
}
