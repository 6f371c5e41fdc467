/**
 * The booking store's public types: bookings, requests and results, and the
 * {@linkcode BookingStore} interface both backends implement.
 *
 * Kept apart from `store.ts` (which picks and opens a backend) so the backends and their
 * users import types without importing each other. Call records are the call layer's
 * (`call/record.ts`); the store keeps them, so it imports their types (types only).
 *
 * @module
 */
import type { Slot, UnavailableReason } from "./availability.ts";
import type { CallRecord } from "../call/record.ts";
import type { BusinessProfile } from "./business.ts";

/** Booking status. Cancelled bookings are kept (with their history), never deleted. */
export type BookingStatus = "confirmed" | "cancelled";

/** A booking as returned by the store. Times are ISO-8601 with offset in the business zone. */
export interface Booking {
  /** Short reference that can be read out on the phone, e.g. `K7M4QX`. */
  id: string;
  /** Service id from the business profile. */
  serviceId: string;
  /** Service name at booking time. */
  serviceName: string;
  /** Start, e.g. `2026-11-27T15:00:00-05:00`. */
  start: string;
  /** End (start + service duration). */
  end: string;
  /** Spoken start, e.g. `Friday 27 November at 3:00 PM`. */
  label: string;
  /** Customer's name as given. */
  customerName: string;
  /** Customer's phone number as given (matching uses its digits). */
  customerPhone: string;
  /** Confirmed or cancelled. */
  status: BookingStatus;
  /** The call that made (or last changed) the booking, if any. */
  callSid: string | null;
  /** Idempotency key of the request that created it, if any. */
  idempotencyKey: string | null;
  /** Creation instant (UTC ISO). */
  createdAt: string;
  /** Last change instant (UTC ISO). */
  updatedAt: string;
}

/** A request to book. */
export interface BookRequest {
  /** Service id (use `findService` to turn what the caller said into an id). */
  serviceId: string;
  /** Start: ISO with offset (as given in a {@linkcode Slot}) or a local time in the business zone. */
  start: string;
  /** Customer's name. */
  customerName: string;
  /** Customer's phone number. */
  customerPhone: string;
  /** The call making the booking. */
  callSid?: string;
  /**
   * Same key ⇒ same booking: a retried request returns the booking the first one made
   * (`replayed: true`) instead of booking twice. E.g. `${callSid}:${toolCallId}`.
   * Without a key, a request for a slot the same person (same phone, same name) already
   * holds for the same service returns that booking (`replayed: true`) too.
   */
  idempotencyKey?: string;
  /**
   * Give up after this many ms of waiting for the database (another booking holds the
   * day's lock): the result is `busy` and nothing is booked, ever, after it was returned.
   * Set it below the caller's own deadline. Default: the backend's lock timeout.
   */
  timeoutMs?: number;
}

/** Why a request could not be carried out. */
export type BookFailureReason =
  | UnavailableReason
  | "unknown_service"
  | "invalid_start"
  | "invalid_request"
  | "idempotency_conflict"
  | "busy";

/** Outcome of {@linkcode BookingStore.book}. */
export type BookResult =
  | {
    ok: true;
    booking: Booking;
    /** True when an earlier request with the same idempotency key made this booking. */
    replayed: boolean;
  }
  | {
    ok: false;
    reason: BookFailureReason;
    /** One sentence the agent can act on or paraphrase. */
    message: string;
    /** Free slots near the requested time (empty when none or not applicable). */
    alternatives: Slot[];
  };

/** Outcome of {@linkcode BookingStore.listFreeSlots}. */
export type FreeSlotsResult =
  | {
    ok: true;
    /** The local date asked about (`YYYY-MM-DD`). */
    date: string;
    /** Spoken date, e.g. `Friday 27 November`. */
    dateLabel: string;
    /** Closed all day (weekday without hours, or a closed date). */
    closed: boolean;
    /** Reason of a closed date, e.g. `Thanksgiving`. */
    closedReason?: string;
    /** Free starts in order (empty when closed or full). */
    slots: Slot[];
    /** When the date is full or closed: the next free slots on later days. */
    nextAvailable: Slot[];
  }
  | {
    ok: false;
    reason: "unknown_service" | "invalid_date" | "in_past" | "beyond_horizon";
    message: string;
  };

/** Outcome of {@linkcode BookingStore.cancel}. */
export type CancelResult =
  | {
    ok: true;
    booking: Booking;
    /** True when it was already cancelled (cancelling is idempotent). */
    alreadyCancelled: boolean;
  }
  | { ok: false; reason: "not_found" | "phone_mismatch" | "already_started"; message: string };

