/**
 * When a reminder goes out: `REMINDER_HOURS_BEFORE` before the appointment, moved into the
 * business's calling window (profile `callingWindow`, default 09:00-19:00 local time, never
 * on a closed date), computed with Temporal in the business time zone (DST included).
 *
 * Pure functions of their arguments; instants are epoch milliseconds.
 *
 * @module
 */
import {
  type BusinessProfile,
  type CallingWindow,
  DEFAULT_CALLING_WINDOW,
  minutesOfDay,
} from "../booking/business.ts";
import { closedDateEntry } from "../booking/availability.ts";
import type { ReminderChannel } from "../booking/types.ts";

/** A reminder is never placed less than this before the appointment starts. */
export const MIN_LEAD_MS = 60 * 60_000;

/** How far ahead the window search looks (a year of closed dates is absurd, not endless). */
const SEARCH_DAYS = 400;

/** What decides when reminders go out. */
export interface ReminderPolicy {
  profile: BusinessProfile;
  /** `REMINDER_HOURS_BEFORE`. */
  hoursBefore: number;
  /** `REMINDER_RETRY_MINUTES`. */
  retryMinutes: number;
  /** `REMINDERS`: call (texts only as a fallback) or sms. */
  mode: "call" | "sms";
  /** Whether texts can be sent (a sender number is configured). */
  smsEnabled: boolean;
}

/** A planned attempt, or none. */
export type Plan =
  | { kind: "due"; channel: ReminderChannel; dueMs: number }
  | { kind: "none"; reason: "too_late" };

/** The profile's calling window (or the default). */
export function callingWindowOf(profile: BusinessProfile): CallingWindow {
  return profile.callingWindow ?? DEFAULT_CALLING_WINDOW;
}

/** The window of one local date as instants `[start, end)`, or undefined on a closed date. */
export function windowOn(
  profile: BusinessProfile,
  date: Temporal.PlainDate,
): { startMs: number; endMs: number } | undefined {
  if (closedDateEntry(profile, date)) return undefined;
  const w = callingWindowOf(profile);
  const at = (minutes: number) =>
    date.add({ days: Math.floor(minutes / 1440) }).toZonedDateTime({
      timeZone: profile.timeZone,
      plainTime: { hour: Math.floor((minutes % 1440) / 60), minute: minutes % 60 },
    }).epochMilliseconds;
  const startMs = at(minutesOfDay(w.start));
  const endMs = at(minutesOfDay(w.end));
  return endMs > startMs ? { startMs, endMs } : undefined;
}

function localDate(profile: BusinessProfile, ms: number): Temporal.PlainDate {
  return Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(profile.timeZone)
    .toPlainDate();
}

/** True when `ms` lies inside a calling window. */
export function inWindow(profile: BusinessProfile, ms: number): boolean {
  const w = windowOn(profile, localDate(profile, ms));
  return w !== undefined && ms >= w.startMs && ms < w.endMs;
}

/** The first moment at or after `ms` inside a calling window. */
export function nextWindowMoment(profile: BusinessProfile, ms: number): number | undefined {
  let date = localDate(profile, ms);
  for (let i = 0; i < SEARCH_DAYS; i++, date = date.add({ days: 1 })) {
    const w = windowOn(profile, date);
    if (!w || ms >= w.endMs) continue;
    return Math.max(ms, w.startMs);
  }
  return undefined;
}

/** The last moment at or before `ms` inside a calling window (its final minute, if past it). */
export function lastWindowMoment(profile: BusinessProfile, ms: number): number | undefined {
  let date = localDate(profile, ms);
  for (let i = 0; i < SEARCH_DAYS; i++, date = date.subtract({ days: 1 })) {
    const w = windowOn(profile, date);
    if (!w || ms < w.startMs) continue;
    return Math.min(ms, w.endMs - 60_000);
  }
  return undefined;
}

/**
 * Plans the first attempt of a reminder for an appointment starting at `startMs`, booked
 * (or last moved) at `sinceMs`:
 * - due `hoursBefore` before the start, moved to the nearest moment inside the calling
 *   window (earlier or later, whichever is closer; never before `sinceMs`, never later than
 *   {@linkcode MIN_LEAD_MS} before the start);
 * - a booking made after that moment gets no call; it gets a text (as soon as the window
 *   allows) when texts can be sent, otherwise nothing (`too_late`).
 */
export function planReminder(
  policy: ReminderPolicy,
  booking: { startMs: number; sinceMs: number },
): Plan {
  const { profile } = policy;
  const latestMs = booking.startMs - MIN_LEAD_MS;
  const idealMs = booking.startMs - policy.hoursBefore * 3_600_000;
  const channel: ReminderChannel = policy.mode === "sms" ? "sms" : "call";
  if (idealMs >= booking.sinceMs) {
    const earlier = lastWindowMoment(profile, idealMs);
    const later = nextWindowMoment(profile, idealMs);
    const candidates = [
      ...(earlier !== undefined && earlier >= booking.sinceMs && earlier <= latestMs
        ? [earlier]
        : []),
      ...(later !== undefined && later <= latestMs ? [later] : []),
    ].sort((a, b) => Math.abs(a - idealMs) - Math.abs(b - idealMs) || a - b);
    if (candidates.length > 0) return { kind: "due", channel, dueMs: candidates[0] };
  }
  return textInstead(policy, booking.sinceMs, latestMs);
}

/** A text as soon as the window allows after `fromMs`, when texts can go out in time. */
function textInstead(policy: ReminderPolicy, fromMs: number, latestMs: number): Plan {
  if (!policy.smsEnabled) return { kind: "none", reason: "too_late" };
  const at = nextWindowMoment(policy.profile, fromMs);
  return at !== undefined && at <= latestMs
    ? { kind: "due", channel: "sms", dueMs: at }
    : { kind: "none", reason: "too_late" };
}

/**
 * After a call went unanswered (or failed): the one retry `retryMinutes` later inside the
 * window, when this round has had only one call and the retry still fits before the
 * appointment; otherwise a text (when texts can be sent); otherwise nothing.
 */
export function planAfterNoAnswer(
  policy: ReminderPolicy,
  args: { startMs: number; nowMs: number; callsThisRound: number },
): Plan {
  const latestMs = args.startMs - MIN_LEAD_MS;
  if (args.callsThisRound < 2) {
    const at = nextWindowMoment(policy.profile, args.nowMs + policy.retryMinutes * 60_000);
    if (at !== undefined && at <= latestMs) return { kind: "due", channel: "call", dueMs: at };
  }
  return textInstead(policy, args.nowMs, latestMs);
}

/**
 * Checked when a due reminder is claimed (the service may have been down, the clock may be
 * past the window): go now, wait for the next window, or give up.
 */
export function checkDue(
  policy: ReminderPolicy,
  args: { startMs: number; nowMs: number },
): { kind: "go" } | { kind: "wait"; dueMs: number } | { kind: "none"; reason: "too_late" } {
  const latestMs = args.startMs - MIN_LEAD_MS;
  if (args.nowMs > latestMs) return { kind: "none", reason: "too_late" };
  if (inWindow(policy.profile, args.nowMs)) return { kind: "go" };
  const next = nextWindowMoment(policy.profile, args.nowMs);
  return next !== undefined && next <= latestMs
    ? { kind: "wait", dueMs: next }
    : { kind: "none", reason: "too_late" };
}
