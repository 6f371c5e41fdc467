/**
 * What both store backends share: the row shape, the booking decisions (pure functions the
 * backends call inside their write transaction) and the read-side logic built on top.
 *
 * A backend supplies storage primitives and three transactions (book, reschedule, cancel);
 * each transaction reads what it needs, calls the matching `decide*` function here, and
 * writes the outcome, all under its write lock. Keeping the rules here means SQLite and
 * PostgreSQL cannot drift apart.
 *
 * @module
 */
import { type BusinessProfile, findService, type Service } from "./business.ts";
import {
  type BookingInterval,
  closedDateEntry,
  DateInputError,
  dayBounds,
  evaluateStart,
  freeSlots,
  isoWithOffset,
  lastBookableDate,
  nearestSlots,
  parseDateInput,
  parseStartInput,
  type Slot,
  spokenDate,
  spokenLabel,
  todayInZone,
  type UnavailableReason,
  weekdayOf,
} from "./availability.ts";
import type {
  Booking,
  BookingRangeQuery,
  BookingStatus,
  BookingStore,
  BookRequest,
  BookResult,
  CallListPage,
  CallListQuery,
  CallQualityRow,
  CancelResult,
  FindOptions,
  FreeSlotsQuery,
  FreeSlotsResult,
  Reminder,
  ReminderChange,
  ReminderClaim,
  ReminderWithBooking,
  RescheduleRequest,
  RescheduleResult,
} from "./types.ts";
import type { CallRecord } from "../call/record.ts";
import { logger } from "../log.ts";
import { cleanText, minimalCallRecord, sanitizeCallRecord } from "./sanitize.ts";
import { samePerson } from "./person.ts";
import { errorMessage } from "../errors.ts";

/** A booking as stored, with instants as epoch milliseconds. */
export interface BookingRow {
  id: string;
  serviceId: string;
  serviceName: string;
  startMs: number;
  endMs: number;
  customerName: string;
  customerPhone: string;
  phoneDigits: string;
  status: BookingStatus;
  callSid: string | null;
  idempotencyKey: string | null;
  createdMs: number;
  updatedMs: number;
}

/** A validated book request, ready for a transaction. */
export interface PreparedBook {
  service: Service;
  start: Temporal.ZonedDateTime;
  customerName: string;
  customerPhone: string;
  phoneDigits: string;
  callSid: string | null;
  idempotencyKey: string | null;
  /**
   * `performance.now()` past which the backend must give up without booking (it throws
   * {@linkcode StoreBusyError}); null: the backend's own lock timeout applies.
   */
  deadlineMs: number | null;
}

/**
 * The write lock (or the database) could not be had in time; the transaction was rolled
 * back, so nothing was written.
 */
export class StoreBusyError extends Error {
  /** Builds the error. */
  constructor(message = "the booking database is busy; nothing was written") {
    super(message);
    this.name = "StoreBusyError";
  }
}

/** Longest customer name the store accepts (after cleaning). */
export const MAX_CUSTOMER_NAME = 200;

/** Outcome of a backend's book transaction. */
export type BookDecision =
  | { kind: "insert"; row: BookingRow }
  | { kind: "replay"; row: BookingRow }
  | { kind: "conflict"; row: BookingRow }
  | { kind: "unavailable"; reason: UnavailableReason; message: string };

/** Outcome of a backend's reschedule transaction. */
export type RescheduleDecision =
  | { kind: "update"; row: BookingRow; previous: BookingRow }
  | {
    kind: "fail";
    reason: "not_found" | "phone_mismatch" | "cancelled" | "already_started" | UnavailableReason;
    message: string;
  };

/** Outcome of a backend's cancel transaction. */
export type CancelDecision =
  | { kind: "update"; row: BookingRow }
  | { kind: "already"; row: BookingRow }
  | { kind: "fail"; reason: "not_found" | "phone_mismatch" | "already_started"; message: string };

const log = logger("booking");

