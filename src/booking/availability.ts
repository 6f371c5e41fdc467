/**
 * Availability: which start times are free, computed with Temporal in the business time zone.
 *
 * Everything here is a pure function of its arguments; the current time is passed in as
 * `now: Temporal.Instant` so tests (and the store) decide what "now" is. Intervals are
 * half-open `[start, end)`: a booking ending at 10:00 does not overlap one starting at 10:00.
 *
 * Rules for a start time to be free:
 * - the local date is not a closed date and its weekday has opening ranges;
 * - the start lies on the slot grid (range open + k × step, in wall-clock time) and the whole
 *   service duration (elapsed time) fits before the range closes;
 * - it is at least `minNoticeMinutes` after `now` and its date is at most
 *   `bookingHorizonDays` after today (today in the business zone);
 * - at no instant of `[start, end)` are `capacity` confirmed bookings already running.
 *
 * DST: wall-clock times that do not exist (spring forward) are skipped; times that happen
 * twice (fall back) yield two distinct slots, told apart by their UTC offset.
 *
 * @module
 */
import {
  type BusinessProfile,
  type ClosedDate,
  minutesOfDay,
  type Service,
  WEEKDAYS,
} from "./business.ts";

/** A time interval already taken by a confirmed booking. */
export interface BookingInterval {
  /** Start, inclusive. */
  start: Temporal.Instant;
  /** End, exclusive. */
  end: Temporal.Instant;
}

/** A free start time, ready to be read to a caller and echoed back by the model. */
export interface Slot {
  /** ISO-8601 start with offset, e.g. `2026-11-26T15:00:00-05:00`. */
  start: string;
  /** ISO-8601 end with offset. */
  end: string;
  /** Spoken label, e.g. `Thursday 26 November at 3:00 PM`. */
  label: string;
}

/** Why a particular start time cannot be booked. */
export type UnavailableReason =
  | "in_past"
  | "too_soon"
  | "beyond_horizon"
  | "closed"
  | "outside_hours"
  | "off_grid"
  | "full";

/** Outcome of {@linkcode evaluateStart}. */
export type StartEvaluation =
  | { ok: true; start: Temporal.ZonedDateTime; end: Temporal.ZonedDateTime }
  | { ok: false; reason: UnavailableReason; message: string };

/** Input of {@linkcode freeSlots}. */
export interface FreeSlotsInput {
  /** The business. */
  profile: BusinessProfile;
  /** The service to fit. */
  service: Service;
  /** Local date in the business zone. */
  date: Temporal.PlainDate;
  /** The current instant. */
  now: Temporal.Instant;
  /** Confirmed bookings that may overlap the date (others are ignored). */
  existing: readonly BookingInterval[];
}

/** Today's date in the business time zone (not the server's). */
export function todayInZone(profile: BusinessProfile, now: Temporal.Instant): Temporal.PlainDate {
  return now.toZonedDateTimeISO(profile.timeZone).toPlainDate();
}

/** Weekday key (`"monday"`…) of a date. */
export function weekdayOf(date: Temporal.PlainDate): typeof WEEKDAYS[number] {
  return WEEKDAYS[date.dayOfWeek - 1];
}

/** The closed-date entry for a date, if the business is closed that day as an exception. */
export function closedDateEntry(
  profile: BusinessProfile,
  date: Temporal.PlainDate,
): ClosedDate | undefined {
  const iso = date.toString();
  return profile.closedDates.find((c) => c.date === iso);
}

/** True when the business has opening hours on that date (weekday open and not a holiday). */
export function isOpenOn(profile: BusinessProfile, date: Temporal.PlainDate): boolean {
  return profile.openingHours[weekdayOf(date)].length > 0 && !closedDateEntry(profile, date);
}

/** Last date that may be booked: today (business zone) + `bookingHorizonDays`. */
export function lastBookableDate(
  profile: BusinessProfile,
  now: Temporal.Instant,
): Temporal.PlainDate {
  return todayInZone(profile, now).add({ days: profile.bookingHorizonDays });
}

/** An opening range of one date as real instants (epoch ms). */
interface DayWindow {
  openMinute: number;
  closeMinute: number;
  open: Temporal.ZonedDateTime;
  openMs: number;
  closeMs: number;
}

