/**
 * The words of the after-call question: the instructions of the out-of-band response
 * (what to write, in which JSON shape, how to phrase dates and times so code can check
 * them) and the short question that follows the conversation.
 *
 * @module
 */
import type { BusinessProfile } from "../booking/business.ts";
import { spokenDate } from "../booking/availability.ts";

/** The question placed after the referenced conversation. */
export const SUMMARY_QUESTION =
  "The phone call above is over. Write the JSON object described in your instructions.";

/** Instructions for the summary response of a call that took place on `callDate`. */
export function summaryInstructions(
  profile: BusinessProfile,
  callDate: Temporal.PlainDate,
): string {
  const services = profile.services.map((s) => s.name).join(", ");
  return [
    `You review a finished phone call between a caller and the receptionist (the assistant) ` +
    `of ${profile.name}. The call took place on ${
      spokenDate(callDate, "en-US")
    } (${callDate}), time zone ${profile.timeZone}. Services: ${services}.`,
    "",
    "Answer with exactly one JSON object and nothing else (no markdown, no prose):",
    '{"summary": "<one paragraph: what happened on the call>",',
    ' "intent": "<what the caller wanted, a few words>",',
    ' "outcome": "<what came of it, a few words>",',
    ' "follow_up": {"needed": <true if a person should call back or act>, "reason": "<why, or null>"},',
    ' "claims": [<every concrete claim the assistant made to the caller, as below>]}',
    "",
    "Claims, one object each (use the service names above, dates as YYYY-MM-DD resolved " +
    "against the call's date, times as 24-hour HH:MM, exactly as the assistant said them, " +
    'even if you think they are wrong; add the assistant\'s words as "quote"):',
    '- a booking the assistant said was made: {"type":"booking","service":"…","date":"YYYY-MM-DD","time":"HH:MM"}',
    '- a cancellation it said was done: {"type":"cancellation","reference":"<booking reference or null>","service":"…","date":"YYYY-MM-DD","time":"HH:MM"}',
    '- a booking it said was moved (the new time): {"type":"reschedule","reference":"<or null>","service":"…","date":"YYYY-MM-DD","time":"HH:MM"}',
    '- a price it quoted: {"type":"price","service":"…","amount":<number>,"currency":"<ISO code>"}',
    '- opening hours it stated: {"type":"hours","day":"<monday…sunday or YYYY-MM-DD>","open":"HH:MM","close":"HH:MM"}, ' +
    'or {"type":"hours","day":"…","closed":true}',
    "Only what the assistant told the caller counts (not what the caller said, not offers " +
    'the caller declined). Use "claims": [] when there are none.',
  ].join("\n");
}