// No 0/O, 1/I/L, U: easy to read out and to hear back.
const ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A short booking reference (6 characters, ~7×10⁸ values; stores retry on collision). */
export function newBookingId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  let id = "";
  for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length];
  return id;
}

/** Normalises a booking reference the way a caller might say it ("k7m-4qx" → "K7M4QX"). */
export function normalizeBookingId(id: string): string {
  return id.toUpperCase().replace(/[^0-9A-Z]/g, "");
}

/** The digits of a phone number, without leading zeros (`+1 (212) 555-0142` → `12125550142`). */
export function phoneDigits(phone: string): string {
  return phone.replace(/\D/g, "").replace(/^0+/, "");
}

/**
 * True when two digit strings are the same number: equal, or one is the other with a
 * country code in front (the shorter must have at least 9 digits to avoid loose matches).
 */
export function phonesMatch(a: string, b: string): boolean {
  if (a === "" || b === "") return false;
  if (a === b) return true;
  const [short, long] = a.length < b.length ? [a, b] : [b, a];
  return short.length >= 9 && long.endsWith(short) && long.length - short.length <= 3;
}

/** The last digits used to pre-filter phone matches in SQL. */
export function phoneSuffix(digits: string): string {
  return digits.slice(-9);
}

/** Converts a stored row to the public {@linkcode Booking}. */
export function rowToBooking(row: BookingRow, profile: BusinessProfile): Booking {
  const start = Temporal.Instant.fromEpochMilliseconds(row.startMs).toZonedDateTimeISO(
    profile.timeZone,
  );
  const end = Temporal.Instant.fromEpochMilliseconds(row.endMs).toZonedDateTimeISO(
    profile.timeZone,
  );
  return {
    id: row.id,
    serviceId: row.serviceId,
    serviceName: row.serviceName,
    start: isoWithOffset(start),
    end: isoWithOffset(end),
    label: spokenLabel(start, profile.locale),
    customerName: row.customerName,
    customerPhone: row.customerPhone,
    status: row.status,
    callSid: row.callSid,
    idempotencyKey: row.idempotencyKey,
    createdAt: Temporal.Instant.fromEpochMilliseconds(row.createdMs).toString(),
    updatedAt: Temporal.Instant.fromEpochMilliseconds(row.updatedMs).toString(),
  };
}

/** Turns rows into intervals, skipping one booking (the one being moved). */
export function rowsToIntervals(
  rows: readonly { startMs: number; endMs: number; id?: string }[],
  excludeId?: string,
): BookingInterval[] {
  const out: BookingInterval[] = [];
  for (const r of rows) {
    if (excludeId !== undefined && r.id === excludeId) continue;
    out.push({
      start: Temporal.Instant.fromEpochMilliseconds(r.startMs),
      end: Temporal.Instant.fromEpochMilliseconds(r.endMs),
    });
  }
  return out;
}

/** Validates a book request; everything that needs no database. */
export function prepareBook(
  profile: BusinessProfile,
  req: BookRequest,
): { ok: true; prep: PreparedBook } | Extract<BookResult, { ok: false }> {
  const fail = (
    reason: "unknown_service" | "invalid_start" | "invalid_request",
    message: string,
  ): Extract<BookResult, { ok: false }> => ({ ok: false, reason, message, alternatives: [] });
  const service = findService(profile, req.serviceId);
  if (!service) {
    return fail(
      "unknown_service",
      `Unknown service "${req.serviceId}". Services: ${
        profile.services.map((s) => s.id).join(", ")
      }.`,
    );
  }
  // Names and numbers come from the model: no control characters, nothing unbounded.
  const customerName = cleanText(req.customerName ?? "", { max: 1000, oneLine: true });
  const customerPhone = cleanText(req.customerPhone ?? "", { max: 64, oneLine: true });
  const digits = phoneDigits(customerPhone);
  if (customerName === "") return fail("invalid_request", "The customer's name is required.");
  if (customerName.length > MAX_CUSTOMER_NAME) {
    return fail(
      "invalid_request",
      `The customer's name is too long (at most ${MAX_CUSTOMER_NAME} characters).`,
    );
  }
  if (digits.length < 6) {
    return fail("invalid_request", "A valid customer phone number is required.");
  }
  let start: Temporal.ZonedDateTime;
  try {
    start = parseStartInput(cleanText(req.start, { max: 100, oneLine: true }), profile);
  } catch (err) {
    return fail("invalid_start", errorMessage(err));
  }
  const key = req.idempotencyKey === undefined
    ? ""
    : cleanText(req.idempotencyKey, { max: 300, oneLine: true });
  return {
    ok: true,
    prep: {
      service,
      start,
      customerName,
      customerPhone,
      phoneDigits: digits,
      callSid: req.callSid === undefined
        ? null
        : cleanText(req.callSid, { max: 100, oneLine: true }),
      idempotencyKey: key ? key : null,
      deadlineMs: req.timeoutMs === undefined ? null : performance.now() + req.timeoutMs,
    },
  };
}

