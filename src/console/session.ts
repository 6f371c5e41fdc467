/**
 * Console sessions: a signed, expiring cookie and the CSRF token bound to it.
 *
 * The cookie value is `v1.<expires, unix s>.<nonce>.<HMAC of the rest>`, so any instance with
 * the same password verifies it without shared state. The CSRF token is an HMAC of the
 * session's nonce: the page gets it in a `<meta>` tag and sends it back in the
 * `X-CSRF-Token` header of every POST. Signing out revokes the nonce on this instance (other
 * instances honour the cookie until it expires; the browser drops it at once).
 *
 * @module
 */

const enc = new TextEncoder();
const b64url = (bytes: Uint8Array) => bytes.toBase64({ alphabet: "base64url", omitPadding: true });

function fromB64url(text: string): Uint8Array | undefined {
  try {
    const bytes = Uint8Array.fromBase64(text, { alphabet: "base64url" });
    // Only the one spelling this service writes: the decoder ignores a last character's
    // unused bits, so "…A" and "…B" can decode alike; a changed token must not verify.
    return b64url(bytes) === text ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** A verified session. */
export interface Session {
  /** Random id of this login. */
  nonce: string;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
}

/** Cookie names and attributes of the console. */
export interface CookiePolicy {
  /** `Secure` (and the `__Host-` name prefix); off only for a loopback `http://` PUBLIC_URL. */
  secure: boolean;
}

/** The cookie policy for a `PUBLIC_URL`: Secure unless it is loopback http. */
export function cookiePolicyFor(publicUrl: string): CookiePolicy {
  const url = new URL(publicUrl);
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  return { secure: !(url.protocol === "http:" && loopback) };
}

/** Name of the session cookie under a policy. */
export function sessionCookieName(policy: CookiePolicy): string {
  return policy.secure ? "__Host-va_console" : "va_console";
}

/** Name of the login form's CSRF cookie under a policy. */
export function loginCookieName(policy: CookiePolicy): string {
  return policy.secure ? "__Host-va_login" : "va_login";
}

/** A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, Secure under the policy. */
export function setCookie(
  policy: CookiePolicy,
  name: string,
  value: string,
  maxAgeSeconds: number,
): string {
  return `${name}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; ` +
    `HttpOnly; SameSite=Strict${policy.secure ? "; Secure" : ""}`;
}

/** The value of cookie `name` in a request, if present. */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.get("cookie");
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Issues and verifies session cookies and CSRF tokens with one HMAC key. */
export class SessionCodec {
  readonly #key: CryptoKey;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** Signed-out nonces → their expiry (pruned as they expire). */
  readonly #revoked = new Map<string, number>();

  /** `ttlMs`: how long a login lasts; `now`: the clock (tests move it). */
  constructor(key: CryptoKey, ttlMs: number, now: () => number = Date.now) {
    this.#key = key;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** How long a login lasts, ms. */
  get ttlMs(): number {
    return this.#ttlMs;
  }

  async #mac(text: string): Promise<string> {
    return b64url(new Uint8Array(await crypto.subtle.sign("HMAC", this.#key, enc.encode(text))));
  }

  /** A new session: its cookie value and what it holds. */
  async issue(): Promise<{ value: string; session: Session }> {
    const nonce = b64url(crypto.getRandomValues(new Uint8Array(18)));
    const expiresAt = this.#now() + this.#ttlMs;
    const body = `v1.${Math.floor(expiresAt / 1000)}.${nonce}`;
    return {
      value: `${body}.${await this.#mac(`session.${body}`)}`,
      session: { nonce, expiresAt: Math.floor(expiresAt / 1000) * 1000 },
    };
  }

  /** The session of a cookie value, or undefined when forged, malformed, expired or revoked. */
  async verify(value: string | undefined): Promise<Session | undefined> {
    if (!value || value.length > 200) return undefined;
    const parts = value.split(".");
    if (parts.length !== 4 || parts[0] !== "v1" || !/^\d{1,12}$/.test(parts[1])) return undefined;
    const mac = fromB64url(parts[3]);
    if (!mac) return undefined;
    const body = parts.slice(0, 3).join(".");
    const ok = await crypto.subtle.verify(
      "HMAC",
      this.#key,
      mac as Uint8Array<ArrayBuffer>,
      enc.encode(`session.${body}`),
    );
    if (!ok) return undefined;
    const expiresAt = Number(parts[1]) * 1000;
    if (expiresAt <= this.#now()) return undefined;
    if (this.#revoked.has(parts[2])) return undefined;
    return { nonce: parts[2], expiresAt };
  }

  /** The CSRF token of a session. */
  csrfToken(session: Session): Promise<string> {
    return this.#mac(`csrf.${session.nonce}`);
  }

  /** True when `token` is the session's CSRF token. */
  async checkCsrf(session: Session, token: string | null | undefined): Promise<boolean> {
    if (!token || token.length > 100) return false;
    const mac = fromB64url(token);
    if (!mac) return false;
    return await crypto.subtle.verify(
      "HMAC",
      this.#key,
      mac as Uint8Array<ArrayBuffer>,
      enc.encode(`csrf.${session.nonce}`),
    );
  }

  /** Signs a session out on this instance. */
  revoke(session: Session): void {
    const now = this.#now();
    for (const [nonce, until] of this.#revoked) if (until <= now) this.#revoked.delete(nonce);
    if (this.#revoked.size < 100_000) this.#revoked.set(session.nonce, session.expiresAt);
  }
}
