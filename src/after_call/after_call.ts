/**
 * After the call, for one call: while the call runs it follows the model session (the
 * conversation's item ids, and the live booking check on the agent's words); once the
 * call is over, with the session still open, it asks the model for the summary and the
 * claims the agent made (one out-of-band response), checks every claim against the
 * database and the profile, and writes it all to the call record:
 *
 * - `extra.summary`: {@linkcode SummaryRecord} (status `ok`, or why there is no summary);
 * - `extra.promises`: every claim with its verdict (summary and live), and the counts;
 * - `extra.flagged`: true when any claim did not match (also a metric and a warning).
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { type Clock, timeoutSignal } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import type { Metrics } from "../metrics.ts";
import type { BusinessProfile } from "../booking/business.ts";
import type { Booking } from "../booking/types.ts";
import { todayInZone } from "../booking/availability.ts";
import type { AfterEndContext } from "../call/call_tap.ts";
import { checkClaim, type CheckedClaim } from "./promise_check.ts";
import { LiveBookingCheck } from "./live_check.ts";
import {
  type ParsedSummary,
  parseSummaryAnswer,
  type SummaryRecord,
  type SummaryStatus,
} from "./summary_schema.ts";
import { askForSummary, ConversationItems, type OutOfBandSession } from "./summary_request.ts";
import { SUMMARY_QUESTION, summaryInstructions } from "./summary_prompt.ts";

export type { CheckedClaim, SummaryRecord };

/** What the promise check adds to the call record (`extra.promises`). */
export interface PromisesRecord {
  checked: CheckedClaim[];
  verified: number;
  mismatches: number;
  unverifiable: number;
}

/** Options of {@linkcode AfterCall}. */
export interface AfterCallOptions {
  session: OutOfBandSession;
  /** This call's bookings (`BookingStore.bookingsForCall`). */
  bookings: () => Promise<Booking[]>;
  /** The business profile in force. */
  profile: () => BusinessProfile;
  /** `SUMMARY` and `SUMMARY_TIMEOUT_SECONDS` (ms). */
  summary: { enabled: boolean; timeoutMs: number };
  clock: Clock;
  /** The current instant (the call's date in the prompt). */
  now: () => Temporal.Instant;
  metrics?: Metrics;
  log: Logger;
}

/** The summary budget kept back for checking and writing the record, ms. */
const RESERVE_MS = 1000;

/** One call's after-call work. Create it when the call starts. */
export class AfterCall {
  readonly #o: AfterCallOptions;
  readonly #items: ConversationItems;
  readonly #live: LiveBookingCheck;

  constructor(options: AfterCallOptions) {
    this.#o = options;
    this.#items = new ConversationItems(options.session);
    this.#live = new LiveBookingCheck({
      session: options.session,
      bookings: options.bookings,
      profile: options.profile,
      log: options.log,
      now: () => new Date(options.clock.wallNow()).toISOString(),
      onChecked: (f) => options.metrics?.promiseChecks.inc({ kind: f.kind, result: f.status }),
    });
  }

  /**
   * The call is over: summary, checks, record fields. Waits for the model at most the
   * summary timeout less a moment for the rest, or until `stop` (shutdown) aborts.
   */
  async run(ctx: AfterEndContext, stop?: AbortSignal): Promise<void> {
    const { log, metrics, summary: config } = this.#o;
    const live = await this.#live.stop();
    const budget = timeoutSignal(
      this.#o.clock,
      Math.max(0, config.timeoutMs - Math.min(RESERVE_MS, config.timeoutMs / 4)),
      "summary timed out",
    );
    let asked: ParsedSummary;
    let claims: CheckedClaim[] = [];
    try {
      const signal = AbortSignal.any([ctx.signal, budget.signal, ...(stop ? [stop] : [])]);
      asked = config.enabled ? await this.#summarize(signal) : noSummary("off", "SUMMARY=off");
      if (asked.record.status === "timeout" && stop?.aborted) {
        asked = noSummary("timeout", "the service shut down before the model answered");
      }
      if (asked.claims.length + asked.unreadable.length > 0) claims = await this.#check(asked);
    } finally {
      budget.cancel();
      this.#items.stop();
    }
    const summary = asked.record;
    metrics?.summaries.inc({ result: summary.status });
    if (summary.status === "ok") {
      log.info("call summary: {intent} ({outcome})", {
        intent: summary.intent,
        outcome: summary.outcome,
        followUp: summary.followUp?.needed ?? false,
      });
    } else if (summary.status === "off") {
      log.debug("{note}", { note: summary.note });
    } else log.warn("{note}", { note: summary.note, error: summary.error });

    const checked = [...live, ...claims];
    const count = (status: CheckedClaim["status"]) =>
      checked.filter((c) => c.status === status).length;
    const promises: PromisesRecord = {
      checked,
      verified: count("verified"),
      mismatches: count("mismatch"),
      unverifiable: count("unverifiable"),
    };
    ctx.annotate("summary", summary);
    ctx.annotate("promises", promises);
    ctx.annotate("flagged", promises.mismatches > 0);
    if (promises.mismatches > 0) {
      metrics?.flaggedCalls.inc();
      log.warn(
        "call flagged: {count} of the agent's claims do not match the database or profile",
        {
          count: promises.mismatches,
          mismatches: checked.filter((c) => c.status === "mismatch").map((c) => ({
            kind: c.kind,
            claim: c.claim,
            truth: c.truth,
          })),
        },
      );
    }
  }

  /** Asks the model; its answer parsed into the record and the claims to check. */
  async #summarize(signal: AbortSignal): Promise<ParsedSummary> {
    const profile = this.#o.profile();
    const answer = await askForSummary({
      session: this.#o.session,
      itemIds: [...this.#items.ids],
      instructions: summaryInstructions(profile, todayInZone(profile, this.#o.now())),
      question: SUMMARY_QUESTION,
      signal,
    });
    switch (answer.kind) {
      case "text":
        return parseSummaryAnswer(answer.text);
      case "timeout":
        return noSummary("timeout", "the model did not answer in time");
      case "unavailable":
        return noSummary("unavailable", answer.reason);
      case "failed":
        return noSummary("failed", "the model refused or did not finish", answer.reason);
    }
  }

  /** Checks the summary's claims against this call's bookings and the profile. */
  async #check(summary: ParsedSummary): Promise<CheckedClaim[]> {
    let bookings: Booking[] | undefined;
    let dbError = "";
    try {
      bookings = await this.#o.bookings();
    } catch (error) {
      dbError = errorMessage(error);
    }
    const profile = this.#o.profile();
    const out: CheckedClaim[] = summary.claims.map((claim) => {
      const needsDb = claim.type !== "price" && claim.type !== "hours";
      const verdict = needsDb && bookings === undefined
        ? { status: "unverifiable" as const, truth: `the database could not be asked: ${dbError}` }
        : checkClaim(claim, { profile, bookings: bookings ?? [] });
      return { kind: claim.type, claim: { ...claim }, ...verdict, source: "summary" as const };
    });
    for (const u of summary.unreadable) {
      out.push({
        kind: "other",
        claim: { raw: u.raw },
        status: "unverifiable",
        truth: `not a claim the check understands: ${u.error}`,
        source: "summary",
      });
    }
    for (const c of out) this.#o.metrics?.promiseChecks.inc({ kind: c.kind, result: c.status });
    return out;
  }
}

/** A parsed summary that is not there, with why. */
function noSummary(status: SummaryStatus, why: string, error?: string): ParsedSummary {
  return {
    record: { status, note: `no summary: ${why}`, ...(error ? { error } : {}) },
    claims: [],
    unreadable: [],
  };
}
