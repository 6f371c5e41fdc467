/**
 * Replies to texts: STOP (and Twilio's other opt-out words) records that the number wants no
 * more reminders; START takes it back. The same words Twilio's own opt-out handling knows,
 * so what the customer reads in Twilio's automatic reply is what happens here too.
 *
 * @module
 */
import type { ReminderStore } from "../booking/types.ts";
import { logger } from "../log.ts";

const log = logger("reminders", "sms");

/** Words that opt a number out (Twilio's defaults). */
export const OPT_OUT_WORDS: ReadonlySet<string> = new Set([
  "STOP",
  "STOPALL",
  "UNSUBSCRIBE",
  "CANCEL",
  "END",
  "QUIT",
  "OPTOUT",
  "REVOKE",
]);

/** Words that opt a number back in (Twilio's defaults). */
export const OPT_IN_WORDS: ReadonlySet<string> = new Set(["START", "UNSTOP", "YES"]);

/** What a reply did. */
export type SmsReplyOutcome = "opted_out" | "opted_in" | "ignored";

/** The keyword of a reply: its first word, upper case, without punctuation. */
export function replyKeyword(body: string): string {
  return (body.trim().split(/\s+/)[0] ?? "").toUpperCase().replace(/[^A-Z]/g, "");
}

/** Acts on one incoming text. */
export async function handleSmsReply(
  store: Pick<ReminderStore, "optOut" | "optIn">,
  from: string,
  body: string,
  nowMs: number,
): Promise<SmsReplyOutcome> {
  const word = replyKeyword(body);
  if (OPT_OUT_WORDS.has(word)) {
    await store.optOut(from, "sms", nowMs);
    log.info("a customer opted out of reminders by text");
    return "opted_out";
  }
  if (OPT_IN_WORDS.has(word)) {
    await store.optIn(from);
    log.info("a customer opted back in to reminders by text");
    return "opted_in";
  }
  return "ignored";
}
