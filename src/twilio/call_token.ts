/**
 * Stateless per-call tokens: the voice webhook puts one into the TwiML `<Parameter>`s and
 * the media socket checks it at `start`, so a stream is only accepted for the CallSid the
 * webhook saw. HMAC-SHA256 (WebCrypto) over `callSid` and an expiry, keyed from the
 * Twilio auth token, so any instance behind a load balancer can verify any token.
 *
 * Format: `v1.<expiry ms, base 36>.<base64url MAC>`.
 *
 * @module
 */

const VERSION = "v1";
const encoder = new TextEncoder();

/** Options for {@linkcode CallTokenSigner.create}. */
export interface CallTokenOptions {
  /** How long a token stays valid after issue; default 5 minutes (webhook -> stream start). */
  ttlMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
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
    const root = await crypto.subtle.importKey(
      "raw",
      encoder.encode(authToken),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const derived = await crypto.subtle.sign(
      "HMAC",
      root,
      encoder.encode("voice-agent call token"),
    );
    const key = await crypto.subtle.importKey(
      "raw",
      derived,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    return new CallTokenSigner(key, options.ttlMs ?? 5 * 60_000, options.now ?? Date.now);
  }

  /** Issues a token bound to `callSid`. */
  async issue(callSid: string): Promise<string> {
    const expiry = (this.#now() + this.#ttlMs).toString(36);
    const mac = await crypto.subtle.sign(
      "HMAC",
      this.#key,
      encoder.encode(message(callSid, expiry)),
    );
    return `${VERSION}.${expiry}.${
      new Uint8Array(mac).toBase64({ alphabet: "base64url", omitPadding: true })
    }`;
  }

  /** True when `token` was issued for `callSid` and has not expired. Constant-time MAC check. */
  async verify(token: string | undefined, callSid: string): Promise<boolean> {
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
      encoder.encode(message(callSid, parts[1])),
    );
    return ok && parseInt(parts[1], 36) > this.#now();
  }
}

function message(callSid: string, expiry: string): string {
  return `${VERSION}\n${callSid}\n${expiry}`;
}