/** True when `row` is the booking `prep` asks for: same service, instant, phone and person. */
export function sameBooking(row: BookingRow, prep: PreparedBook): boolean {
  return row.serviceId === prep.service.id &&
    row.startMs === prep.start.epochMilliseconds &&
    phonesMatch(row.phoneDigits, prep.phoneDigits) &&
    samePerson(row.customerName, prep.customerName);
}

/**
 * The booking decision, made inside the write transaction with what it just read:
 * the row holding the idempotency key (if any) and the confirmed bookings of that day.
 *
 * A request is a replay (the existing booking is returned, nothing is written) when its
 * idempotency key names a row with the same details, or when a confirmed booking of that
 * day already has the same service, the same instant (however `start` was spelled), a
 * matching phone and the same person ({@linkcode samePerson}): a caller asking twice, in
 * one call or in two, gets one booking; a caller booking the same slot for someone else
 * (another name) gets a second one if there is room.
 */
export function decideBook(args: {
  profile: BusinessProfile;
  now: Temporal.Instant;
  prep: PreparedBook;
  keyRow: BookingRow | undefined;
  /** The confirmed bookings that may overlap the requested day. */
  dayRows: readonly BookingRow[];
}): BookDecision {
  const { profile, now, prep, keyRow, dayRows } = args;
  if (keyRow) {
    return sameBooking(keyRow, prep)
      ? { kind: "replay", row: keyRow }
      : { kind: "conflict", row: keyRow };
  }
  const already = dayRows.find((r) => r.status === "confirmed" && sameBooking(r, prep));
  if (already) return { kind: "replay", row: already };
  const verdict = evaluateStart({
    profile,
    service: prep.service,
    start: prep.start,
    now,
    existing: rowsToIntervals(dayRows),
  });
  if (!verdict.ok) return { kind: "unavailable", reason: verdict.reason, message: verdict.message };
  const nowMs = now.epochMilliseconds;
  return {
    kind: "insert",
    row: {
      id: newBookingId(),
      serviceId: prep.service.id,
      serviceName: prep.service.name,
      startMs: verdict.start.epochMilliseconds,
      endMs: verdict.end.epochMilliseconds,
      customerName: prep.customerName,
      customerPhone: prep.customerPhone,
      phoneDigits: prep.phoneDigits,
      status: "confirmed",
      callSid: prep.callSid,
      idempotencyKey: prep.idempotencyKey,
      createdMs: nowMs,
      updatedMs: nowMs,
    },
  };
}

/** A validated reschedule request. */
export interface PreparedReschedule {
  id: string;
  service: Service | undefined;
  start: Temporal.ZonedDateTime;
  phoneDigits: string | undefined;
  callSid: string | null;
}