function atMinute(
  date: Temporal.PlainDate,
  minute: number,
  timeZone: string,
  disambiguation: "compatible" | "later",
): Temporal.ZonedDateTime {
  if (minute >= 1440) return date.add({ days: 1 }).toZonedDateTime({ timeZone });
  if (minute === 0) return date.toZonedDateTime({ timeZone }); // start of day, even if 00:00 is skipped
  const plain = date.toPlainDateTime({ hour: Math.floor(minute / 60), minute: minute % 60 });
  return plain.toZonedDateTime(timeZone, { disambiguation });
}

/**
 * The opening ranges of a date as instants. An opening time inside a DST gap opens when the
 * clocks jump; a bound that happens twice takes the widest reading (first open, last close).
 */
function dayWindows(profile: BusinessProfile, date: Temporal.PlainDate): DayWindow[] {
  if (closedDateEntry(profile, date)) return [];
  return profile.openingHours[weekdayOf(date)].map((r) => {
    const openMinute = minutesOfDay(r.open);
    const closeMinute = minutesOfDay(r.close);
    const open = atMinute(date, openMinute, profile.timeZone, "compatible");
    return {
      openMinute,
      closeMinute,
      open,
      openMs: open.epochMilliseconds,
      closeMs: atMinute(date, closeMinute, profile.timeZone, "later").epochMilliseconds,
    };
  });
}

/** An interval as epoch milliseconds (internal, cheaper than Instants in loops). */
interface MsInterval {
  s: number;
  e: number;
}

function toMs(existing: readonly BookingInterval[]): MsInterval[] {
  return existing.map((b) => ({ s: b.start.epochMilliseconds, e: b.end.epochMilliseconds }));
}

function peakMs(existing: readonly MsInterval[], s: number, e: number): number {
  // The count can only rise where an interval starts, so probing `s` and every interval
  // start inside the window finds the peak.
  let peak = 0;
  for (const probe of existing) {
    const p = probe.s > s ? probe.s : s;
    if (p >= e || probe.e <= s) continue;
    let n = 0;
    for (const b of existing) if (b.s <= p && b.e > p) n++;
    if (n > peak) peak = n;
  }
  return peak;
}

/** Highest number of intervals running at the same time anywhere inside `[start, end)`. */
export function peakOverlap(
  existing: readonly BookingInterval[],
  start: Temporal.Instant,
  end: Temporal.Instant,
): number {
  return peakMs(toMs(existing), start.epochMilliseconds, end.epochMilliseconds);
}

/** A candidate start: epoch ms and the UTC offset in force then (e.g. `-05:00`). */
interface GridStart {
  ms: number;
  offset: string;
}

/** Every grid start of a date that fits the service in its range, before notice/capacity. */
function gridStarts(
  profile: BusinessProfile,
  service: Service,
  date: Temporal.PlainDate,
): GridStart[] {
  const duration = service.durationMinutes * 60_000;
  const step = profile.slotStepMinutes;
  const out: GridStart[] = [];
  for (const w of dayWindows(profile, date)) {
    const transition = w.open.getTimeZoneTransition("next");
    const openWall = w.open.hour * 60 + w.open.minute;
    if (
      (transition === null || transition.epochMilliseconds >= w.closeMs) &&
      w.open.toPlainDate().equals(date)
    ) {
      // Common case: one UTC offset for the whole range, so wall minutes map linearly.
      for (let m = w.openMinute; m < w.closeMinute; m += step) {
        if (m < openWall) continue;
        const ms = w.openMs + (m - openWall) * 60_000;
        if (ms + duration > w.closeMs) break;
        out.push({ ms, offset: w.open.offset });
      }
      continue;
    }
    // The clocks change inside this range: resolve every wall-clock time on its own.
    for (let m = w.openMinute; m < w.closeMinute; m += step) {
      const plain = date.toPlainDateTime({ hour: Math.floor(m / 60), minute: m % 60 });
      // 0 instants in a spring-forward gap, 2 in a fall-back overlap.
      for (const instant of possibleInstants(plain, profile.timeZone)) {
        const ms = instant.epochMilliseconds;
        if (ms < w.openMs || ms + duration > w.closeMs) continue;
        out.push({ ms, offset: instant.toZonedDateTimeISO(profile.timeZone).offset });
      }
    }
  }
  out.sort((a, b) => a.ms - b.ms);
  return out;
}

