/**
 * What both store backends share about reminders: reading a `reminders` row, the states a
 * claim looks at, and the checks on a changed reminder before it is written.
 *
 * The rows themselves are kept in step with their booking by database triggers (see the
 * backends' migrations): inserting a confirmed booking creates its reminder, cancelling
 * ends it (`done`, `dropped`), moving it starts a new round (`scheduled`, due time to be
 * planned). So the reminder always changes in the booking's own transaction, without the
 * booking code knowing about reminders.
 *
 * @module
 */
import type { Reminder, ReminderAttempt, ReminderChannel, ReminderState } from "./types.ts";
import type { RowDialect, SqlRow } from "./store_core.ts";

/** Every reminder state. */
export const REMINDER_STATES: readonly ReminderState[] = [
  "scheduled",
  "dialing",
  "answered",
  "voicemail",
  "no_answer",
  "failed",
  "done",
];

/** States that wait for their due time. */
export const WAITING_STATES: readonly ReminderState[] = ["scheduled", "no_answer", "failed"];

/** States with an attempt in flight (a lease or watchdog guards them). */
export const IN_FLIGHT_STATES: readonly ReminderState[] = ["dialing", "answered", "voicemail"];

/** `('a', 'b')` for SQL `IN` lists of fixed, known words. */
export function sqlList(words: readonly string[]): string {
  return `(${words.map((w) => `'${w}'`).join(", ")})`;
}

/** Reads a `reminders` row. */
export function readReminderRow(r: SqlRow, d: RowDialect): Reminder {
  const t = (name: string) => {
    const v = r[name + d.timeSuffix];
    return v === null || v === undefined ? null : d.ms(v);
  };
  return {
    bookingId: String(r.booking_id),
    state: String(r.state) as ReminderState,
    channel: String(r.channel) as ReminderChannel,
    round: Number(r.round),
    dueMs: t("due"),
    sinceMs: t("since") ?? 0,
    result: r.result === null ? null : String(r.result),
    attempts: d.json(r.attempts) as ReminderAttempt[],
    leaseOwner: r.lease_owner === null ? null : String(r.lease_owner),
    leaseUntilMs: t("lease_until"),
    lastDialMs: t("last_dial"),
    updatedMs: t("updated") ?? 0,
  };
}

/**
 * Checks a reminder a change function returned before it is written: same booking, a known
 * state and channel, attempts a list. A bug upstream must not corrupt the queue.
 */
export function checkReminder(before: Reminder, after: Reminder): void {
  if (after.bookingId !== before.bookingId) {
    throw new TypeError("a reminder change may not change its booking");
  }
  if (!REMINDER_STATES.includes(after.state)) throw new TypeError(`bad state ${after.state}`);
  if (after.channel !== "call" && after.channel !== "sms") {
    throw new TypeError(`bad channel ${after.channel}`);
  }
  if (!Array.isArray(after.attempts)) throw new TypeError("attempts must be a list");
}
