/**
 * The HTTP routes of reminders: the reminder call's voice webhook, its answering-machine
 * verdict and status callbacks (each URL signed and naming the reminder), and the SMS
 * webhook (replies such as STOP). Every request must carry a valid `X-Twilio-Signature`
 * over the public URL (`PUBLIC_URL`), like the other Twilio routes.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Route } from "../http.ts";
import { logger } from "../log.ts";
import type { TwilioParams } from "../twilio/signature.ts";
import { emptyMessagingTwiml, sayAndHangUpTwiml } from "../twilio/twiml.ts";
import { first, plain, signedWebhookReader, xml } from "../twilio/webhook.ts";
import type { ReminderStore } from "../booking/types.ts";
import type { ReminderCalls } from "./calls.ts";
import {
  REMINDER_AMD_PATH,
  REMINDER_STATUS_PATH,
  REMINDER_VOICE_PATH,
  type ReminderLinks,
  type ReminderRef,
  SMS_PATH,
} from "./links.ts";
import { handleSmsReply } from "./sms.ts";
import { errorMessage } from "../errors.ts";

const log = logger("reminders", "routes");

/** What the routes need. */
export interface ReminderRouteDeps {
  config: Config;
  /** Reminder calls (absent when `REMINDERS=off`: their webhooks answer 404). */
  calls?: ReminderCalls;
  links?: ReminderLinks;
  /** Where opt-outs are kept (the SMS webhook works whether reminders are on or not). */
  store: Pick<ReminderStore, "optOut" | "optIn">;
  /** Clock for opt-out times. */
  now?: () => Temporal.Instant;
  /** Largest body accepted; default 64 KiB. */
  maxBodyBytes?: number;
}

/** Builds the reminder routes. */
export function reminderRoutes(deps: ReminderRouteDeps): Route[] {
  const { config } = deps;
  const now = deps.now ?? (() => Temporal.Now.instant());

  /** Reads and verifies a signed Twilio form; a Response means "stop here". */
  const signedForm = signedWebhookReader({ config, log, maxBodyBytes: deps.maxBodyBytes });

  /** A signed request whose URL names a reminder this service dialled. */
  async function reminderRequest(
    req: Request,
  ): Promise<{ ref: ReminderRef; params: TwilioParams; calls: ReminderCalls } | Response> {
    const url = new URL(req.url);
    if (!deps.calls || !deps.links) {
      await req.body?.cancel();
      return plain(404, "reminders are off");
    }
    const params = await signedForm(req);
    if (params instanceof Response) return params;
    const q = url.searchParams;
    const ref = await deps.links.verify(q.get("r"), q.get("n"), q.get("s"));
    if (!ref) {
      log.warn("rejected {path}: the reminder link is not ours", { path: url.pathname });
      return plain(403, "forbidden");
    }
    return { ref, params, calls: deps.calls };
  }

  async function voice(req: Request): Promise<Response> {
    const r = await reminderRequest(req);
    if (r instanceof Response) return r;
    try {
      return xml(await r.calls.answered(r.ref, r.params));
    } catch (error) {
      log.error("reminder voice webhook failed: {error}", { error: errorMessage(error) });
      return xml(sayAndHangUpTwiml("Sorry, we cannot talk right now. Goodbye."));
    }
  }

  function callback(
    handle: (calls: ReminderCalls, ref: ReminderRef, params: TwilioParams) => Promise<void>,
  ) {
    return async (req: Request): Promise<Response> => {
      const r = await reminderRequest(req);
      if (r instanceof Response) return r;
      try {
        await handle(r.calls, r.ref, r.params);
      } catch (error) {
        // A 5xx makes Twilio retry the callback; the handlers are idempotent.
        log.error("reminder callback {path} failed: {error}", {
          path: new URL(req.url).pathname,
          error: errorMessage(error),
        });
        return plain(500, "internal error");
      }
      return new Response(null, { status: 204 });
    };
  }

  async function sms(req: Request): Promise<Response> {
    const params = await signedForm(req);
    if (params instanceof Response) return params;
    const from = first(params, "From") ?? "";
    try {
      await handleSmsReply(deps.store, from, first(params, "Body") ?? "", now().epochMilliseconds);
    } catch (error) {
      log.error("SMS webhook failed: {error}", { error: errorMessage(error) });
      return plain(500, "internal error");
    }
    return xml(emptyMessagingTwiml());
  }

  return [
    { method: "POST", path: REMINDER_VOICE_PATH, handler: voice },
    {
      method: "POST",
      path: REMINDER_AMD_PATH,
      handler: callback((calls, ref, params) => calls.machineVerdict(ref, params)),
    },
    {
      method: "POST",
      path: REMINDER_STATUS_PATH,
      handler: callback((calls, ref, params) => calls.status(ref, params)),
    },
    { method: "POST", path: SMS_PATH, handler: sms },
  ];
}
