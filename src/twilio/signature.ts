/**
 * Twilio request signatures (`X-Twilio-Signature`), checked with `npm:twilio`.
 *
 * The signed URL is always rebuilt from the configured public origin (`PUBLIC_URL`) plus
 * the path and query Twilio called, never from the request's own URL: behind a
 * TLS-terminating proxy the server sees `http://` or an internal host.
 *
 * @module
 */
// The webhooks module alone, not the package root: the root loads the whole REST client
// (axios, jsonwebtoken, ...), ~10 MiB of idle RSS that checking a signature does not need.
import { getExpectedTwilioSignature, validateRequest } from "twilio/lib/webhooks/webhooks.js";
import type { Config } from "../config.ts";
import { logger } from "../log.ts";
import { MEDIA_PATH } from "./protocol.ts";

const log = logger("twilio", "signature");

/** Form parameters of a webhook; a name sent more than once keeps every value. */
export type TwilioParams = Record<string, string | string[]>;

/**
 * The public URL Twilio called: configured origin + the request's path and query.
 *
 * @example
 * ```ts
 * webhookUrl("https://voice.example.com", "/twilio/voice"); // "https://voice.example.com/twilio/voice"
 * ```
 */
export function webhookUrl(publicUrl: string, pathAndQuery: string): string {
  return new URL(publicUrl).origin + pathAndQuery;
}

/** The `wss://` URL of the media stream endpoint, as written into the TwiML and signed by Twilio. */
export function mediaStreamUrl(publicUrl: string): string {
  return `wss://${new URL(publicUrl).host}${MEDIA_PATH}`;
}

/** Parses an `application/x-www-form-urlencoded` body, keeping repeated names as arrays. */
export function parseForm(body: string): TwilioParams {
  const params: TwilioParams = {};
  for (const [name, value] of new URLSearchParams(body)) {
    const prev = params[name];
    if (prev === undefined) params[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else params[name] = [prev, value];
  }
  return params;
}

/** Computes the signature Twilio would send for `url` and `params` (used by the fake caller and tests). */
export function signTwilioRequest(authToken: string, url: string, params: TwilioParams): string {
  return getExpectedTwilioSignature(authToken, url, params);
}

/**
 * Verifies Twilio signatures for one service configuration. When
 * `config.twilio.validateSignatures` is false every check passes, with one loud warning.
 */
export class TwilioSignatureVerifier {
  readonly #authToken: string;
  readonly #publicUrl: string;
  readonly #enabled: boolean;
  #warned = false;

  /** @param config the service configuration (auth token, public origin, on/off switch) */
  constructor(config: Pick<Config, "publicUrl" | "twilio">) {
    this.#authToken = config.twilio.authToken;
    this.#publicUrl = config.publicUrl;
    this.#enabled = config.twilio.validateSignatures;
  }

  /**
   * Checks a webhook POST: signature over the public URL of `pathAndQuery` plus all form params.
   *
   * @param signature the `X-Twilio-Signature` header, or null when missing
   * @param pathAndQuery the request's pathname + search, e.g. `/twilio/voice`
   */
  verifyWebhook(signature: string | null, pathAndQuery: string, params: TwilioParams): boolean {
    return this.#check(signature, webhookUrl(this.#publicUrl, pathAndQuery), params);
  }

  /** Checks the media WebSocket upgrade: signature over the `wss://` URL with empty params. */
  verifyMediaUpgrade(signature: string | null): boolean {
    return this.#check(signature, mediaStreamUrl(this.#publicUrl), {});
  }

  #check(signature: string | null, url: string, params: TwilioParams): boolean {
    if (!this.#enabled) {
      if (!this.#warned) {
        this.#warned = true;
        log.warn(
          "TWILIO SIGNATURE VALIDATION IS DISABLED (TWILIO_VALIDATE_SIGNATURES=false): anyone " +
            "who finds this server can place calls on it. Use only for local development.",
        );
      }
      return true;
    }
    if (!signature) return false;
    return validateRequest(this.#authToken, signature, url, params);
  }
}