/** Checks the parts of a reschedule request that need no database. */
export function prepareReschedule(
  profile: BusinessProfile,
  req: RescheduleRequest,
): { ok: true; prep: PreparedReschedule } | Extract<RescheduleResult, { ok: false }> {
  let service: Service | undefined;
  if (req.serviceId !== undefined) {
    service = findService(profile, req.serviceId);
    if (!service) {
      return {
        ok: false,
        reason: "unknown_service",
        message: `Unknown service "${req.serviceId}".`,
        alternatives: [],
      };
    }
  }
  let start: Temporal.ZonedDateTime;
  try {
    start = parseStartInput(req.newStart, profile);
  } catch (err) {
    return {
      ok: false,
      reason: "invalid_start",
      message: errorMessage(err),
      alternatives: [],
    };
  }
  return {
    ok: true,
    prep: {
      id: normalizeBookingId(req.id),
      service,
      start,
      phoneDigits: req.phone === undefined ? undefined : phoneDigits(req.phone),
      callSid: req.callSid ?? null,
    },
  };
}

const NOT_FOUND = {
  kind: "fail",
  reason: "not_found",
  message: "No booking with that reference.",
} as const;

/** Why `phone` may not change this booking, or undefined when it may (or none given). */
function phoneMismatch(
  row: BookingRow,
  phone: string | undefined,
): { kind: "fail"; reason: "phone_mismatch"; message: string } | undefined {
  return phone !== undefined && !phonesMatch(row.phoneDigits, phone)
    ? {
      kind: "fail",
      reason: "phone_mismatch",
      message: "That booking was made with a different phone number.",
    }
    : undefined;
}

/** First half of the reschedule decision: may this booking be moved at all? */
export function checkMovable(
  row: BookingRow | undefined,
  phone: string | undefined,
  now: Temporal.Instant,
): Extract<RescheduleDecision, { kind: "fail" }> | undefined {
  if (!row) return NOT_FOUND;
  const mismatch = phoneMismatch(row, phone);
  if (mismatch) return mismatch;
  if (row.status === "cancelled") {
    return { kind: "fail", reason: "cancelled", message: "That booking was cancelled." };
  }
  if (row.startMs <= now.epochMilliseconds) {
    return { kind: "fail", reason: "already_started", message: "That appointment has started." };
  }
  return undefined;
}

/**
 * Second half: can it go to the new start, given the other confirmed bookings of the new
 * day (the booking itself excluded, so it may overlap its own old slot)?
 */
export function decideReschedule(args: {
  profile: BusinessProfile;
  now: Temporal.Instant;
  row: BookingRow;
  prep: PreparedReschedule;
  existing: readonly BookingInterval[];
}): RescheduleDecision {
  const { profile, now, row, prep, existing } = args;
  const service = prep.service ?? findService(profile, row.serviceId);
  if (!service) {
    return {
      kind: "fail",
      reason: "outside_hours",
      message: `The service "${row.serviceName}" is no longer offered; pick a service.`,
    };
  }
  const verdict = evaluateStart({ profile, service, start: prep.start, now, existing });
  if (!verdict.ok) return { kind: "fail", reason: verdict.reason, message: verdict.message };
  return {
    kind: "update",
    previous: row,
    row: {
      ...row,
      serviceId: service.id,
      serviceName: service.name,
      startMs: verdict.start.epochMilliseconds,
      endMs: verdict.end.epochMilliseconds,
      callSid: prep.callSid ?? row.callSid,
      updatedMs: now.epochMilliseconds,
    },
  };
}

/** The cancel decision. Cancelling twice is fine; cancelling the past is not. */
export function decideCancel(
  row: BookingRow | undefined,
  phone: string | undefined,
  now: Temporal.Instant,
  callSid: string | null,
): CancelDecision {
  if (!row) return NOT_FOUND;
  const mismatch = phoneMismatch(row, phone);
  if (mismatch) return mismatch;
  if (row.status === "cancelled") return { kind: "already", row };
  if (row.startMs <= now.epochMilliseconds) {
    return { kind: "fail", reason: "already_started", message: "That appointment has started." };
  }
  return {
    kind: "update",
    row: {
      ...row,
      status: "cancelled",
      callSid: callSid ?? row.callSid,
      updatedMs: now.epochMilliseconds,
    },
  };
}