/** All instants at which a wall-clock time happens in a zone (0, 1 or 2 of them). */
export function possibleInstants(
  plain: Temporal.PlainDateTime,
  timeZone: string,
): Temporal.Instant[] {
  const earlier = plain.toZonedDateTime(timeZone, { disambiguation: "earlier" });
  const later = plain.toZonedDateTime(timeZone, { disambiguation: "later" });
  const result: Temporal.Instant[] = [];
  // In a gap, "earlier"/"later" shift the wall clock; such a time does not exist.
  if (earlier.toPlainDateTime().equals(plain)) result.push(earlier.toInstant());
  if (!later.toInstant().equals(earlier.toInstant()) && later.toPlainDateTime().equals(plain)) {
    result.push(later.toInstant());
  }
  return result;
}

/** Turns a zoned start into a {@linkcode Slot} for a service. */
export function toSlot(
  profile: BusinessProfile,
  service: Service,
  start: Temporal.ZonedDateTime,
): Slot {
  const end = start.add({ minutes: service.durationMinutes });
  return {
    start: isoWithOffset(start),
    end: isoWithOffset(end),
    label: spokenLabel(start, profile.locale),
  };
}

/** ISO-8601 with offset and no zone annotation, e.g. `2026-11-26T15:00:00-05:00`. */
export function isoWithOffset(zdt: Temporal.ZonedDateTime): string {
  return zdt.toString({ timeZoneName: "never", smallestUnit: "second" });
}

