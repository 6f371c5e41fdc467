/**
 * The booking store: the one place bookings and call records are kept.
 *
 * {@linkcode openStore} picks a backend from `DATABASE_URL`:
 * - `sqlite:PATH` (default, e.g. `sqlite:data/bookings.db`; relative to the working directory,
 *   the directory is created; `sqlite::memory:` for a throw-away store) — one instance, or
 *   several processes on one machine;
 * - `postgres://…` / `postgresql://…` — several instances behind a load balancer.
 *
 * Both backends make the same promise: the capacity check and the insert happen in one
 * write transaction that no other writer can interleave with, so the business is never
 * double-booked, whatever number of processes race for the same slot.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import type { BusinessProfile } from "./business.ts";
import type { Slot, UnavailableReason } from "./availability.ts";
import { DatabaseOpenError, type DatabaseTarget } from "./database_errors.ts";

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
   */
  idempotencyKey?: string;
}

/** Why a request could not be carried out. */
export type BookFailureReason =
  | UnavailableReason
  | "unknown_service"
  | "invalid_start"
  | "invalid_request"
  | "idempotency_conflict";

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

/** One utterance in a call transcript. */
export interface TranscriptEntry {
  /** Who spoke. */
  role: "caller" | "agent" | "system";
  /** What was said (for the agent: what the caller actually heard, if truncated). */
  text: string;
  /** When (UTC ISO). */
  at: string;
  /** The agent was interrupted while saying this. */
  interrupted?: boolean;
}

/** One tool call the model made during a call. */
export interface ToolCallRecord {
  /** Tool name. */
  name: string;
  /** Model-provided call id. */
  callId?: string;
  /** Arguments as parsed. */
  arguments: unknown;
  /** Result returned to the model. */
  result?: unknown;
  /** Error message when the tool failed or timed out. */
  error?: string;
  /** When it started (UTC ISO). */
  startedAt: string;
  /** How long it took. */
  durationMs: number;
}

/** Latency figures of a call, in milliseconds; free-form beyond the named fields. */
export interface LatencyFigures {
  /** From the caller's end of speech to the first agent audio, per turn. */
  turnMs?: number[];
  /** Median of `turnMs`. */
  p50Ms?: number;
  /** 95th percentile of `turnMs`. */
  p95Ms?: number;
  /** Any other figure. */
  [name: string]: number | number[] | undefined;
}

/** A barge-in: the caller spoke over the agent. */
export interface BargeInRecord {
  /** When (UTC ISO). */
  at: string;
  /** How much of the agent's current reply the caller had heard. */
  heardMs?: number;
}

/** How a call ended; free text is allowed for outcomes not listed. */
export type CallOutcome =
  | "in_progress"
  | "booked"
  | "rescheduled"
  | "cancelled"
  | "information"
  | "transferred"
  | "caller_hung_up"
  | "agent_hung_up"
  | "error"
  | (string & Record<never, never>);

/** A call record, saved (upserted by `callSid`) as the call goes and when it ends. */
export interface CallRecord {
  /** Twilio call SID. */
  callSid: string;
  /** Caller's number. */
  from: string;
  /** Number called. */
  to: string;
  /** Start (UTC ISO). */
  startedAt: string;
  /** End (UTC ISO), absent while in progress. */
  endedAt?: string;
  /** Outcome. */
  outcome: CallOutcome;
  /** What was said. */
  transcript: TranscriptEntry[];
  /** Tools the model called. */
  toolCalls: ToolCallRecord[];
  /** Latency figures. */
  latency: LatencyFigures;
  /** Barge-ins. */
  bargeIns: BargeInRecord[];
  /** Anything else worth keeping (JSON). */
  extra?: Record<string, unknown>;
}

/** Query of {@linkcode BookingStore.listFreeSlots}. */
export interface FreeSlotsQuery {
  /** Service id. */
  serviceId: string;
  /** Local date: `YYYY-MM-DD`, `today`, `tomorrow`, or a PlainDate. */
  date: string | Temporal.PlainDate;
}

/** Where bookings and calls live. All methods are safe to call concurrently. */
export interface BookingStore {
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
  /** Inserts or replaces a call record by `callSid`. */
  saveCall(record: CallRecord): Promise<void>;
  /** A call record by SID. */
  getCall(callSid: string): Promise<CallRecord | undefined>;
  /** The most recent calls, newest first. */
  recentCalls(limit?: number): Promise<CallRecord[]>;
  /** Resolves when the database answers; throws otherwise (for health checks). */
  ping(): Promise<void>;
  /** Closes connections. */
  close(): Promise<void>;
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

/** A `DATABASE_URL` that names no supported backend. */
export class DatabaseUrlError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "DatabaseUrlError";
  }
}

export type { DatabaseTarget } from "./database_errors.ts";

/**
 * Parses `DATABASE_URL`: `sqlite:PATH` (relative to `cwd`), `sqlite::memory:`,
 * `sqlite:///abs/path`, `file:PATH`, or `postgres://` / `postgresql://`.
 */
export function parseDatabaseUrl(databaseUrl: string, cwd: string = Deno.cwd()): DatabaseTarget {
  const url = databaseUrl.trim();
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: "postgres", url };
  const m = /^(?:sqlite|file):(.*)$/i.exec(url);
  if (!m || m[1] === "") {
    throw new DatabaseUrlError(
      `DATABASE_URL "${databaseUrl}" is not supported: use sqlite:PATH (e.g. sqlite:data/bookings.db) or postgres://user@host:5432/db`,
    );
  }
  let path = m[1];
  if (path === ":memory:") return { kind: "sqlite", path };
  if (path.startsWith("//")) path = decodeURIComponent(path.slice(2)); // sqlite:///abs → /abs
  return { kind: "sqlite", path: isAbsolute(path) ? path : resolve(cwd, path) };
}

/**
 * Opens (and by default migrates) the store named by `databaseUrl`.
 *
 * @example
 * ```ts
 * const store = await openStore(Deno.env.get("DATABASE_URL") ?? "sqlite:data/bookings.db", profile);
 * const result = await store.book({ serviceId: "mens-cut", start: slot.start,
 *   customerName: "Ann", customerPhone: "+12125550100", idempotencyKey: "CA1:call_7" });
 * await store.close();
 * ```
 */
export async function openStore(
  databaseUrl: string,
  profile: BusinessProfile,
  opts: StoreOptions = {},
): Promise<BookingStore> {
  const target = parseDatabaseUrl(databaseUrl);
  let store: BookingStore;
  try {
    if (target.kind === "sqlite") {
      const { SqliteBookingStore } = await import("./sqlite_store.ts");
      store = SqliteBookingStore.open(target.path, profile, opts);
    } else {
      const { PostgresBookingStore } = await import("./postgres_store.ts");
      store = PostgresBookingStore.open(target.url, profile, opts);
    }
  } catch (err) {
    throw wrapOpenError(databaseUrl, target, err);
  }
  if (opts.migrate ?? true) {
    try {
      // The first query: PostgreSQL connects here, SQLite reads the file's header.
      await store.migrate();
    } catch (err) {
      await store.close().catch(() => {});
      throw wrapOpenError(databaseUrl, target, err);
    }
  }
  return store;
}

/** Names `DATABASE_URL` in the error; a missing Deno permission stays as it is (main prints it). */
function wrapOpenError(databaseUrl: string, target: DatabaseTarget, err: unknown): unknown {
  if (err instanceof Deno.errors.NotCapable) return err;
  return new DatabaseOpenError(databaseUrl, target, err);
}