/** Validates a call record enough that JSON columns always round-trip. */
export function checkCallRecord(record: CallRecord): void {
  if (!record.callSid) throw new TypeError("CallRecord.callSid is required");
  Temporal.Instant.from(record.startedAt);
  if (record.endedAt !== undefined) Temporal.Instant.from(record.endedAt);
}

/**
 * Saves a call record so that it is never lost to its content: the record is sanitised
 * first ({@linkcode sanitizeCallRecord}: no NUL or lone surrogate, bounded strings and
 * nesting), and if the database still refuses it, the summary (who, when, outcome) is
 * saved through `upsertSummary`, which keeps whatever an earlier save stored. Throws only
 * when the summary cannot be saved either (the database is down), with the first error.
 * Both upserts leave a record of another call with the same CallSid alone (a replayed
 * stream never overwrites the real call) and return false then; that is logged.
 */
export async function saveCallRecord(
  record: CallRecord,
  upsert: (record: CallRecord) => Promise<boolean>,
  upsertSummary: (record: CallRecord) => Promise<boolean>,
): Promise<void> {
  checkCallRecord(record);
  const clean = sanitizeCallRecord(record);
  try {
    if (!await upsert(clean)) {
      log.warn(
        "call record {callSid} not saved: the stored record is another call's with that " +
          "CallSid; it is kept",
        { callSid: clean.callSid },
      );
    }
  } catch (err) {
    log.error("call record {callSid} refused ({error}); saving its summary instead", {
      callSid: clean.callSid,
      error: String(err),
    });
    try {
      await upsertSummary(minimalCallRecord(clean));
    } catch {
      throw err;
    }
  }
}

/** Outcome given to calls found `in_progress` long after they must have ended. */
export const ABANDONED_OUTCOME = "abandoned";

/**
 * The backend-independent half of a store. Subclasses provide storage primitives and
 * the three write transactions; this class turns them into the {@linkcode BookingStore} API.
 */
export abstract class StoreBase implements BookingStore {
  /** Backend name. */
  abstract readonly kind: "sqlite" | "postgres";
  /** The business whose rules apply (replaced by {@linkcode setProfile} on a reload). */
  protected profile: BusinessProfile;
  /** The clock. */
  protected readonly now: () => Temporal.Instant;

  /** Keeps the profile and clock. */
  constructor(profile: BusinessProfile, clock: () => Temporal.Instant) {
    this.profile = profile;
    this.now = clock;
  }

  /**
   * Applies a reloaded profile to every later operation. A transaction already running keeps
   * the profile it started with where it read it once (SQLite transactions run whole).
   */
  setProfile(profile: BusinessProfile): void {
    this.profile = profile;
  }

  /** Creates or upgrades the schema. */
  abstract migrate(): Promise<void>;
  /** Inserts or replaces a call record. */
  abstract saveCall(record: CallRecord): Promise<void>;
  /** Marks stale `in_progress` call records abandoned; returns how many. */
  abstract abandonStaleCalls(startedBefore: Temporal.Instant): Promise<number>;
  /** Reads a call record. */
  abstract getCall(callSid: string): Promise<CallRecord | undefined>;
  /** Newest call records. */
  abstract recentCalls(limit?: number): Promise<CallRecord[]>;
  /** Bookings starting in a range. */
  abstract listBookings(query: BookingRangeQuery): Promise<Booking[]>;
  /** Bookings a call made or last changed. */
  abstract bookingsForCall(callSid: string): Promise<Booking[]>;
  /** A filtered page of call summaries. */
  abstract listCalls(query: CallListQuery): Promise<CallListPage>;
  /** Slim per-call rows for the quality charts. */
  abstract callQuality(from: Temporal.Instant, to: Temporal.Instant): Promise<CallQualityRow[]>;
  /** Health check. */
  abstract ping(): Promise<void>;
  /** Closes the database. */
  abstract close(): Promise<void>;
  /** A booking's reminder (see `reminder_rows.ts`). */
  abstract getReminder(bookingId: string): Promise<Reminder | undefined>;
  /** Reminders waiting to be planned. */
  abstract unplannedReminders(limit: number): Promise<ReminderWithBooking[]>;
  /** Changes one reminder under its row lock. */
  abstract updateReminder(
    bookingId: string,
    change: ReminderChange,
  ): Promise<Reminder | undefined>;
  /** Claims due and abandoned reminders for one instance. */
  abstract claimReminders(claim: ReminderClaim): Promise<ReminderWithBooking[]>;
  /** Records a reminder opt-out. */
  abstract optOut(phone: string, source: string, nowMs: number): Promise<void>;
  /** Removes a reminder opt-out. */
  abstract optIn(phone: string): Promise<void>;
  /** Whether a number opted out of reminders. */
  abstract isOptedOut(phone: string): Promise<boolean>;