/** Same as {@linkcode isoWithOffset} from epoch ms and an offset, without Temporal objects. */
function isoAt(ms: number, offset: string, timeZone: string): string {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  if (!m) {
    return isoWithOffset(Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(timeZone));
  }
  const minutes = (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  return new Date(ms + minutes * 60_000).toISOString().slice(0, 19) + offset;
}

function slotAt(profile: BusinessProfile, service: Service, g: GridStart): Slot {
  const endMs = g.ms + service.durationMinutes * 60_000;
  const end = Temporal.Instant.fromEpochMilliseconds(endMs).toZonedDateTimeISO(profile.timeZone);
  return {
    start: isoAt(g.ms, g.offset, profile.timeZone),
    end: isoAt(endMs, end.offset, profile.timeZone),
    label: labelAt(g.ms, profile.timeZone, profile.locale),
  };
}

/**
 * Free start times for a service on a local date, in order.
 *
 * @example
 * ```ts
 * import type { BusinessProfile, Service } from "./business.ts";
 * declare const profile: BusinessProfile;
 * declare const service: Service;
 * const slots = freeSlots({ profile, service, date: Temporal.PlainDate.from("2026-11-27"),
 *   now: Temporal.Now.instant(), existing: [] });
 * slots[0]; // { start: "2026-11-27T09:00:00-05:00", end: "…", label: "Friday 27 November at 9:00 AM" }
 * ```
 */
export function freeSlots(input: FreeSlotsInput): Slot[] {
  const { profile, service, date, now, existing } = input;
  if (Temporal.PlainDate.compare(date, lastBookableDate(profile, now)) > 0) return [];
  if (Temporal.PlainDate.compare(date, todayInZone(profile, now)) < 0) return [];
  const earliest = now.epochMilliseconds + profile.minNoticeMinutes * 60_000;
  const duration = service.durationMinutes * 60_000;
  const taken = toMs(existing);
  const slots: Slot[] = [];
  for (const g of gridStarts(profile, service, date)) {
    if (g.ms < earliest) continue;
    if (peakMs(taken, g.ms, g.ms + duration) >= profile.capacity) continue;
    slots.push(slotAt(profile, service, g));
  }
  return slots;
}

/**
 * Decides whether one specific start can be booked, and if not, why. Used by the stores
 * inside their write transaction, with the bookings they just read.
 */
export function evaluateStart(input: {
  profile: BusinessProfile;
  service: Service;
  start: Temporal.ZonedDateTime;
  now: Temporal.Instant;
  existing: readonly BookingInterval[];
}): StartEvaluation {
  const { profile, service, now, existing } = input;
  const start = input.start.withTimeZone(profile.timeZone);
  const startInstant = start.toInstant();
  const date = start.toPlainDate();
  if (Temporal.Instant.compare(startInstant, now) <= 0) {
    return { ok: false, reason: "in_past", message: "That time has already passed." };
  }
  if (Temporal.Instant.compare(startInstant, now.add({ minutes: profile.minNoticeMinutes })) < 0) {
    return {
      ok: false,
      reason: "too_soon",
      message: `Bookings need at least ${profile.minNoticeMinutes} minutes' notice.`,
    };
  }
  if (Temporal.PlainDate.compare(date, lastBookableDate(profile, now)) > 0) {
    return {
      ok: false,
      reason: "beyond_horizon",
      message: `Bookings can be made at most ${profile.bookingHorizonDays} days ahead.`,
    };
  }
  const holiday = closedDateEntry(profile, date);
  if (holiday || profile.openingHours[weekdayOf(date)].length === 0) {
    return {
      ok: false,
      reason: "closed",
      message: holiday?.reason ? `Closed that day (${holiday.reason}).` : "Closed that day.",
    };
  }
  const endInstant = startInstant.add({ minutes: service.durationMinutes });
  const startMs = startInstant.epochMilliseconds;
  const endMs = endInstant.epochMilliseconds;
  const fits = dayWindows(profile, date).some((w) => startMs >= w.openMs && endMs <= w.closeMs);
  if (!fits) {
    return {
      ok: false,
      reason: "outside_hours",
      message:
        `A ${service.durationMinutes}-minute ${service.name} does not fit in the opening hours at that time.`,
    };
  }
  const onGrid = gridStarts(profile, service, date).some((g) => g.ms === startMs);
  if (!onGrid) {
    return {
      ok: false,
      reason: "off_grid",
      message: `Appointments start every ${profile.slotStepMinutes} minutes from opening time.`,
    };
  }
  if (peakMs(toMs(existing), startMs, endMs) >= profile.capacity) {
    return { ok: false, reason: "full", message: "That time is already fully booked." };
  }
  return { ok: true, start, end: start.add({ minutes: service.durationMinutes }) };
}

/**
 * Up to `limit` free slots near a wanted start: the closest ones on the same day first;
 * if that day has none, the first slots of the next open days (up to `searchDays` days).
 */
export function nearestSlots(input: {
  profile: BusinessProfile;
  service: Service;
  wanted: Temporal.ZonedDateTime;
  now: Temporal.Instant;
  /** Returns the confirmed bookings overlapping a local date. */
  existingOn: (date: Temporal.PlainDate) => readonly BookingInterval[];
  limit?: number;
  searchDays?: number;
}): Slot[] {
  const { profile, service, now, existingOn } = input;
  const limit = input.limit ?? 3;
  const searchDays = input.searchDays ?? 14;
  const wanted = input.wanted.withTimeZone(profile.timeZone);
  const today = todayInZone(profile, now);
  let date = wanted.toPlainDate();
  if (Temporal.PlainDate.compare(date, today) < 0) date = today;
  const sameDay = freeSlots({ profile, service, date, now, existing: existingOn(date) });
  if (sameDay.length > 0) {
    const target = wanted.epochMilliseconds;
    return sameDay
      .map((s) => ({ s, d: Math.abs(Date.parse(s.start) - target) }))
      .sort((a, b) => a.d - b.d || Date.parse(a.s.start) - Date.parse(b.s.start))
      .slice(0, limit)
      .map((x) => x.s)
      .sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  }
  const last = lastBookableDate(profile, now);
  for (let i = 1; i <= searchDays; i++) {
    const d = date.add({ days: i });
    if (Temporal.PlainDate.compare(d, last) > 0) break;
    if (!isOpenOn(profile, d)) continue;
    const slots = freeSlots({ profile, service, date: d, now, existing: existingOn(d) });
    if (slots.length > 0) return slots.slice(0, limit);
  }
  return [];
}

/** The instants bounding a local date in the business zone: `[start of day, start of next day)`. */
export function dayBounds(
  profile: BusinessProfile,
  date: Temporal.PlainDate,
): { start: Temporal.Instant; end: Temporal.Instant } {
  return {
    start: date.toZonedDateTime({ timeZone: profile.timeZone }).toInstant(),
    end: date.add({ days: 1 }).toZonedDateTime({ timeZone: profile.timeZone }).toInstant(),
  };
}

function cleanSpaces(s: string): string {
  return s.replace(/[\u00a0\u202f]/g, " ");
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A cached formatter (creating one costs far more than formatting with it). */
function formatter(locale: string, timeZone: string): Intl.DateTimeFormat {
  const key = `${locale}|${timeZone}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, {
      timeZone,
      weekday: "long",
      day: "numeric",
      month: "long",
      hour: "numeric",
      minute: "2-digit",
    });
    formatters.set(key, f);
  }
  return f;
}

function labelAt(ms: number, timeZone: string, locale: string): string {
  const f = formatter(locale, timeZone);
  if (!locale.toLowerCase().startsWith("en")) return cleanSpaces(f.format(ms));
  let weekday = "", day = "", month = "", hour = "", minute = "", period = "";
  for (const p of f.formatToParts(ms)) {
    if (p.type === "weekday") weekday = p.value;
    else if (p.type === "day") day = p.value;
    else if (p.type === "month") month = p.value;
    else if (p.type === "hour") hour = p.value;
    else if (p.type === "minute") minute = p.value;
    else if (p.type === "dayPeriod") period = p.value;
  }
  return `${weekday} ${day} ${month} at ${hour}:${minute}${period ? ` ${period}` : ""}`;
}

/**
 * A date and time phrased for speech, unambiguous and without abbreviations, e.g.
 * `Wednesday 26 November at 3:00 PM` for English locales; other locales get the
 * locale's own long format.
 */
export function spokenLabel(zdt: Temporal.ZonedDateTime, locale: string): string {
  return labelAt(zdt.epochMilliseconds, zdt.timeZoneId, locale);
}

/** A spoken date without time, e.g. `Wednesday 26 November`. */
export function spokenDate(date: Temporal.PlainDate, locale: string): string {
  if (locale.toLowerCase().startsWith("en")) {
    const weekday = date.toLocaleString(locale, { weekday: "long", calendar: "iso8601" });
    const month = date.toLocaleString(locale, { month: "long", calendar: "iso8601" });
    return `${weekday} ${date.day} ${month}`;
  }
  return cleanSpaces(
    date.toLocaleString(locale, {
      weekday: "long",
      day: "numeric",
      month: "long",
      calendar: "iso8601",
    }),
  );
}

/** A date or start time the model sent that cannot be understood. */
export class DateInputError extends Error {
  /** Builds the error with a message meant for the model to act on. */
  constructor(message: string) {
    super(message);
    this.name = "DateInputError";
  }
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const HAS_OFFSET = /(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$/;

/**
 * Parses a date the model provided: `2026-11-26`, `today`, `tomorrow`, or a date-time
 * (its local date in the business zone is used).
 *
 * @throws {DateInputError} with a message that says what is expected.
 */
export function parseDateInput(
  input: string,
  profile: BusinessProfile,
  now: Temporal.Instant,
): Temporal.PlainDate {
  const s = input.trim();
  const lower = s.toLowerCase();
  if (lower === "today") return todayInZone(profile, now);
  if (lower === "tomorrow") return todayInZone(profile, now).add({ days: 1 });
  if (DATE_ONLY.test(s)) {
    try {
      return Temporal.PlainDate.from(s, { overflow: "reject" });
    } catch {
      throw new DateInputError(`"${input}" is not a real date; use YYYY-MM-DD.`);
    }
  }
  try {
    return parseStartInput(s, profile).toPlainDate();
  } catch {
    throw new DateInputError(`"${input}" is not a date; use YYYY-MM-DD, e.g. "2026-11-26".`);
  }
}

/**
 * Parses a start time the model provided, in the business zone:
 * - with an offset (`2026-11-26T15:00:00-05:00`, `…Z`): that exact instant;
 * - with a zone annotation (`…[America/New_York]`): as written;
 * - without an offset (`2026-11-26T15:00`): a wall-clock time in the business zone. Such a
 *   time inside a DST gap is rejected; one that happens twice takes the earlier instant.
 *
 * @throws {DateInputError} with a message that says what is expected.
 */
export function parseStartInput(input: string, profile: BusinessProfile): Temporal.ZonedDateTime {
  const s = input.trim().replace(" ", "T");
  const fail = () =>
    new DateInputError(
      `"${input}" is not a start time; use ISO-8601 like "2026-11-26T15:00:00-05:00" ` +
        `or "2026-11-26T15:00" (business time zone ${profile.timeZone}).`,
    );
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(s)) throw fail();
  try {
    if (s.includes("[")) {
      return Temporal.ZonedDateTime.from(s, { offset: "reject" }).withTimeZone(profile.timeZone);
    }
    if (HAS_OFFSET.test(s)) {
      return Temporal.Instant.from(s).toZonedDateTimeISO(profile.timeZone);
    }
    const plain = Temporal.PlainDateTime.from(s, { overflow: "reject" });
    const instants = possibleInstants(plain, profile.timeZone);
    if (instants.length === 0) {
      throw new DateInputError(
        `${plain.toString()} does not exist in ${profile.timeZone} (clocks change that night).`,
      );
    }
    return instants[0].toZonedDateTimeISO(profile.timeZone);
  } catch (err) {
    if (err instanceof DateInputError) throw err;
    throw fail();
  }
}
