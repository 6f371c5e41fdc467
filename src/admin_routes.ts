/**
 * Read-only operator routes: `GET /calls/:sid` returns the stored call record (transcript,
 * tool calls, latency, barge-ins) as JSON.
 *
 * They are authenticated with the Twilio signature scheme, so no new secret is needed:
 * whoever holds `TWILIO_AUTH_TOKEN` signs `PUBLIC_URL + path + ?expires=<unix seconds>`
 * and empty params, and sends it as `X-Twilio-Signature`. The expiry is part of the signed
 * URL and may be at most {@linkcode MAX_SIGNED_URL_SECONDS} ahead, so a signed URL that
 * leaks (a proxy log, a shell history) stops working within minutes. Call records hold
 * callers' numbers and words, so these routes check the signature even when
 * `TWILIO_VALIDATE_SIGNATURES=false`.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { json, jsonError, type Route } from "./http.ts";
import type { BookingStore } from "./booking/types.ts";
import { TwilioSignatureVerifier } from "./twilio/signature.ts";

/** Path pattern of the call record route. */
export const CALL_RECORD_PATH = "/calls/:sid";

/** How far ahead a signed URL's `expires` may be, seconds. */
export const MAX_SIGNED_URL_SECONDS = 300;

/**
 * The path and query to sign and fetch for `callSid`'s record, valid until `expiresAt`
 * (Unix seconds).
 *
 * @example
 * ```ts
 * const path = callRecordPath("CA123", Math.floor(Date.now() / 1000) + 60);
 * // "/calls/CA123?expires=…": sign PUBLIC_URL + path with the auth token
 * ```
 */
export function callRecordPath(callSid: string, expiresAt: number): string {
  return `/calls/${encodeURIComponent(callSid)}?expires=${Math.floor(expiresAt)}`;
}

/** What the admin routes need. */
export interface AdminRouteDeps {
  config: Pick<Config, "publicUrl" | "twilio">;
  store: Pick<BookingStore, "getCall">;
  /** Unix time in ms (tests); default `Date.now`. */
  now?: () => number;
}

/**
 * The admin route table.
 *
 * @example
 * ```ts
 * declare const deps: AdminRouteDeps; // the service's config and store
 * const routes = [...adminRoutes(deps)];
 * // GET /calls/CA123?expires=1767225600 with
 * // X-Twilio-Signature = sign(authToken, PUBLIC_URL + "/calls/CA123?expires=1767225600", {})
 * ```
 */
export function adminRoutes(deps: AdminRouteDeps): Route[] {
  // Always verify, whatever TWILIO_VALIDATE_SIGNATURES says (see the module comment).
  const verifier = new TwilioSignatureVerifier({
    publicUrl: deps.config.publicUrl,
    twilio: { ...deps.config.twilio, validateSignatures: true },
  });
  const now = deps.now ?? Date.now;
  return [{
    method: "GET",
    path: CALL_RECORD_PATH,
    handler: async (req, ctx) => {
      const url = new URL(req.url);
      const signature = req.headers.get("x-twilio-signature");
      if (!verifier.verifyWebhook(signature, url.pathname + url.search, {})) {
        return jsonError(403, "invalid or missing X-Twilio-Signature");
      }
      const expires = url.searchParams.get("expires") ?? "";
      if (!/^\d{1,12}$/.test(expires)) {
        return jsonError(403, "the signed URL needs ?expires=<unix seconds>");
      }
      const seconds = Number(expires) - now() / 1000;
      if (seconds < 0) return jsonError(403, "the signed URL has expired");
      if (seconds > MAX_SIGNED_URL_SECONDS) {
        return jsonError(403, `expires may be at most ${MAX_SIGNED_URL_SECONDS} s ahead`);
      }
      const sid = ctx.params.sid ?? "";
      const record = await deps.store.getCall(sid);
      if (!record) return jsonError(404, `no call record for ${sid.slice(0, 40)}`);
      return json(record, 200, { "cache-control": "no-store" });
    },
  }];
}