  /** Reads one row by id. */
  protected abstract selectRow(id: string): Promise<BookingRow | undefined>;
  /** Confirmed bookings overlapping `[from, to)`. */
  protected abstract selectIntervals(fromMs: number, toMs: number): Promise<BookingRow[]>;
  /** Rows whose phone digits end with `suffix`. */
  protected abstract selectByPhoneSuffix(suffix: string): Promise<BookingRow[]>;
  /** Atomically: idempotency lookup, capacity check ({@linkcode decideBook}), insert. */
  protected abstract bookTx(prep: PreparedBook): Promise<BookDecision>;
  /** Atomically: read row, {@linkcode checkMovable}, {@linkcode decideReschedule}, update. */
  protected abstract rescheduleTx(prep: PreparedReschedule): Promise<RescheduleDecision>;
  /** Atomically: read row, {@linkcode decideCancel}, update. */
  protected abstract cancelTx(
    id: string,
    phone: string | undefined,
    callSid: string | null,
  ): Promise<CancelDecision>;

  /** @inheritdoc */
  async listFreeSlots(query: FreeSlotsQuery): Promise<FreeSlotsResult> {
    const { profile } = this;
    const service = findService(profile, query.serviceId);
    if (!service) {
      return {
        ok: false,
        reason: "unknown_service",
        message: `Unknown service "${query.serviceId}". Services: ${
          profile.services.map((s) => s.id).join(", ")
        }.`,
      };
    }
    const now = this.now();
    let date: Temporal.PlainDate;
    try {
      date = typeof query.date === "string" ? parseDateInput(query.date, profile, now) : query.date;
    } catch (err) {
      if (err instanceof DateInputError) {
        return { ok: false, reason: "invalid_date", message: err.message };
      }
      throw err;
    }
    if (Temporal.PlainDate.compare(date, todayInZone(profile, now)) < 0) {
      return { ok: false, reason: "in_past", message: `${date.toString()} is in the past.` };
    }
    const last = lastBookableDate(profile, now);
    if (Temporal.PlainDate.compare(date, last) > 0) {
      return {
        ok: false,
        reason: "beyond_horizon",
        message: `Bookings can be made up to ${profile.bookingHorizonDays} days ahead (until ${
          spokenDate(last, profile.locale)
        }).`,
      };
    }
    const holiday = closedDateEntry(profile, date);
    const closed = holiday !== undefined || profile.openingHours[weekdayOf(date)].length === 0;
    const { start, end } = dayBounds(profile, date);
    const rows = closed
      ? []
      : await this.selectIntervals(start.epochMilliseconds, end.epochMilliseconds);
    const slots = closed
      ? []
      : freeSlots({ profile, service, date, now, existing: rowsToIntervals(rows) });
    const nextAvailable = slots.length > 0
      ? []
      : await this.alternatives(service, date.add({ days: 1 }).toZonedDateTime(profile.timeZone));
    return {
      ok: true,
      date: date.toString(),
      dateLabel: spokenDate(date, profile.locale),
      closed,
      ...(holiday?.reason ? { closedReason: holiday.reason } : {}),
      slots,
      nextAvailable,
    };
  }