/** A request to move a booking to another start (and optionally another service). */
export interface RescheduleRequest {
  /** The booking to move. */
  id: string;
  /** New start, same formats as {@linkcode BookRequest.start}. */
  newStart: string;
  /** When given, must match the booking's phone number (digits). */
  phone?: string;
  /** Change the service too. */
  serviceId?: string;
  /** The call making the change. */
  callSid?: string;
}

/** Outcome of {@linkcode BookingStore.reschedule}. The old slot is kept unless `ok`. */
export type RescheduleResult =
  | { ok: true; booking: Booking; previous: { start: string; end: string; serviceId: string } }
  | {
    ok: false;
    reason:
      | BookFailureReason
      | "not_found"
      | "phone_mismatch"
      | "cancelled"
      | "already_started";
    message: string;
    alternatives: Slot[];
  };

/** Options of {@linkcode BookingStore.findByPhone}. */
export interface FindOptions {
  /** Include bookings that have already started. Default false. */
  includePast?: boolean;
  /** Include cancelled bookings. Default false. */
  includeCancelled?: boolean;
}

/** Query of {@linkcode BookingStore.listFreeSlots}. */
export interface FreeSlotsQuery {
  /** Service id. */
  serviceId: string;
  /** Local date: `YYYY-MM-DD`, `today`, `tomorrow`, or a PlainDate. */
  date: string | Temporal.PlainDate;
}

/**
 * A reminder's state. `scheduled` waits for its due time; `dialing` has an attempt under way
 * (a call being placed or ringing, or a text being sent); `answered` / `voicemail` is a call
 * in progress with a person / after the beep; `no_answer` / `failed` waits for its retry (or
 * text); `done` is final (`result` says why).
 */
export type ReminderState =
  | "scheduled"
  | "dialing"
  | "answered"
  | "voicemail"
  | "no_answer"
  | "failed"
  | "done";

/** How a reminder attempt reaches the customer. */
export type ReminderChannel = "call" | "sms";

/** One attempt to remind: a call placed or a text sent, with what came of it. */
export interface ReminderAttempt {
  /** 1, 2, … over the reminder's whole life. */
  n: number;
  /** The reminder's round (a moved booking starts a new round). */
  round: number;
  channel: ReminderChannel;
  /** When it started (epoch ms). */
  startedMs: number;
  /** Instance that started it. */
  owner: string;
  /** Twilio CallSid once the call is placed. */
  callSid?: string;
  /** Twilio Message SID once the text is sent. */
  messageSid?: string;
  /** Twilio's last call status (`queued`, `ringing`, `in-progress`, `completed`, `busy`, …). */
  status?: string;
  /** Answering-machine detection's verdict (`human`, `machine_end_beep`, …). */
  answeredBy?: string;
  /**
   * What came of it: `answered`, `voicemail`, `no_answer`, `busy`, `failed`, `sent`, or
   * `not_placed` (the instance died before Twilio took the call).
   */
  result?: string;
  /** What the customer did on the call: `confirmed`, `cancelled`, `rescheduled`, `opted_out`, `transferred`, `none`. */
  response?: string;
  /** Error or note. */
  detail?: string;
  /** When it ended (epoch ms). */
  endedMs?: number;
}

/** A booking's reminder, as stored. Times are epoch milliseconds. */
export interface Reminder {
  bookingId: string;
  state: ReminderState;
  /** Channel of the next (or current) attempt. */
  channel: ReminderChannel;
  /** Incremented each time the booking moves (the reminder starts over). */
  round: number;
  /** When the next attempt is due; null while not planned yet (new or moved booking). */
  dueMs: number | null;
  /** When the booking was made or last moved: a reminder is never due before this. */
  sinceMs: number;
  /** Why it is done: `answered`, `voicemail`, `sms`, `gave_up`, `dropped`, `opted_out`, `too_late`, `no_number`. */
  result: string | null;
  /** Every attempt, oldest first (kept across rounds). */
  attempts: ReminderAttempt[];
  /** Instance holding the lease, if any. */
  leaseOwner: string | null;
  /** Lease (or watchdog) expiry: past it, another instance may take the reminder over. */
  leaseUntilMs: number | null;
  /** When a call was last dialled for it (the outbound rate limit counts these). */
  lastDialMs: number | null;
  updatedMs: number;
}

