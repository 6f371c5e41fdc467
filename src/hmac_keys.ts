/**
 * Purpose-bound HMAC keys derived from one secret: HMAC-SHA-256 of a purpose label under
 * the secret becomes the key for that purpose only, so a value signed for one purpose (a
 * call token, a reminder link, a console session) is never valid for another, and none of
 * them reveals anything usable as the secret itself (e.g. the Twilio auth token).
 *
 * @example
 * ```ts
 * import { derivedHmacKey } from "./hmac_keys.ts";
 * const key = await derivedHmacKey("the auth token", "voice-agent call token");
 * const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("CA123"));
 * console.log(mac.byteLength); // 32
 * ```
 *
 * @module
 */

const HMAC = { name: "HMAC", hash: "SHA-256" } as const;

/** An HMAC-SHA-256 key for `purpose`, derived from `secret` (text or raw bytes). */
export async function derivedHmacKey(
  secret: string | Uint8Array<ArrayBuffer>,
  purpose: string,
): Promise<CryptoKey> {
  const raw = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  const root = await crypto.subtle.importKey("raw", raw, HMAC, false, ["sign"]);
  const derived = await crypto.subtle.sign("HMAC", root, new TextEncoder().encode(purpose));
  return crypto.subtle.importKey("raw", derived, HMAC, false, ["sign", "verify"]);
}
