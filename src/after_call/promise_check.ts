/**
 * The agent's promises checked by code against the truth: a booking claim against the
 * confirmed bookings this call made (same service, same start in the business's time
 * zone), a cancellation against the bookings it cancelled, a reschedule against where the
 * booking now is, a price against the profile's price list, opening hours against the
 * profile's hours for that day. Each claim comes back `verified`, `mismatch` (with what the
 * database or the profile says) or `unverifiable` (with why). The model only extracts
 * claims; it never decides whether they were true.
 *
 * @module
 */
import { type BusinessProfile, findService, WEEKDAYS } from "../booking/business.ts";
import type { Booking } from "../booking/types.ts";
import { closedDateEntry, weekdayOf } from "../booking/availability.ts";
import type { Claim, ClaimKind } from "./summary_schema.ts";

/** The verdict on one claim. */
export type ClaimStatus = "verified" | "mismatch" | "unverifiable";

/** A claim with its verdict, as the call record keeps it (`extra.promises.checked`). */
export interface CheckedClaim {
  kind: ClaimKind | "live_booking";
  /** The claim as extracted (or, live, the agent's words). */
  claim: Record<string, unknown>;
  status: ClaimStatus;
  /** What the database or the profile says (for a mismatch), or why it cannot be checked. */
  truth?: string;
  /** From the after-call summary, or from the live transcript during the call. */
  source: "summary" | "live";
  /** When (UTC ISO), for live findings. */
  at?: string;
}

/** What a claim is checked against. */
export interface CallTruth {
  profile: BusinessProfile;
  /** The bookings this call made or changed (`BookingStore.bookingsForCall`). */
  bookings: readonly Booking[];
}

/** A verdict without its source. */
export type Verdict = { status: ClaimStatus; truth?: string };

/** Checks one claim extracted by the summary. */
export function checkClaim(claim: Claim, truth: CallTruth): Verdict {
  switch (claim.type) {
    case "booking":
      return checkBooking(claim, truth);
    case "reschedule":
      return checkBooking(claim, truth, "moved");
    case "cancellation":
      return checkCancellation(claim, truth);
    case "price":
      return checkPrice(claim, truth.profile);
    case "hours":
      return checkHours(claim, truth.profile);
  }
}

/** The parts of a booking statement that can be compared; missing parts are not compared. */
export interface BookingStatement {
  service?: string;
  /** `YYYY-MM-DD`. */
  date?: string;
  /** A clock time: `14:00`, `2 PM`, `2:30 p.m.`. */
  time?: string;
  reference?: string;
}

/**
 * A booking (or, with `verb` "moved", a reschedule) statement against the confirmed
 * bookings of this call: verified when one matches every part given.
 */
export function checkBooking(
  s: BookingStatement,
  truth: CallTruth,
  verb: "booked" | "moved" = "booked",
): Verdict {
  const { profile } = truth;
  const parts = statementParts(s, profile);
  if ("status" in parts) return parts;
  const confirmed = truth.bookings.filter((b) => b.status === "confirmed");
  if (confirmed.length === 0) {
    return {
      status: "mismatch",
      truth: verb === "moved"
        ? "no booking of this call is confirmed at a new time"
        : "no confirmed booking was made in this call",
    };
  }
  const match = confirmed.find((b) => matches(b, parts, profile));
  if (match) return { status: "verified", truth: describe(match, profile) };
  return {
    status: "mismatch",
    truth: `this call's confirmed bookings: ${
      confirmed.map((b) => describe(b, profile)).join("; ")
    }`,
  };
}

/** A cancellation against the bookings this call cancelled. */
export function checkCancellation(s: BookingStatement, truth: CallTruth): Verdict {
  const parts = statementParts(s, truth.profile);
  if ("status" in parts) return parts;
  const cancelled = truth.bookings.filter((b) => b.status === "cancelled");
  if (cancelled.length === 0) {
    return { status: "mismatch", truth: "no booking was cancelled in this call" };
  }
  const match = cancelled.find((b) => matches(b, parts, truth.profile));
  if (match) return { status: "verified", truth: describe(match, truth.profile) };
  return {
    status: "mismatch",
    truth: `cancelled in this call: ${cancelled.map((b) => describe(b, truth.profile)).join("; ")}`,
  };
}

/** A quoted price against the profile's price for the service. */
export function checkPrice(
  claim: { service: string; amount: number; currency?: string },
  profile: BusinessProfile,
): Verdict {
  const service = findService(profile, claim.service);
  if (!service) {
    return { status: "unverifiable", truth: `the profile has no service "${claim.service}"` };
  }
  const price = `${service.name} costs ${service.price} ${service.currency}`;
  const sameCurrency = !claim.currency ||
    claim.currency.toUpperCase() === service.currency.toUpperCase();
  const ok = sameCurrency && Math.abs(claim.amount - service.price) < 0.005;
  return { status: ok ? "verified" : "mismatch", truth: price };
}