/** A reminder with its booking. */
export interface ReminderWithBooking {
  reminder: Reminder;
  booking: Booking;
}

/** What {@linkcode ReminderStore.claimReminders} may take. */
export interface ReminderClaim {
  /** The claiming instance. */
  owner: string;
  /** Now (epoch ms). */
  nowMs: number;
  /** Lease length: the claimed reminders are this instance's until then. */
  leaseMs: number;
  /** Most reminders to claim (takeovers, texts and calls together). */
  limit: number;
  /** Most new calls to claim now on this instance (free call slots). */
  callSlots: number;
  /** Calls placed per minute at most, across all instances (`OUTBOUND_CALLS_PER_MINUTE`). */
  callsPerMinute: number;
}

/** How a reminder's change is decided: current reminder and booking in, new reminder out. */
export type ReminderChange = (
  reminder: Reminder,
  booking: Booking,
) => Reminder | undefined;

/**
 * Reminders: a small job queue in the booking database. A booking's insert, cancel and move
 * write its reminder in the same transaction (database triggers); instances claim due work
 * with a lease, so no reminder is worked on twice.
 */
export interface ReminderStore {
  /** A booking's reminder, or undefined (none, or an unknown booking). */
  getReminder(bookingId: string): Promise<Reminder | undefined>;
  /** Reminders of confirmed bookings waiting for a due time (new or moved), oldest first. */
  unplannedReminders(limit: number): Promise<ReminderWithBooking[]>;
  /**
   * Changes one reminder in a transaction holding its row: `change` (synchronous) gets the
   * current reminder and booking and returns the new reminder, or undefined to keep it.
   * Resolves with what is stored afterwards (undefined when there is no such reminder).
   */
  updateReminder(bookingId: string, change: ReminderChange): Promise<Reminder | undefined>;
  /**
   * Claims work for one instance: reminders due now, and in-flight ones whose lease or
   * watchdog expired (their owner died or a callback got lost). Claimed rows get
   * `leaseOwner`/`leaseUntilMs`; new calls also get `lastDialMs` (the rate limit).
   */
  claimReminders(claim: ReminderClaim): Promise<ReminderWithBooking[]>;
  /** Records that a phone number wants no reminders; ends that number's pending reminders. */
  optOut(phone: string, source: string, nowMs: number): Promise<void>;
  /** Removes an opt-out (the customer texted START). */
  optIn(phone: string): Promise<void>;
  /** True when the number opted out of reminders. */
  isOptedOut(phone: string): Promise<boolean>;
}

/** Where bookings and calls live. All methods are safe to call concurrently. */
export interface BookingStore extends ReminderStore {
  /** Which backend this is. */
  readonly kind: "sqlite" | "postgres";
  /** Creates or upgrades the schema; idempotent, safe when several instances start at once. */
  migrate(): Promise<void>;
  /** Free start times for a service on a date. */
  listFreeSlots(query: FreeSlotsQuery): Promise<FreeSlotsResult>;
  /** Books a slot if still free, atomically; idempotent per `idempotencyKey`. */
  book(req: BookRequest): Promise<BookResult>;
  /** One booking by id. */
  getBooking(id: string): Promise<Booking | undefined>;
  /** Bookings for a phone number (matched on digits; a national number matches with country code). */
  findByPhone(phone: string, opts?: FindOptions): Promise<Booking[]>;
  /** Cancels a booking; if `phone` is given it must match the booking's. */
  cancel(id: string, phone?: string, callSid?: string): Promise<CancelResult>;
  /** Moves a booking atomically: either it moves, or it stays where it was. */
  reschedule(req: RescheduleRequest): Promise<RescheduleResult>;
  /**
   * Inserts or replaces a call record by `callSid`. Strings are cleaned and sizes bounded
   * before storing; if the database still refuses the record, its summary is stored.
   */
  saveCall(record: CallRecord): Promise<void>;
  /**
   * Start-up clean-up after a crash: call records still `in_progress` that started before
   * `startedBefore` get the outcome `abandoned` (their end time is their last save).
   * Returns how many were changed.
   */
  abandonStaleCalls(startedBefore: Temporal.Instant): Promise<number>;
  /** A call record by SID. */
  getCall(callSid: string): Promise<CallRecord | undefined>;
  /** The most recent calls, newest first. */
  recentCalls(limit?: number): Promise<CallRecord[]>;
  /** Confirmed (and optionally cancelled) bookings starting in a range, by start (console). */
  listBookings(query: BookingRangeQuery): Promise<Booking[]>;
  /** Bookings a call made or last changed (by `callSid` or its idempotency keys), by start. */
  bookingsForCall(callSid: string): Promise<Booking[]>;
  /** A page of call summaries, newest first, with the total that match (console). */
  listCalls(query: CallListQuery): Promise<CallListPage>;
  /** One slim row per call started in `[from, to)`, oldest first (console quality charts). */
  callQuality(from: Temporal.Instant, to: Temporal.Instant): Promise<CallQualityRow[]>;
  /** Applies a reloaded business profile to every later operation (console reload, SIGHUP). */
  setProfile(profile: BusinessProfile): void;
  /** Resolves when the database answers; throws otherwise (for health checks). */
  ping(): Promise<void>;
  /** Closes connections. */
  close(): Promise<void>;
}

