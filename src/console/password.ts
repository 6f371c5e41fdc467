/**
 * The console password: scrypt hashes (`CONSOLE_PASSWORD_HASH`), checking a login, and the
 * key that signs session cookies.
 *
 * The session key is derived from the scrypt key, never from the password directly, so a
 * stolen cookie cannot be used to guess the password quickly, and every instance with the
 * same configuration derives the same key (sessions work behind a load balancer). Changing
 * the password signs everybody out.
 *
 * @module
 */
import { derivedHmacKey } from "../hmac_keys.ts";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt cost parameters (N = 2^14 is Node's default: ~50 ms and 16 MiB per check). */
export const SCRYPT_PARAMS = { N: 16384, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
/** Salt of a plain `CONSOLE_PASSWORD`: fixed, so every instance derives the same key. */
const PLAIN_SALT = new TextEncoder().encode("voice-agent console password v1");

/** A parsed `scrypt:N:r:p:salt:key` hash. */
export interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Uint8Array;
  key: Uint8Array;
}

/** A `CONSOLE_PASSWORD_HASH` value that cannot be used. */
export class PasswordHashError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "PasswordHashError";
  }
}

function derive(password: string, salt: Uint8Array, h: Omit<ScryptHash, "salt" | "key">) {
  return new Promise<Uint8Array>((resolve, reject) => {
    scrypt(
      password.normalize("NFC"),
      salt,
      KEY_BYTES,
      { N: h.N, r: h.r, p: h.p, maxmem: 256 * h.N * h.r + 1024 * 1024 },
      (error, key) => error ? reject(error) : resolve(new Uint8Array(key)),
    );
  });
}

const b64url = (bytes: Uint8Array) => bytes.toBase64({ alphabet: "base64url", omitPadding: true });
const fromB64url = (text: string) => Uint8Array.fromBase64(text, { alphabet: "base64url" });

/**
 * Hashes a password for `CONSOLE_PASSWORD_HASH`.
 *
 * @example
 * ```ts
 * const hash = await hashPassword("correct horse battery staple");
 * // "scrypt:16384:8:1:<salt>:<key>"
 * ```
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = new Uint8Array(randomBytes(16));
  const key = await derive(password, salt, SCRYPT_PARAMS);
  const { N, r, p } = SCRYPT_PARAMS;
  return `scrypt:${N}:${r}:${p}:${b64url(salt)}:${b64url(key)}`;
}

/** Parses a hash made by {@linkcode hashPassword}. */
export function parsePasswordHash(text: string): ScryptHash {
  const parts = text.trim().split(":");
  if (parts.length !== 6 || parts[0] !== "scrypt") {
    throw new PasswordHashError("expected scrypt:N:r:p:salt:key");
  }
  const [N, r, p] = parts.slice(1, 4).map(Number);
  // N a power of two; bounds keep a check under a second and 256 MiB.
  if (!(N >= 1024 && N <= 1 << 20 && (N & (N - 1)) === 0) || !(r >= 1 && r <= 32)) {
    throw new PasswordHashError("scrypt N must be a power of two 1024…1048576, r 1…32");
  }
  if (!(p >= 1 && p <= 16)) throw new PasswordHashError("scrypt p must be 1…16");
  const salt = fromB64url(parts[4]);
  const key = fromB64url(parts[5]);
  if (salt.length < 12 || key.length !== KEY_BYTES) {
    throw new PasswordHashError("salt must be at least 12 bytes and key 32 bytes");
  }
  return { N, r, p, salt, key };
}

/** Checks console passwords and owns the key that signs sessions. */
export class PasswordVerifier {
  readonly #hash: ScryptHash;
  /** HMAC-SHA-256 key for session cookies and CSRF tokens. */
  readonly sessionKey: CryptoKey;

  private constructor(hash: ScryptHash, sessionKey: CryptoKey) {
    this.#hash = hash;
    this.sessionKey = sessionKey;
  }

  /** From `CONSOLE_PASSWORD` or `CONSOLE_PASSWORD_HASH` (exactly one). */
  static async create(config: { password?: string; passwordHash?: string }) {
    let hash: ScryptHash;
    if (config.passwordHash) {
      hash = parsePasswordHash(config.passwordHash);
    } else if (config.password) {
      const key = await derive(config.password, PLAIN_SALT, SCRYPT_PARAMS);
      hash = { ...SCRYPT_PARAMS, salt: PLAIN_SALT, key };
    } else {
      throw new PasswordHashError("no console password configured");
    }
    const sessionKey = await derivedHmacKey(
      hash.key as Uint8Array<ArrayBuffer>,
      "voice-agent console session key v1",
    );
    return new PasswordVerifier(hash, sessionKey);
  }

  /** True when `password` is the console password (constant time in the key compare). */
  async verify(password: string): Promise<boolean> {
    if (password.length === 0 || password.length > 1024) return false;
    const key = await derive(password, this.#hash.salt, this.#hash);
    return timingSafeEqual(key, this.#hash.key);
  }
}