  /** @inheritdoc */
  async book(req: BookRequest): Promise<BookResult> {
    const prepared = prepareBook(this.profile, req);
    if (!prepared.ok) return prepared;
    const { prep } = prepared;
    let decision: BookDecision;
    try {
      decision = await this.bookTx(prep);
    } catch (err) {
      if (!(err instanceof StoreBusyError)) throw err;
      log.warn("booking {service} at {start} gave up: {error}", {
        service: prep.service.id,
        start: prep.start.toString(),
        callSid: prep.callSid,
        error: err.message,
      });
      return {
        ok: false,
        reason: "busy",
        message: "The booking system is busy right now and nothing was booked; try again.",
        alternatives: [],
      };
    }
    switch (decision.kind) {
      case "insert":
        log.info("booked {id} {service} at {start}", {
          id: decision.row.id,
          service: decision.row.serviceId,
          start: prep.start.toString(),
          callSid: prep.callSid,
        });
        return { ok: true, booking: rowToBooking(decision.row, this.profile), replayed: false };
      case "replay":
        return { ok: true, booking: rowToBooking(decision.row, this.profile), replayed: true };
      case "conflict":
        return {
          ok: false,
          reason: "idempotency_conflict",
          // Never echo the key: it is internal (and may name the call).
          message: "This request was already used for a different booking; nothing was booked.",
          alternatives: [],
        };
      case "unavailable":
        return {
          ok: false,
          reason: decision.reason,
          message: decision.message,
          alternatives: await this.alternatives(prep.service, prep.start),
        };
    }
  }

  /** @inheritdoc */
  async getBooking(id: string): Promise<Booking | undefined> {
    const row = await this.selectRow(normalizeBookingId(id));
    return row ? rowToBooking(row, this.profile) : undefined;
  }

  /** @inheritdoc */
  async findByPhone(phone: string, opts: FindOptions = {}): Promise<Booking[]> {
    const digits = phoneDigits(phone);
    if (digits.length < 6) return [];
    const nowMs = this.now().epochMilliseconds;
    const rows = await this.selectByPhoneSuffix(phoneSuffix(digits));
    return rows
      .filter((r) => phonesMatch(r.phoneDigits, digits))
      .filter((r) => opts.includeCancelled || r.status === "confirmed")
      .filter((r) => opts.includePast || r.startMs > nowMs)
      .sort((a, b) => a.startMs - b.startMs)
      .map((r) => rowToBooking(r, this.profile));
  }

  /** @inheritdoc */
  async cancel(id: string, phone?: string, callSid?: string): Promise<CancelResult> {
    const digits = phone === undefined ? undefined : phoneDigits(phone);
    const decision = await this.cancelTx(normalizeBookingId(id), digits, callSid ?? null);
    switch (decision.kind) {
      case "update":
        log.info("cancelled {id}", { id: decision.row.id, callSid });
        return {
          ok: true,
          booking: rowToBooking(decision.row, this.profile),
          alreadyCancelled: false,
        };
      case "already":
        return {
          ok: true,
          booking: rowToBooking(decision.row, this.profile),
          alreadyCancelled: true,
        };
      case "fail":
        return { ok: false, reason: decision.reason, message: decision.message };
    }
  }

  /** @inheritdoc */
  async reschedule(req: RescheduleRequest): Promise<RescheduleResult> {
    const prepared = prepareReschedule(this.profile, req);
    if (!prepared.ok) return prepared;
    const decision = await this.rescheduleTx(prepared.prep);
    if (decision.kind === "update") {
      const previous = rowToBooking(decision.previous, this.profile);
      log.info("rescheduled {id} from {from} to {to}", {
        id: decision.row.id,
        from: previous.start,
        to: prepared.prep.start.toString(),
        callSid: req.callSid,
      });
      return {
        ok: true,
        booking: rowToBooking(decision.row, this.profile),
        previous: { start: previous.start, end: previous.end, serviceId: previous.serviceId },
      };
    }
    let alternatives: Slot[] = [];
    const slotProblem = !["not_found", "phone_mismatch", "cancelled", "already_started"].includes(
      decision.reason,
    );
    if (slotProblem) {
      const row = await this.selectRow(prepared.prep.id);
      const service = prepared.prep.service ?? (row && findService(this.profile, row.serviceId));
      if (service) {
        alternatives = await this.alternatives(service, prepared.prep.start, row?.id);
      }
    }
    return { ok: false, reason: decision.reason, message: decision.message, alternatives };
  }