/** Query of {@linkcode BookingStore.listBookings}. */
export interface BookingRangeQuery {
  /** Bookings starting at or after this instant. */
  from: Temporal.Instant;
  /** …and before this one. */
  to: Temporal.Instant;
  /** Include cancelled bookings (default false). */
  includeCancelled?: boolean;
  /** At most this many (default and maximum {@linkcode MAX_LISTED_BOOKINGS}). */
  limit?: number;
}

/** Most bookings {@linkcode BookingStore.listBookings} returns at once. */
export const MAX_LISTED_BOOKINGS = 2000;

/** Filters and page of {@linkcode BookingStore.listCalls}; every filter is optional. */
export interface CallListQuery {
  /** Calls started at or after this instant. */
  from?: Temporal.Instant;
  /** …and before this one. */
  to?: Temporal.Instant;
  /** Exact outcome, e.g. `booked`, `caller_hung_up`. */
  outcome?: string;
  /** Caller numbers whose digits end with these digits (at least 3). */
  phoneDigits?: string;
  /** Only calls that made a booking (a confirmed `book_slot`). */
  booked?: boolean;
  /** Only calls transferred to a person. */
  transferred?: boolean;
  /** Only calls where the model was unavailable and the prepared apology played. */
  modelUnavailable?: boolean;
  /** Only calls flagged by the after-call promise check (a claim did not match). */
  flagged?: boolean;
  /** Page size, 1…{@linkcode MAX_CALL_PAGE} (default 25). */
  limit?: number;
  /** Calls to skip (default 0). */
  offset?: number;
}

/** Largest page {@linkcode BookingStore.listCalls} returns. */
export const MAX_CALL_PAGE = 200;

/** A call in a list: the record without its transcript and tool details. */
export interface CallSummary {
  callSid: string;
  from: string;
  to: string;
  /** Start (UTC ISO). */
  startedAt: string;
  /** End (UTC ISO), absent while in progress. */
  endedAt?: string;
  outcome: string;
  /** Transcript entries (caller, agent and system lines). */
  turns: number;
  /** Tool calls the model made. */
  toolCalls: number;
  /** Times the caller talked over the agent. */
  bargeIns: number;
  /** The call made a booking. */
  booked: boolean;
  /** A claim the agent made did not match the database or the profile (`extra.flagged`). */
  flagged: boolean;
}

/** Outcome of {@linkcode BookingStore.listCalls}. */
export interface CallListPage {
  calls: CallSummary[];
  /** How many calls match the filters (all pages). */
  total: number;
}

/** What the quality charts need of one call. */
export interface CallQualityRow {
  /** Start (UTC ISO). */
  startedAt: string;
  outcome: string;
  /** The call made a booking. */
  booked: boolean;
  /** Turn latencies, ms. */
  turnMs: number[];
  /** Barge-ins. */
  bargeIns: number;
  /** Model reconnections after a drop. */
  reconnects: number;
  /** The model was unavailable and the prepared apology played. */
  apology: boolean;
  /** Tool calls that failed or timed out. */
  toolErrors: number;
}

/** Options of {@linkcode openStore}. */
export interface StoreOptions {
  /** The clock; defaults to `Temporal.Now.instant`. Tests pass a fixed one. */
  clock?: () => Temporal.Instant;
  /** Run migrations on open (default true). */
  migrate?: boolean;
  /** SQLite: how long to wait for another writer's lock, ms (default 5000). */
  busyTimeoutMs?: number;
  /** PostgreSQL: schema to use (created by `migrate`); default `public`. */
  schema?: string;
  /** PostgreSQL: pool size (default 10). */
  maxConnections?: number;
}
