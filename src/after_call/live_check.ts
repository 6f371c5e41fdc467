/**
 * The promise check, live: whenever the agent finishes saying something that tells the
 * caller a booking is confirmed ("you're booked for 3 PM"), the same booking check the
 * after-call summary uses runs at once against the database: no confirmed booking for
 * this call, or none at the time the agent said, is logged as a warning right away (the
 * prompt tells the model to confirm only after `book_slot` succeeds; this catches it when
 * it does not).
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { errorMessage } from "../errors.ts";
import type { ServerEvent } from "../realtime/protocol.ts";
import type { Booking } from "../booking/types.ts";
import type { BusinessProfile } from "../booking/business.ts";
import { checkBooking, type CheckedClaim, clockTime } from "./promise_check.ts";

/** Sentences that tell the caller a booking is made. */
const CONFIRMATION = new RegExp(
  [
    String
      .raw`\byou(?:'re| are| have been| were|'ve been)\s+(?:all\s+|now\s+)?(?:booked|confirmed|scheduled|set)\b`,
    String.raw`\bi(?:'ve| have)\s+(?:now\s+)?(?:booked|scheduled|confirmed|reserved)\b`,
    String
      .raw`\b(?:your|the)\s+(?:booking|appointment|reservation)\s+(?:is|has been)\s+(?:now\s+)?(?:confirmed|booked|made|set|scheduled)\b`,
    String.raw`\bbooking (?:is )?confirmed\b`,
  ].join("|"),
  "i",
);
const TIME = /\b(\d{1,2}(?::\d{2})?\s*(?:a\.?m\.?|p\.?m\.?))|\b(\d{1,2}:\d{2})\b|\b(noon)\b/i;

/**
 * Whether `text` tells the caller a booking is confirmed, and at what clock time if it
 * says one (`HH:MM`). Undefined when it does not (questions and negations do not count).
 *
 * @example
 * ```ts
 * bookingConfirmation("You're booked for 3 PM tomorrow."); // { time: "15:00" }
 * bookingConfirmation("Shall I book 3 PM for you?"); // undefined
 * ```
 */
export function bookingConfirmation(text: string): { time?: string } | undefined {
  for (const sentence of text.split(/(?<=[.!?])\s+/)) {
    const m = CONFIRMATION.exec(sentence);
    // A question ("Shall I…?", "Are you booked…?") confirms nothing; the phrases above
    // leave no room for a negation ("you're not booked" does not match).
    if (!m || sentence.trim().endsWith("?")) continue;
    const t = TIME.exec(sentence.slice(m.index));
    const time = t ? clockTime(t[1] ?? t[2] ?? t[3]) : null;
    return time ? { time } : {};
  }
  return undefined;
}

/** Options of {@linkcode LiveBookingCheck}. */
export interface LiveCheckOptions {
  /** Where the agent's transcripts come from (the model session). */
  session: {
    on(name: "event", fn: (e: ServerEvent) => void): () => void;
  };
  /** This call's bookings, from the database. */
  bookings: () => Promise<Booking[]>;
  profile: () => BusinessProfile;
  log: Logger;
  /** UTC ISO now. */
  now: () => string;
  /** A statement was checked (metrics). */
  onChecked?: (finding: CheckedClaim) => void;
}

/** Watches one call's agent transcripts for booking confirmations. */
export class LiveBookingCheck {
  readonly #o: LiveCheckOptions;
  readonly #off: () => void;
  readonly #findings: CheckedClaim[] = [];
  #pending: Promise<void> = Promise.resolve();

  constructor(options: LiveCheckOptions) {
    this.#o = options;
    this.#off = options.session.on("event", (e) => {
      if (e.type === "response.output_audio_transcript.done") this.#heard(e.transcript);
    });
  }

  /** What was checked so far. */
  get findings(): readonly CheckedClaim[] {
    return this.#findings;
  }

  /** Stops watching; resolves once the checks already started are done. */
  async stop(): Promise<readonly CheckedClaim[]> {
    this.#off();
    await this.#pending;
    return this.#findings;
  }

  #heard(transcript: string): void {
    const statement = bookingConfirmation(transcript);
    if (!statement) return;
    const at = this.#o.now();
    const quote = transcript.trim().slice(0, 300);
    this.#pending = this.#pending.then(async () => {
      const { log } = this.#o;
      let finding: CheckedClaim;
      try {
        const verdict = checkBooking(statement, {
          profile: this.#o.profile(),
          bookings: await this.#o.bookings(),
        });
        finding = {
          kind: "live_booking",
          claim: { quote, ...statement },
          ...verdict,
          source: "live",
          at,
        };
      } catch (error) {
        finding = {
          kind: "live_booking",
          claim: { quote, ...statement },
          status: "unverifiable",
          truth: `the database could not be asked: ${errorMessage(error)}`,
          source: "live",
          at,
        };
      }
      this.#findings.push(finding);
      this.#o.onChecked?.(finding);
      if (finding.status === "mismatch") {
        log.warn(
          "agent told the caller a booking is confirmed, but the database disagrees: {truth}",
          { quote, truth: finding.truth, check: "live_booking" },
        );
      } else {
        log.debug("live booking statement {status}", { status: finding.status, quote });
      }
    });
  }
}
