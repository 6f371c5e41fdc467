/**
 * The after-call summary as the model is asked to write it (one JSON object), its zod
 * schema, and what the call record keeps of it. Every string the model chose is cut to a
 * bound; a claim the schema does not understand is kept (as unverifiable), not fatal; an
 * answer that is not the object asked for is recorded as malformed.
 *
 * @module
 */
import { z } from "zod";
import { errorMessage } from "../errors.ts";

/** A string cut to `max` characters (the model's text never grows the record unbounded). */
const text = (max: number) => z.string().transform((s) => s.trim().slice(0, max));
const optionalText = (max: number) => text(max).nullish().transform((s) => s || undefined);

/** A booking the agent said it made. */
const BookingClaimSchema = z.object({
  type: z.literal("booking"),
  service: text(80),
  /** `YYYY-MM-DD` in the business's time zone. */
  date: text(20),
  /** `HH:MM`, 24-hour. */
  time: text(20),
  quote: optionalText(300),
});

/** A cancellation the agent said it made. */
const CancellationClaimSchema = z.object({
  type: z.literal("cancellation"),
  reference: optionalText(32),
  service: optionalText(80),
  date: optionalText(20),
  time: optionalText(20),
  quote: optionalText(300),
});

/** A booking the agent said it moved (to `date` and `time`). */
const RescheduleClaimSchema = z.object({
  type: z.literal("reschedule"),
  reference: optionalText(32),
  service: optionalText(80),
  date: text(20),
  time: text(20),
  quote: optionalText(300),
});

/** A price the agent quoted. */
const PriceClaimSchema = z.object({
  type: z.literal("price"),
  service: text(80),
  amount: z.number(),
  currency: optionalText(3),
  quote: optionalText(300),
});

/** Opening hours the agent stated for a day (a weekday name or a date). */
const HoursClaimSchema = z.object({
  type: z.literal("hours"),
  day: text(20),
  open: optionalText(20),
  close: optionalText(20),
  closed: z.boolean().nullish().transform((b) => b ?? undefined),
  quote: optionalText(300),
});

/** One concrete claim the agent made to the caller. */
export const ClaimSchema = z.discriminatedUnion("type", [
  BookingClaimSchema,
  CancellationClaimSchema,
  RescheduleClaimSchema,
  PriceClaimSchema,
  HoursClaimSchema,
]);

/** A claim, parsed. */
export type Claim = z.output<typeof ClaimSchema>;
/** The kinds of claims (and `other` for one not understood). */
export type ClaimKind = Claim["type"] | "other";

/** The summary object the model is asked for. Claims are parsed one by one afterwards. */
export const SummaryAnswerSchema = z.object({
  summary: text(2000).pipe(z.string().min(1)),
  intent: text(300),
  outcome: text(300),
  follow_up: z.object({
    needed: z.boolean(),
    reason: optionalText(500),
  }),
  claims: z.array(z.unknown()).max(100),
});

/** How the summary step ended. */
export type SummaryStatus = "ok" | "malformed" | "unavailable" | "timeout" | "failed" | "off";

/** What the call record keeps of the summary (`extra.summary`). */
export interface SummaryRecord {
  status: SummaryStatus;
  /** For anything but `ok`: "no summary: why", for people reading the record. */
  note?: string;
  /** The one-paragraph summary. */
  text?: string;
  /** What the caller wanted. */
  intent?: string;
  /** What came of it. */
  outcome?: string;
  /** Whether a person should follow up, and why. */
  followUp?: { needed: boolean; reason?: string };
  /** The model's answer when it was malformed (cut to 4000 characters). */
  raw?: string;
  /** Why it was malformed or failed. */
  error?: string;
}

/** A claim the schema could not read, kept as the model wrote it. */
export interface UnreadableClaim {
  raw: string;
  error: string;
}

/** A parsed summary: the record part and the claims to check. */
export interface ParsedSummary {
  record: SummaryRecord;
  claims: Claim[];
  unreadable: UnreadableClaim[];
}

const MAX_RAW = 4000;

/**
 * Parses the model's answer: one JSON object (a code fence around it is tolerated).
 * Never throws: anything else comes back with status `malformed` and the reason.
 *
 * @example
 * ```ts
 * const parsed = parseSummaryAnswer('{"summary":"…","intent":"book","outcome":"booked",' +
 *   '"follow_up":{"needed":false},"claims":[]}');
 * parsed.record.status; // "ok"
 * ```
 */
export function parseSummaryAnswer(answer: string): ParsedSummary {
  const malformed = (error: string): ParsedSummary => ({
    record: {
      status: "malformed",
      note: "no summary: the model's answer was malformed",
      raw: answer.slice(0, MAX_RAW),
      error: error.slice(0, 500),
    },
    claims: [],
    unreadable: [],
  });
  const body = jsonObjectText(answer);
  if (body === undefined) return malformed("the answer holds no JSON object");
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    return malformed(`not valid JSON: ${errorMessage(error)}`);
  }
  const parsed = SummaryAnswerSchema.safeParse(value);
  if (!parsed.success) return malformed(z.prettifyError(parsed.error));
  const a = parsed.data;
  const claims: Claim[] = [];
  const unreadable: UnreadableClaim[] = [];
  for (const raw of a.claims) {
    const claim = ClaimSchema.safeParse(raw);
    if (claim.success) claims.push(claim.data);
    else {
      unreadable.push({
        raw: JSON.stringify(raw)?.slice(0, 500) ?? String(raw),
        error: z.prettifyError(claim.error).slice(0, 300),
      });
    }
  }
  return {
    record: {
      status: "ok",
      text: a.summary,
      intent: a.intent,
      outcome: a.outcome,
      followUp: {
        needed: a.follow_up.needed,
        ...(a.follow_up.reason ? { reason: a.follow_up.reason } : {}),
      },
    },
    claims,
    unreadable,
  };
}

/** The text of the outermost `{…}` of an answer, or undefined. */
function jsonObjectText(answer: string): string | undefined {
  const start = answer.indexOf("{");
  const end = answer.lastIndexOf("}");
  return start >= 0 && end > start ? answer.slice(start, end + 1) : undefined;
}
