/**
 * Stateless per-call tokens: the voice webhook puts one into the TwiML `<Parameter>`s and
 * the media socket checks it at `start`, so a stream is only accepted for the CallSid the
 * webhook saw, with the caller's and the called number the webhook saw: the `from` and
 * `to` parameters travel next to the token and are covered by its MAC, so a stream that
 * changes them (to act as another caller) is refused. HMAC-SHA256 (WebCrypto) over the
 * CallSid, the numbers and an expiry, keyed from the Twilio auth token, so any instance
 * behind a load balancer can verify any token. Single use is the route's job (it remembers
 * the CallSids it has streamed).
 *
 * Format: `v2.<expiry ms, base 36>.<base64url MAC>`.
 *
 * @module
 */

const VERSION = "v2";
import { derivedHmacKey } from "../hmac_keys.ts";

const encoder = new TextEncoder();

/** Options for {@linkcode CallTokenSigner.create}. */
export interface CallTokenOptions {
  /** How long a token stays valid after issue; default 5 minutes (webhook -> stream start). */
  ttlMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

/** What a token is bound to: the call and both numbers, as the voice webhook saw them. */
export interface CallTokenClaims {
  callSid: string;
  /** The caller (`From`), as passed in the stream's `from` parameter. */
  from: string;
  /** The number called (`To`), as passed in the stream's `to` parameter. */
  to: string;
}

/** Issues and verifies call tokens. Create once per process with {@linkcode CallTokenSigner.create}. */
export class CallTokenSigner {
  readonly #key: CryptoKey;
  readonly #ttlMs: number;
  readonly #now: () => number;

  private constructor(key: CryptoKey, ttlMs: number, now: () => number) {
    this.#key = key;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /**
   * Derives the signing key from the auth token (a separate key, so a token never
   * reveals anything usable as a Twilio signature).
   */
  static async create(authToken: string, options: CallTokenOptions = {}): Promise<CallTokenSigner> {
    const key = await derivedHmacKey(authToken, "voice-agent call token");
    return new CallTokenSigner(key, options.ttlMs ?? 5 * 60_000, options.now ?? Date.now);
  }

  /** Issues a token bound to the call and its numbers. */
  async issue(claims: CallTokenClaims): Promise<string> {
    const expiry = (this.#now() + this.#ttlMs).toString(36);
    const mac = await crypto.subtle.sign(
      "HMAC",
      this.#key,
      encoder.encode(message(claims, expiry)),
    );
    return `${VERSION}.${expiry}.${
      new Uint8Array(mac).toBase64({ alphabet: "base64url", omitPadding: true })
    }`;
  }

  /**
   * True when `token` was issued for exactly these claims and has not expired.
   * Constant-time MAC check.
   */
  async verify(token: string | undefined, claims: CallTokenClaims): Promise<boolean> {
    if (typeof token !== "string" || token.length > 200) return false;
    const parts = token.split(".");
    if (parts.length !== 3 || parts[0] !== VERSION || !/^[0-9a-z]{1,12}$/.test(parts[1])) {
      return false;
    }
    let mac: Uint8Array<ArrayBuffer>;
    try {
      mac = Uint8Array.fromBase64(parts[2], { alphabet: "base64url" });
    } catch {
      return false;
    }
    // WebCrypto's HMAC verify compares in constant time.
    const ok = await crypto.subtle.verify(
      "HMAC",
      this.#key,
      mac,
      encoder.encode(message(claims, parts[1])),
    );
    return ok && parseInt(parts[1], 36) > this.#now();
  }
}

/** The signed text; each field is length-prefixed, so no field can borrow from the next. */
function message(claims: CallTokenClaims, expiry: string): string {
  const fields = [claims.callSid, claims.from, claims.to, expiry];
  return VERSION + fields.map((f) => `\n${f.length}:${f}`).join("");
}