/** Opening hours stated for a day against the profile's hours (and closed dates). */
export function checkHours(
  claim: { day: string; open?: string; close?: string; closed?: boolean },
  profile: BusinessProfile,
): Verdict {
  const day = dayOf(claim.day);
  if (!day) return { status: "unverifiable", truth: `"${claim.day}" is not a day or a date` };
  const holiday = day.date ? closedDateEntry(profile, day.date) : undefined;
  const ranges = holiday ? [] : profile.openingHours[day.weekday];
  const name = day.date?.toString() ?? day.weekday[0].toUpperCase() + day.weekday.slice(1);
  const actual = ranges.length === 0
    ? `${name}: closed${holiday?.reason ? ` (${holiday.reason})` : ""}`
    : `${name}: ${ranges.map((r) => `${r.open}-${r.close}`).join(", ")}`;
  if (claim.closed === true) {
    return { status: ranges.length === 0 ? "verified" : "mismatch", truth: actual };
  }
  const open = claim.open === undefined ? undefined : clockTime(claim.open);
  const close = claim.close === undefined ? undefined : clockTime(claim.close, true);
  if (open === null || close === null) {
    return { status: "unverifiable", truth: "a time the check cannot read" };
  }
  if (open === undefined && close === undefined && claim.closed === undefined) {
    return { status: "unverifiable", truth: "no hours stated" };
  }
  if (ranges.length === 0) return { status: "mismatch", truth: actual };
  const ok = (open === undefined || open === ranges[0].open) &&
    (close === undefined || close === ranges.at(-1)!.close);
  return { status: ok ? "verified" : "mismatch", truth: actual };
}

// ---------------------------------------------------------------------------------------

interface Parts {
  serviceId?: string;
  date?: string;
  time?: string;
  reference?: string;
}

/** The comparable parts of a statement, or the reason it cannot be checked. */
function statementParts(s: BookingStatement, profile: BusinessProfile): Parts | Verdict {
  const parts: Parts = {};
  if (s.service) {
    const service = findService(profile, s.service);
    if (!service) {
      return { status: "unverifiable", truth: `the profile has no service "${s.service}"` };
    }
    parts.serviceId = service.id;
  }
  if (s.date) {
    if (!isIsoDate(s.date)) return { status: "unverifiable", truth: `"${s.date}" is not a date` };
    parts.date = s.date;
  }
  if (s.time) {
    const time = clockTime(s.time);
    if (!time) return { status: "unverifiable", truth: `"${s.time}" is not a clock time` };
    parts.time = time;
  }
  if (s.reference) parts.reference = s.reference.trim().toUpperCase();
  return parts;
}

function matches(b: Booking, p: Parts, profile: BusinessProfile): boolean {
  const local = Temporal.Instant.from(b.start).toZonedDateTimeISO(profile.timeZone);
  return (p.serviceId === undefined || b.serviceId === p.serviceId) &&
    (p.date === undefined || local.toPlainDate().toString() === p.date) &&
    (p.time === undefined || hhmm(local.hour, local.minute) === p.time) &&
    (p.reference === undefined || b.id.toUpperCase() === p.reference);
}

function describe(b: Booking, profile: BusinessProfile): string {
  const local = Temporal.Instant.from(b.start).toZonedDateTimeISO(profile.timeZone);
  return `${b.serviceName} on ${local.toPlainDate()} at ${hhmm(local.hour, local.minute)} ` +
    `(${b.label}, ref ${b.id}, ${b.status})`;
}

function isIsoDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  try {
    Temporal.PlainDate.from(s, { overflow: "reject" });
    return true;
  } catch {
    return false;
  }
}

function hhmm(hour: number, minute: number): string {
  return `${String(hour).padStart(2, "0")}:${String(minute).padStart(2, "0")}`;
}

/**
 * A clock time as `HH:MM` (24-hour): `14:00`, `14:00:00`, `2 PM`, `2:30 p.m.`, `noon`.
 * `null` when it cannot be read; with `endOfDay`, `midnight`/`24:00` is `24:00`.
 *
 * @example
 * ```ts
 * clockTime("3 PM"); // "15:00"
 * clockTime("9:30 a.m."); // "09:30"
 * ```
 */
export function clockTime(text: string, endOfDay = false): string | null {
  const s = text.trim().toLowerCase().replace(/\./g, "");
  if (s === "noon" || s === "midday") return "12:00";
  if (s === "midnight") return endOfDay ? "24:00" : "00:00";
  const m = /^(\d{1,2})(?::(\d{2}))?(?::\d{2})?\s*(am|pm)?$/.exec(s);
  if (!m) return null;
  let hour = Number(m[1]);
  const minute = Number(m[2] ?? "0");
  const period = m[3];
  if (minute > 59) return null;
  if (period) {
    if (hour < 1 || hour > 12) return null;
    hour = (hour % 12) + (period === "pm" ? 12 : 0);
  } else if (m[2] === undefined) return null; // a bare "3" is not a time
  if (hour === 24 && minute === 0 && endOfDay) return "24:00";
  if (hour > 23) return null;
  return hhmm(hour, minute);
}

/** A weekday name or an ISO date, as the weekday (and the date, when given). */
function dayOf(
  text: string,
): { weekday: typeof WEEKDAYS[number]; date?: Temporal.PlainDate } | undefined {
  const s = text.trim().toLowerCase();
  const weekday = WEEKDAYS.find((d) => d === s || d.slice(0, 3) === s || `${d}s` === s);
  if (weekday) return { weekday };
  if (!isIsoDate(text.trim())) return undefined;
  const date = Temporal.PlainDate.from(text.trim());
  return { weekday: weekdayOf(date), date };
}
