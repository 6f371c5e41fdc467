/**
 * Read-only operator routes: `GET /calls/:sid` returns the stored call record (transcript,
 * tool calls, latency, barge-ins) as JSON.
 *
 * They are authenticated with the Twilio signature scheme, so no new secret is needed:
 * whoever holds `TWILIO_AUTH_TOKEN` signs `PUBLIC_URL + path` (with the query, if any) and
 * empty params, and sends it as `X-Twilio-Signature`. Call records hold callers' numbers and
 * words, so these routes check the signature even when `TWILIO_VALIDATE_SIGNATURES=false`.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { json, jsonError, type Route } from "./http.ts";
import type { BookingStore } from "./booking/types.ts";
import { TwilioSignatureVerifier } from "./twilio/signature.ts";

/** Path pattern of the call record route. */
export const CALL_RECORD_PATH = "/calls/:sid";

/** What the admin routes need. */
export interface AdminRouteDeps {
  config: Pick<Config, "publicUrl" | "twilio">;
  store: Pick<BookingStore, "getCall">;
}

/**
 * The admin route table.
 *
 * @example
 * ```ts
 * const routes = [...adminRoutes({ config, store })];
 * // GET /calls/CA123 with X-Twilio-Signature = sign(authToken, PUBLIC_URL + "/calls/CA123", {})
 * ```
 */
export function adminRoutes(deps: AdminRouteDeps): Route[] {
  // Always verify, whatever TWILIO_VALIDATE_SIGNATURES says (see the module comment).
  const verifier = new TwilioSignatureVerifier({
    publicUrl: deps.config.publicUrl,
    twilio: { ...deps.config.twilio, validateSignatures: true },
  });
  return [{
    method: "GET",
    path: CALL_RECORD_PATH,
    handler: async (req, ctx) => {
      const url = new URL(req.url);
      const signature = req.headers.get("x-twilio-signature");
      if (!verifier.verifyWebhook(signature, url.pathname + url.search, {})) {
        return jsonError(403, "invalid or missing X-Twilio-Signature");
      }
      const sid = ctx.params.sid ?? "";
      const record = await deps.store.getCall(sid);
      if (!record) return jsonError(404, `no call record for ${sid}`);
      return json(record, 200, { "cache-control": "no-store" });
    },
  }];
}