  /** Free slots near `wanted` (same day first, else the next open days). */
  protected async alternatives(
    service: Service,
    wanted: Temporal.ZonedDateTime,
    excludeId?: string,
  ): Promise<Slot[]> {
    const { profile } = this;
    const now = this.now();
    const searchDays = 14;
    const today = todayInZone(profile, now);
    let first = wanted.withTimeZone(profile.timeZone).toPlainDate();
    if (Temporal.PlainDate.compare(first, today) < 0) first = today;
    const from = dayBounds(profile, first).start.epochMilliseconds;
    const to = dayBounds(profile, first.add({ days: searchDays })).end.epochMilliseconds;
    const rows = await this.selectIntervals(from, to);
    const intervals = rowsToIntervals(rows, excludeId);
    return nearestSlots({
      profile,
      service,
      wanted,
      now,
      searchDays,
      existingOn: (date) => {
        const b = dayBounds(profile, date);
        return intervals.filter((i) =>
          Temporal.Instant.compare(i.start, b.end) < 0 &&
          Temporal.Instant.compare(i.end, b.start) > 0
        );
      },
    });
  }
}

/** A database row as the drivers return it. */
export type SqlRow = Record<string, unknown>;

/**
 * How a backend's columns differ: SQLite keeps times as epoch ms in `*_ms` columns and
 * JSON as text; PostgreSQL has `timestamptz` in `*_at` columns and `jsonb`.
 */
export interface RowDialect {
  /** Suffix of the time columns (`start_ms` or `start_at`). */
  timeSuffix: "_ms" | "_at";
  /** A time column's value as epoch ms. */
  ms(value: unknown): number;
  /** A JSON column's value as a JavaScript value. */
  json(value: unknown): unknown;
}

/** Reads a `bookings` row. */
export function readBookingRow(r: SqlRow, d: RowDialect): BookingRow {
  const t = (name: string) => d.ms(r[name + d.timeSuffix]);
  return {
    id: String(r.id),
    serviceId: String(r.service_id),
    serviceName: String(r.service_name),
    startMs: t("start"),
    endMs: t("end"),
    customerName: String(r.customer_name),
    customerPhone: String(r.customer_phone),
    phoneDigits: String(r.phone_digits),
    status: r.status === "cancelled" ? "cancelled" : "confirmed",
    callSid: r.call_sid === null ? null : String(r.call_sid),
    idempotencyKey: r.idempotency_key === null ? null : String(r.idempotency_key),
    createdMs: t("created"),
    updatedMs: t("updated"),
  };
}

/** Reads a `calls` row. */
export function readCallRecord(r: SqlRow, d: RowDialect): CallRecord {
  const iso = (name: string) =>
    Temporal.Instant.fromEpochMilliseconds(d.ms(r[name + d.timeSuffix])).toString();
  const record: CallRecord = {
    callSid: String(r.call_sid),
    from: String(r.from_number),
    to: String(r.to_number),
    startedAt: iso("started"),
    outcome: String(r.outcome),
    transcript: d.json(r.transcript) as CallRecord["transcript"],
    toolCalls: d.json(r.tool_calls) as CallRecord["toolCalls"],
    latency: d.json(r.latency) as CallRecord["latency"],
    bargeIns: d.json(r.barge_ins) as CallRecord["bargeIns"],
  };
  if (r["ended" + d.timeSuffix] !== null) record.endedAt = iso("ended");
  if (r.extra !== null) record.extra = d.json(r.extra) as Record<string, unknown>;
  return record;
}
