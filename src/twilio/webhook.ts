/**
 * Reading a signed Twilio webhook: the form body (bounded), its `X-Twilio-Signature` over
 * the public URL, and the account it claims. Shared by every route Twilio calls (the voice
 * webhook and status callbacks, the reminder and SMS webhooks), so every one of them checks
 * the same way and logs a rejection the same way: rate-limited, values cut short (anyone
 * can send these).
 *
 * @example
 * ```ts
 * import { loadConfig } from "../config.ts";
 * import { logger } from "../log.ts";
 * import { signedWebhookReader } from "./webhook.ts";
 * const read = signedWebhookReader({
 *   config: loadConfig({
 *     PUBLIC_URL: "https://voice.example.com",
 *     OPENAI_API_KEY: "sk-x",
 *     TWILIO_AUTH_TOKEN: "token",
 *   }),
 *   log: logger("twilio", "routes"),
 * });
 * const handler = async (req: Request) => {
 *   const params = await read(req);
 *   if (params instanceof Response) return params; // 415, 413 or 403
 *   return new Response(String(params.CallSid));
 * };
 * ```
 *
 * @module
 */
import type { Config } from "../config.ts";
import { BodyTooLargeError, readBodyLimited } from "../http.ts";
import { clip, type Logger, LogLimiter } from "../log.ts";
import { parseForm, type TwilioParams, TwilioSignatureVerifier, webhookUrl } from "./signature.ts";

/** The content type Twilio posts webhooks with. */
export const FORM_TYPE = "application/x-www-form-urlencoded";

/** What an operator checks when genuine Twilio requests fail the signature check. */
export const SIGNATURE_HINT =
  "if Twilio sent it, PUBLIC_URL must be the public URL Twilio calls and " +
  "TWILIO_AUTH_TOKEN the auth token of the Twilio account that owns the number";

/** A TwiML answer. */
export function xml(body: string): Response {
  return new Response(body, { headers: { "content-type": "text/xml; charset=utf-8" } });
}

/** A short plain-text answer. */
export function plain(status: number, text: string): Response {
  return new Response(text, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/** The first value of a form parameter (Twilio may repeat a name). */
export function first(params: TwilioParams, name: string): string | undefined {
  const v = params[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A rate-limited warning: a few lines a minute, then a count of what was suppressed. */
export type LimitedWarn = (message: string, properties: Record<string, unknown>) => void;

/** A warning logger that writes at most `burst` lines per `windowMs`. */
export function limitedWarn(log: Logger, burst = 20, windowMs = 60_000): LimitedWarn {
  const limiter = new LogLimiter({ burst, windowMs });
  return (message, properties) => {
    const { write, suppressed } = limiter.take();
    if (!write) return;
    log.warn(suppressed ? `${message} ({suppressed} similar lines suppressed)` : message, {
      ...properties,
      suppressed,
    });
  };
}

/** Options of {@linkcode signedWebhookReader}. */
export interface WebhookReaderOptions {
  config: Config;
  /** Where rejections are logged (rate-limited). */
  log: Logger;
  /** Largest body accepted; default 64 KiB. */
  maxBodyBytes?: number;
}

/**
 * Returns a reader of signed webhooks: the verified form parameters, or the `Response` to
 * answer with (415 wrong content type, 413 body too large, 403 bad signature or another
 * account's request).
 */
export function signedWebhookReader(
  o: WebhookReaderOptions,
): (req: Request) => Promise<TwilioParams | Response> {
  const { config } = o;
  const verifier = new TwilioSignatureVerifier(config);
  const maxBody = o.maxBodyBytes ?? 64 * 1024;
  const warn = limitedWarn(o.log);
  return async (req) => {
    const url = new URL(req.url);
    const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== FORM_TYPE) {
      await req.body?.cancel();
      warn("rejected {path}: content type {type}", { path: url.pathname, type: clip(type, 60) });
      return plain(415, `expected ${FORM_TYPE}`);
    }
    let body: string;
    try {
      body = await readBodyLimited(req, maxBody);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        warn("rejected {path}: body over {limit} bytes", { path: url.pathname, limit: maxBody });
        return plain(413, "body too large");
      }
      throw error;
    }
    const params = parseForm(body);
    const signature = req.headers.get("x-twilio-signature");
    if (!verifier.verifyWebhook(signature, url.pathname + url.search, params)) {
      warn("rejected {path}: invalid Twilio signature ({why}) for {url}; {hint}", {
        path: url.pathname,
        why: signature ? "mismatch" : "missing header",
        url: clip(webhookUrl(config.publicUrl, url.pathname + url.search), 200),
        hint: SIGNATURE_HINT,
        callSid: clip(first(params, "CallSid"), 40),
      });
      return plain(403, "forbidden");
    }
    const accountSid = first(params, "AccountSid");
    if (config.twilio.accountSid && accountSid !== config.twilio.accountSid) {
      warn("rejected {path}: AccountSid {accountSid} is not ours", {
        path: url.pathname,
        accountSid: clip(accountSid, 40),
      });
      return plain(403, "forbidden");
    }
    return params;
  };
}
