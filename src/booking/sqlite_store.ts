/**
 * SQLite backend (the default), on `node:sqlite`.
 *
 * Correctness across processes: every write runs in `BEGIN IMMEDIATE`, which takes SQLite's
 * single write lock before the first read, so "read the day's bookings, check capacity,
 * insert" cannot interleave with another writer in this or any other process using the same
 * file. WAL lets readers run while a writer holds the lock.
 *
 * Waiting for the lock does not block the event loop: SQLite's own busy handler would sleep
 * inside the call (freezing every live phone call in this process), so `BEGIN IMMEDIATE`
 * runs with a ~2 ms `busy_timeout` and, if still locked, is retried after an async,
 * jittered back-off until `busyTimeoutMs` has passed. Transactions last well under a
 * millisecond, so waits are short.
 *
 * `DatabaseSync` is synchronous, which is what makes the transactions safe within one process
 * too: a transaction body never awaits, so no other task can run statements in the middle.
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { BusinessProfile } from "./business.ts";
import { dayBounds } from "./availability.ts";
import type {
  Booking,
  BookingRangeQuery,
  CallListPage,
  CallListQuery,
  CallQualityRow,
  Reminder,
  ReminderChange,
  ReminderClaim,
  ReminderWithBooking,
  StoreOptions,
} from "./types.ts";
import { MAX_LISTED_BOOKINGS } from "./types.ts";
import {
  APOLOGY_NOTE_PREFIX,
  callPage,
  escapeLike,
  phoneSuffixPattern,
  readCallSummary,
  readQualityRow,
} from "./call_queries.ts";
import {
  checkReminder,
  IN_FLIGHT_STATES,
  readReminderRow,
  REMINDER_STATES,
  sqlList,
  WAITING_STATES,
} from "./reminder_rows.ts";
import type { CallRecord } from "../call/record.ts";
import {
  ABANDONED_OUTCOME,
  type BookDecision,
  type BookingRow,
  type CancelDecision,
  checkMovable,
  decideBook,
  decideCancel,
  decideReschedule,
  newBookingId,
  phoneDigits,
  phonesMatch,
  phoneSuffix,
  type PreparedBook,
  type PreparedReschedule,
  readBookingRow,
  readCallRecord,
  type RescheduleDecision,
  type RowDialect,
  rowsToIntervals,
  rowToBooking,
  saveCallRecord,
  type SqlRow,
  StoreBase,
  StoreBusyError,
} from "./store_core.ts";

/**
 * When a save may replace the stored record of its CallSid: it is the same call (same
 * start), or the stored one is a placeholder (abandoned at start-up, or written from a
 * status callback before the call's own record). A finished call's record is never
 * overwritten by another stream for its CallSid.
 */
const OWN_CALL_RECORD = `calls.started_ms = excluded.started_ms
  OR calls.outcome = '${ABANDONED_OUTCOME}' OR substr(calls.outcome, 1, 14) = 'not_connected_'`;

/** SQLITE_BUSY (5) or SQLITE_LOCKED (6): another connection holds the lock. */
function isBusy(err: unknown): boolean {
  const code = (err as { errcode?: number }).errcode;
  return code === 5 || code === 6 || /database is locked|SQLITE_BUSY/i.test(String(err));
}

/** Schema versions, applied in order; `PRAGMA user_version` records how many ran. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE bookings (
     id              TEXT PRIMARY KEY,
     service_id      TEXT NOT NULL,
     service_name    TEXT NOT NULL,
     start_ms        INTEGER NOT NULL,
     end_ms          INTEGER NOT NULL,
     customer_name   TEXT NOT NULL,
     customer_phone  TEXT NOT NULL,
     phone_digits    TEXT NOT NULL,
     status          TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
     call_sid        TEXT,
     idempotency_key TEXT UNIQUE,
     created_ms      INTEGER NOT NULL,
     updated_ms      INTEGER NOT NULL,
     CHECK (end_ms > start_ms)
   ) STRICT;
   CREATE INDEX bookings_confirmed_start ON bookings (start_ms) WHERE status = 'confirmed';
   CREATE INDEX bookings_phone ON bookings (phone_digits);
   CREATE TABLE calls (
     call_sid     TEXT PRIMARY KEY,
     from_number  TEXT NOT NULL,
     to_number    TEXT NOT NULL,
     started_ms   INTEGER NOT NULL,
     ended_ms     INTEGER,
     outcome      TEXT NOT NULL,
     transcript   TEXT NOT NULL,
     tool_calls   TEXT NOT NULL,
     latency      TEXT NOT NULL,
     barge_ins    TEXT NOT NULL,
     extra        TEXT,
     updated_ms   INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX calls_started ON calls (started_ms);`,
  // 2: reminders, kept in step with their booking by triggers (same transaction).
  `CREATE TABLE reminders (
     booking_id     TEXT PRIMARY KEY REFERENCES bookings (id),
     state          TEXT NOT NULL CHECK (state IN ${sqlList(REMINDER_STATES)}),
     channel        TEXT NOT NULL CHECK (channel IN ('call', 'sms')),
     round          INTEGER NOT NULL,
     due_ms         INTEGER,
     since_ms       INTEGER NOT NULL,
     result         TEXT,
     attempts       TEXT NOT NULL,
     lease_owner    TEXT,
     lease_until_ms INTEGER,
     last_dial_ms   INTEGER,
     updated_ms     INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX reminders_due ON reminders (due_ms) WHERE state IN ${sqlList(WAITING_STATES)};
   CREATE INDEX reminders_in_flight ON reminders (lease_until_ms)
     WHERE state IN ${sqlList(IN_FLIGHT_STATES)};
   CREATE INDEX reminders_unplanned ON reminders (since_ms)
     WHERE state = 'scheduled' AND due_ms IS NULL;
   CREATE INDEX reminders_last_dial ON reminders (last_dial_ms) WHERE last_dial_ms IS NOT NULL;
   CREATE TABLE reminder_opt_outs (
     phone_digits TEXT PRIMARY KEY,
     source       TEXT NOT NULL,
     created_ms   INTEGER NOT NULL
   ) STRICT;
   CREATE TRIGGER reminders_on_book AFTER INSERT ON bookings WHEN NEW.status = 'confirmed'
   BEGIN
     INSERT OR IGNORE INTO reminders (booking_id, state, channel, round, due_ms, since_ms,
       result, attempts, updated_ms)
     VALUES (NEW.id, 'scheduled', 'call', 1, NULL, NEW.created_ms, NULL, '[]', NEW.updated_ms);
   END;
   CREATE TRIGGER reminders_on_cancel AFTER UPDATE OF status ON bookings
     WHEN NEW.status = 'cancelled' AND OLD.status <> 'cancelled'
   BEGIN
     UPDATE reminders SET state = 'done', result = 'dropped', due_ms = NULL, lease_owner = NULL,
       lease_until_ms = NULL, updated_ms = NEW.updated_ms
     WHERE booking_id = NEW.id AND state <> 'done';
   END;
   CREATE TRIGGER reminders_on_move AFTER UPDATE OF start_ms ON bookings
     WHEN NEW.start_ms <> OLD.start_ms AND NEW.status = 'confirmed'
   BEGIN
     UPDATE reminders SET state = 'scheduled', channel = 'call', round = round + 1, due_ms = NULL,
       since_ms = NEW.updated_ms, result = NULL, lease_owner = NULL, lease_until_ms = NULL,
       updated_ms = NEW.updated_ms
     WHERE booking_id = NEW.id;
   END;
   INSERT INTO reminders (booking_id, state, channel, round, due_ms, since_ms, result, attempts,
     updated_ms)
   SELECT id, 'scheduled', 'call', 1, NULL, created_ms, NULL, '[]', updated_ms
   FROM bookings WHERE status = 'confirmed';`,
];

const BOOKING_COLUMNS = `id, service_id, service_name, start_ms, end_ms, customer_name,
  customer_phone, phone_digits, status, call_sid, idempotency_key, created_ms, updated_ms`;

// A booking fits in one opening day (≤ 25 h with DST), so this bounds the index scan.
const MAX_BOOKING_MS = 26 * 60 * 60 * 1000;

const DIALECT: RowDialect = {
  timeSuffix: "_ms",
  ms: (v) => Number(v),
  json: (v) => JSON.parse(String(v)),
};
const toBookingRow = (r: SqlRow) => readBookingRow(r, DIALECT);
const toCallRecord = (r: SqlRow) => readCallRecord(r, DIALECT);
const toReminder = (r: SqlRow) => readReminderRow(r, DIALECT);

/** A call made a booking: one of its tool calls is a confirmed `book_slot`. */
const SQLITE_BOOKED = `EXISTS (SELECT 1 FROM json_each(calls.tool_calls) AS t
  WHERE json_extract(t.value, '$.name') = 'book_slot'
    AND json_extract(t.value, '$.result.status') = 'confirmed')`;

/** The after-call promise check flagged the call (`extra.flagged` is true). */
const SQLITE_FLAGGED = `coalesce(json_extract(calls.extra, '$.flagged') = 1, 0)`;

/** The model was unavailable: by outcome, end reason, or the call's apology note. */
const SQLITE_APOLOGY = `(calls.outcome = 'model_unavailable'
  OR json_extract(calls.extra, '$.endReason') = 'model_unavailable'
  OR EXISTS (SELECT 1 FROM json_each(calls.transcript) AS t
    WHERE json_extract(t.value, '$.role') = 'system'
      AND json_extract(t.value, '$.text') LIKE '${APOLOGY_NOTE_PREFIX}%'))`;

/** The `WHERE` clause (and its parameters) of a call list query. */
function sqliteCallFilter(query: CallListQuery): { where: string; params: SQLInputValue[] } {
  const clauses: string[] = [];
  const params: SQLInputValue[] = [];
  if (query.from) {
    clauses.push("started_ms >= ?");
    params.push(query.from.epochMilliseconds);
  }
  if (query.to) {
    clauses.push("started_ms < ?");
    params.push(query.to.epochMilliseconds);
  }
  if (query.outcome) {
    clauses.push("outcome = ?");
    params.push(query.outcome);
  }
  const phone = phoneSuffixPattern(query.phoneDigits);
  if (phone) {
    // Twilio sends E.164; strip the usual punctuation of numbers stored otherwise.
    clauses.push(
      `replace(replace(replace(replace(replace(from_number, '+', ''), '-', ''), ' ', ''),
        '(', ''), ')', '') LIKE ?`,
    );
    params.push(phone);
  }
  if (query.booked) clauses.push(SQLITE_BOOKED);
  if (query.transferred) clauses.push("outcome = 'transferred'");
  if (query.modelUnavailable) clauses.push(SQLITE_APOLOGY);
  if (query.flagged) clauses.push(`${SQLITE_FLAGGED} = 1`);
  return { where: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "", params };
}

/** {@linkcode BookingStore} on a SQLite file (or `:memory:`). */
export class SqliteBookingStore extends StoreBase {
  /** Backend name. */
  readonly kind = "sqlite" as const;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #busyTimeoutMs: number;
  #closed = false;

  private constructor(
    db: DatabaseSync,
    profile: BusinessProfile,
    clock: () => Temporal.Instant,
    busyTimeoutMs: number,
  ) {
    super(profile, clock);
    this.#db = db;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  /**
   * Opens the database file (creating its directory), sets WAL and `busy_timeout`.
   * Call {@linkcode migrate} (or use `openStore`, which does) before use.
   */
  static open(path: string, profile: BusinessProfile, opts: StoreOptions = {}): SqliteBookingStore {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const busyTimeoutMs = Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000));
    const db = new DatabaseSync(path);
    try {
      // A full busy_timeout while opening, so the WAL switch waits for a concurrent opener.
      db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
      if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("PRAGMA foreign_keys = ON");
      // From now on, waits for the write lock happen in #tx, off the event loop.
      db.exec(`PRAGMA busy_timeout = ${Math.min(2, busyTimeoutMs)}`);
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteBookingStore(
      db,
      profile,
      opts.clock ?? (() => Temporal.Now.instant()),
      busyTimeoutMs,
    );
  }

  #stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  #get(sql: string, ...params: SQLInputValue[]): SqlRow | undefined {
    return this.#stmt(sql).get(...params) as SqlRow | undefined;
  }

  #all(sql: string, ...params: SQLInputValue[]): SqlRow[] {
    return this.#stmt(sql).all(...params) as SqlRow[];
  }

  /**
   * Runs `fn` inside `BEGIN IMMEDIATE … COMMIT`, rolling back if it throws. Only taking the
   * lock is asynchronous; `fn` itself runs synchronously, so nothing else in this process can
   * run statements inside the transaction. Waits for the lock until the busy timeout or
   * `deadlineMs` (a `performance.now()` value), whichever is first, then throws
   * {@linkcode StoreBusyError} having written nothing: once the lock is taken the body and
   * the commit run without yielding, so a caller that gave up is never booked behind its back.
   */
  async #tx<T>(fn: () => T, deadlineMs: number | null = null): Promise<T> {
    const deadline = Math.min(performance.now() + this.#busyTimeoutMs, deadlineMs ?? Infinity);
    for (let delay = 1;; delay = Math.min(delay * 2, 25)) {
      try {
        this.#db.exec("BEGIN IMMEDIATE");
        break;
      } catch (err) {
        if (!isBusy(err)) throw err;
        const left = deadline - performance.now();
        if (left <= 0) throw new StoreBusyError();
        await new Promise((r) => setTimeout(r, Math.min(left, delay * (0.5 + Math.random()))));
      }
    }
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (err) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // already rolled back by SQLite (e.g. after SQLITE_FULL)
      }
      throw err;
    }
  }

  /** @inheritdoc */
  migrate(): Promise<void> {
    return this.#tx(() => {
      const version = Number(this.#get("PRAGMA user_version")?.user_version ?? 0);
      for (let v = version; v < MIGRATIONS.length; v++) this.#db.exec(MIGRATIONS[v]);
      if (version < MIGRATIONS.length) this.#db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    });
  }

  #rowById(id: string): BookingRow | undefined {
    const r = this.#get(`SELECT ${BOOKING_COLUMNS} FROM bookings WHERE id = ?`, id);
    return r ? toBookingRow(r) : undefined;
  }

  #intervals(fromMs: number, toMs: number): BookingRow[] {
    return this.#all(
      `SELECT ${BOOKING_COLUMNS} FROM bookings
       WHERE status = 'confirmed' AND start_ms < ? AND start_ms > ? AND end_ms > ?`,
      toMs,
      fromMs - MAX_BOOKING_MS,
      fromMs,
    ).map(toBookingRow);
  }

  #dayIntervals(start: Temporal.ZonedDateTime): BookingRow[] {
    const b = dayBounds(this.profile, start.toPlainDate());
    return this.#intervals(b.start.epochMilliseconds, b.end.epochMilliseconds);
  }

  #insert(row: BookingRow): BookingRow {
    for (let attempt = 0;; attempt++) {
      try {
        this.#stmt(
          `INSERT INTO bookings (${BOOKING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          row.id,
          row.serviceId,
          row.serviceName,
          row.startMs,
          row.endMs,
          row.customerName,
          row.customerPhone,
          row.phoneDigits,
          row.status,
          row.callSid,
          row.idempotencyKey,
          row.createdMs,
          row.updatedMs,
        );
        return row;
      } catch (err) {
        // A reference collision (1 in ~10⁸ per booking): draw another one.
        if (attempt < 5 && /UNIQUE constraint failed: bookings\.id/.test(String(err))) {
          row = { ...row, id: newBookingId() };
          continue;
        }
        throw err;
      }
    }
  }

  #update(row: BookingRow): void {
    this.#stmt(
      `UPDATE bookings SET service_id = ?, service_name = ?, start_ms = ?, end_ms = ?,
         status = ?, call_sid = ?, updated_ms = ? WHERE id = ?`,
    ).run(
      row.serviceId,
      row.serviceName,
      row.startMs,
      row.endMs,
      row.status,
      row.callSid,
      row.updatedMs,
      row.id,
    );
  }

  /** @inheritdoc */
  protected bookTx(prep: PreparedBook): Promise<BookDecision> {
    return this.#tx(() => {
      const keyRow = prep.idempotencyKey === null ? undefined : this.#get(
        `SELECT ${BOOKING_COLUMNS} FROM bookings WHERE idempotency_key = ?`,
        prep.idempotencyKey,
      );
      const decision = decideBook({
        profile: this.profile,
        now: this.now(),
        prep,
        keyRow: keyRow ? toBookingRow(keyRow) : undefined,
        dayRows: this.#dayIntervals(prep.start),
      });
      if (decision.kind === "insert") return { kind: "insert", row: this.#insert(decision.row) };
      return decision;
    }, prep.deadlineMs);
  }

  /** @inheritdoc */
  protected rescheduleTx(prep: PreparedReschedule): Promise<RescheduleDecision> {
    return this.#tx((): RescheduleDecision => {
      const now = this.now();
      const row = this.#rowById(prep.id);
      const refusal = checkMovable(row, prep.phoneDigits, now);
      if (refusal || !row) return refusal!;
      const decision = decideReschedule({
        profile: this.profile,
        now,
        row,
        prep,
        existing: rowsToIntervals(this.#dayIntervals(prep.start), row.id),
      });
      // Same row, one UPDATE: the old slot is released only as the new one is taken.
      if (decision.kind === "update") this.#update(decision.row);
      return decision;
    });
  }

  /** @inheritdoc */
  protected cancelTx(
    id: string,
    phone: string | undefined,
    callSid: string | null,
  ): Promise<CancelDecision> {
    return this.#tx(() => {
      const decision = decideCancel(this.#rowById(id), phone, this.now(), callSid);
      if (decision.kind === "update") this.#update(decision.row);
      return decision;
    });
  }

  /** @inheritdoc */
  protected selectRow(id: string): Promise<BookingRow | undefined> {
    return Promise.resolve(this.#rowById(id));
  }

  /** @inheritdoc */
  protected selectIntervals(fromMs: number, toMs: number): Promise<BookingRow[]> {
    return Promise.resolve(this.#intervals(fromMs, toMs));
  }

  /** @inheritdoc */
  protected selectByPhoneSuffix(suffix: string): Promise<BookingRow[]> {
    return Promise.resolve(
      this.#all(
        `SELECT ${BOOKING_COLUMNS} FROM bookings WHERE phone_digits LIKE ? ORDER BY start_ms`,
        `%${suffix}`,
      ).map(toBookingRow),
    );
  }

  /** @inheritdoc */
  saveCall(record: CallRecord): Promise<void> {
    return saveCallRecord(
      record,
      (r) => this.#tx(() => this.#upsertCall(r)),
      (r) => this.#tx(() => this.#upsertCallSummary(r)),
    );
  }

  /** The scalar columns only; an existing row keeps its transcript and tool calls. */
  #upsertCallSummary(record: CallRecord): boolean {
    return this.#stmt(
      `INSERT INTO calls (call_sid, from_number, to_number, started_ms, ended_ms, outcome,
         transcript, tool_calls, latency, barge_ins, extra, updated_ms)
       VALUES (?, ?, ?, ?, ?, ?, '[]', '[]', '{}', '[]', ?, ?)
       ON CONFLICT (call_sid) DO UPDATE SET
         from_number = excluded.from_number, to_number = excluded.to_number,
         started_ms = excluded.started_ms, ended_ms = excluded.ended_ms,
         outcome = excluded.outcome,
         extra = json_patch(coalesce(calls.extra, '{}'), excluded.extra),
         updated_ms = excluded.updated_ms
       WHERE ${OWN_CALL_RECORD}`,
    ).run(
      record.callSid,
      record.from,
      record.to,
      Temporal.Instant.from(record.startedAt).epochMilliseconds,
      record.endedAt === undefined ? null : Temporal.Instant.from(record.endedAt).epochMilliseconds,
      record.outcome,
      JSON.stringify(record.extra ?? {}),
      this.now().epochMilliseconds,
    ).changes > 0;
  }

  /** @inheritdoc */
  abandonStaleCalls(startedBefore: Temporal.Instant): Promise<number> {
    return this.#tx(() =>
      Number(
        this.#stmt(
          `UPDATE calls SET outcome = ?, ended_ms = coalesce(ended_ms, updated_ms),
             extra = json_set(coalesce(extra, '{}'), '$.abandonedAt', ?), updated_ms = ?
           WHERE outcome = 'in_progress' AND started_ms < ?`,
        ).run(
          ABANDONED_OUTCOME,
          this.now().toString(),
          this.now().epochMilliseconds,
          startedBefore.epochMilliseconds,
        ).changes,
      )
    );
  }

  #upsertCall(record: CallRecord): boolean {
    return this.#stmt(
      `INSERT INTO calls (call_sid, from_number, to_number, started_ms, ended_ms, outcome,
         transcript, tool_calls, latency, barge_ins, extra, updated_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (call_sid) DO UPDATE SET
         from_number = excluded.from_number, to_number = excluded.to_number,
         started_ms = excluded.started_ms, ended_ms = excluded.ended_ms,
         outcome = excluded.outcome, transcript = excluded.transcript,
         tool_calls = excluded.tool_calls, latency = excluded.latency,
         barge_ins = excluded.barge_ins, extra = excluded.extra, updated_ms = excluded.updated_ms
       WHERE ${OWN_CALL_RECORD}`,
    ).run(
      record.callSid,
      record.from,
      record.to,
      Temporal.Instant.from(record.startedAt).epochMilliseconds,
      record.endedAt === undefined ? null : Temporal.Instant.from(record.endedAt).epochMilliseconds,
      record.outcome,
      JSON.stringify(record.transcript),
      JSON.stringify(record.toolCalls),
      JSON.stringify(record.latency),
      JSON.stringify(record.bargeIns),
      record.extra === undefined ? null : JSON.stringify(record.extra),
      this.now().epochMilliseconds,
    ).changes > 0;
  }

  /** @inheritdoc */
  getCall(callSid: string): Promise<CallRecord | undefined> {
    const r = this.#get("SELECT * FROM calls WHERE call_sid = ?", callSid);
    return Promise.resolve(r ? toCallRecord(r) : undefined);
  }

  /** @inheritdoc */
  recentCalls(limit = 20): Promise<CallRecord[]> {
    return Promise.resolve(
      this.#all("SELECT * FROM calls ORDER BY started_ms DESC LIMIT ?", limit).map(toCallRecord),
    );
  }

  // ---------------------------------------------------------------- reminders

  #reminderRow(bookingId: string): Reminder | undefined {
    const r = this.#get("SELECT * FROM reminders WHERE booking_id = ?", bookingId);
    return r ? toReminder(r) : undefined;
  }

  #withBookings(reminders: Reminder[]): ReminderWithBooking[] {
    const out: ReminderWithBooking[] = [];
    for (const reminder of reminders) {
      const row = this.#rowById(reminder.bookingId);
      if (row) out.push({ reminder, booking: rowToBooking(row, this.profile) });
    }
    return out;
  }

  #writeReminder(r: Reminder): void {
    this.#stmt(
      `UPDATE reminders SET state = ?, channel = ?, round = ?, due_ms = ?, since_ms = ?,
         result = ?, attempts = ?, lease_owner = ?, lease_until_ms = ?, last_dial_ms = ?,
         updated_ms = ?
       WHERE booking_id = ?`,
    ).run(
      r.state,
      r.channel,
      r.round,
      r.dueMs,
      r.sinceMs,
      r.result,
      JSON.stringify(r.attempts),
      r.leaseOwner,
      r.leaseUntilMs,
      r.lastDialMs,
      r.updatedMs,
      r.bookingId,
    );
  }

  /** @inheritdoc */
  getReminder(bookingId: string): Promise<Reminder | undefined> {
    return Promise.resolve(this.#reminderRow(bookingId));
  }

  /** @inheritdoc */
  unplannedReminders(limit: number): Promise<ReminderWithBooking[]> {
    const rows = this.#all(
      `SELECT r.* FROM reminders r JOIN bookings b ON b.id = r.booking_id
       WHERE r.state = 'scheduled' AND r.due_ms IS NULL AND b.status = 'confirmed'
       ORDER BY r.since_ms LIMIT ?`,
      limit,
    ).map(toReminder);
    return Promise.resolve(this.#withBookings(rows));
  }

  /** @inheritdoc */
  updateReminder(bookingId: string, change: ReminderChange): Promise<Reminder | undefined> {
    return this.#tx(() => {
      const current = this.#reminderRow(bookingId);
      const row = current && this.#rowById(bookingId);
      if (!current || !row) return undefined;
      const next = change(current, rowToBooking(row, this.profile));
      if (!next) return current;
      checkReminder(current, next);
      this.#writeReminder(next);
      return next;
    });
  }

  /** @inheritdoc */
  claimReminders(claim: ReminderClaim): Promise<ReminderWithBooking[]> {
    // BEGIN IMMEDIATE serialises claims (and the rate count) across processes.
    return this.#tx(() => {
      const { nowMs, limit } = claim;
      const ids: string[] = [];
      const take = (sql: string, n: number, ...params: SQLInputValue[]) => {
        if (n <= 0) return [];
        const got = this.#all(sql + " LIMIT ?", ...params, n).map((r) => String(r.booking_id));
        ids.push(...got);
        return got;
      };
      take(
        `SELECT booking_id FROM reminders WHERE state IN ${sqlList(IN_FLIGHT_STATES)}
           AND lease_until_ms < ? ORDER BY lease_until_ms`,
        limit,
        nowMs,
      );
      const waiting = `SELECT booking_id FROM reminders WHERE state IN ${sqlList(WAITING_STATES)}
           AND due_ms <= ? AND (lease_until_ms IS NULL OR lease_until_ms < ?)`;
      take(`${waiting} AND channel = 'sms' ORDER BY due_ms`, limit - ids.length, nowMs, nowMs);
      const recent = Number(
        this.#get(
          "SELECT count(*) AS n FROM reminders WHERE last_dial_ms > ?",
          nowMs - 60_000,
        )?.n ?? 0,
      );
      const calls = take(
        `${waiting} AND channel = 'call' ORDER BY due_ms`,
        Math.min(limit - ids.length, claim.callSlots, claim.callsPerMinute - recent),
        nowMs,
        nowMs,
      );
      const lease = this.#stmt(
        "UPDATE reminders SET lease_owner = ?, lease_until_ms = ? WHERE booking_id = ?",
      );
      for (const id of ids) lease.run(claim.owner, nowMs + claim.leaseMs, id);
      const dialed = this.#stmt("UPDATE reminders SET last_dial_ms = ? WHERE booking_id = ?");
      for (const id of calls) dialed.run(nowMs, id);
      return this.#withBookings(ids.map((id) => this.#reminderRow(id)!));
    });
  }

  /** @inheritdoc */
  optOut(phone: string, source: string, nowMs: number): Promise<void> {
    const digits = phoneDigits(phone);
    if (digits.length < 6) return Promise.reject(new RangeError("not a phone number"));
    return this.#tx(() => {
      this.#stmt(
        `INSERT INTO reminder_opt_outs (phone_digits, source, created_ms) VALUES (?, ?, ?)
         ON CONFLICT (phone_digits) DO UPDATE SET source = excluded.source`,
      ).run(digits, source, nowMs);
      const pending = this.#all(
        `SELECT r.booking_id, b.phone_digits FROM reminders r JOIN bookings b ON b.id = r.booking_id
         WHERE r.state IN ${sqlList(WAITING_STATES)} AND b.phone_digits LIKE ?`,
        `%${phoneSuffix(digits)}`,
      );
      const end = this.#stmt(
        `UPDATE reminders SET state = 'done', result = 'opted_out', due_ms = NULL,
           lease_owner = NULL, lease_until_ms = NULL, updated_ms = ? WHERE booking_id = ?`,
      );
      for (const p of pending) {
        if (phonesMatch(String(p.phone_digits), digits)) end.run(nowMs, String(p.booking_id));
      }
    });
  }

  /** @inheritdoc */
  optIn(phone: string): Promise<void> {
    const digits = phoneDigits(phone);
    return this.#tx(() => {
      const rows = this.#all(
        "SELECT phone_digits FROM reminder_opt_outs WHERE phone_digits LIKE ?",
        `%${phoneSuffix(digits)}`,
      );
      const del = this.#stmt("DELETE FROM reminder_opt_outs WHERE phone_digits = ?");
      for (const r of rows) {
        if (phonesMatch(String(r.phone_digits), digits)) del.run(String(r.phone_digits));
      }
    });
  }

  /** @inheritdoc */
  isOptedOut(phone: string): Promise<boolean> {
    const digits = phoneDigits(phone);
    if (digits.length < 6) return Promise.resolve(false);
    const rows = this.#all(
      "SELECT phone_digits FROM reminder_opt_outs WHERE phone_digits LIKE ?",
      `%${phoneSuffix(digits)}`,
    );
    return Promise.resolve(rows.some((r) => phonesMatch(String(r.phone_digits), digits)));
  }

  /** @inheritdoc */
  listBookings(query: BookingRangeQuery): Promise<Booking[]> {
    const limit = Math.min(MAX_LISTED_BOOKINGS, Math.max(1, query.limit ?? MAX_LISTED_BOOKINGS));
    return Promise.resolve(
      this.#all(
        `SELECT ${BOOKING_COLUMNS} FROM bookings
         WHERE start_ms >= ? AND start_ms < ? AND (status = 'confirmed' OR ? = 1)
         ORDER BY start_ms, id LIMIT ?`,
        query.from.epochMilliseconds,
        query.to.epochMilliseconds,
        query.includeCancelled ? 1 : 0,
        limit,
      ).map((r) => rowToBooking(toBookingRow(r), this.profile)),
    );
  }

  /** @inheritdoc */
  bookingsForCall(callSid: string): Promise<Booking[]> {
    return Promise.resolve(
      this.#all(
        `SELECT ${BOOKING_COLUMNS} FROM bookings
         WHERE call_sid = ? OR idempotency_key LIKE ? ESCAPE '\\' ORDER BY start_ms, id`,
        callSid,
        `${escapeLike(callSid)}:%`,
      ).map((r) => rowToBooking(toBookingRow(r), this.profile)),
    );
  }

  /** @inheritdoc */
  listCalls(query: CallListQuery): Promise<CallListPage> {
    const { where, params } = sqliteCallFilter(query);
    const { limit, offset } = callPage(query);
    const total = Number(this.#get(`SELECT count(*) AS n FROM calls ${where}`, ...params)?.n ?? 0);
    const rows = this.#all(
      `SELECT call_sid, from_number, to_number, started_ms, ended_ms, outcome,
         json_array_length(transcript) AS n_turns, json_array_length(tool_calls) AS n_tools,
         json_array_length(barge_ins) AS n_barge_ins, ${SQLITE_BOOKED} AS booked,
         ${SQLITE_FLAGGED} AS flagged
       FROM calls ${where} ORDER BY started_ms DESC, call_sid DESC LIMIT ? OFFSET ?`,
      ...params,
      limit,
      offset,
    );
    return Promise.resolve({ calls: rows.map((r) => readCallSummary(r, DIALECT)), total });
  }

  /** @inheritdoc */
  callQuality(from: Temporal.Instant, to: Temporal.Instant): Promise<CallQualityRow[]> {
    return Promise.resolve(
      this.#all(
        `SELECT started_ms, outcome, latency, json_array_length(barge_ins) AS n_barge_ins,
           ${SQLITE_BOOKED} AS booked, ${SQLITE_APOLOGY} AS apology,
           json_extract(extra, '$.modelStats.reconnects') AS reconnects,
           (SELECT count(*) FROM json_each(calls.tool_calls) AS t
             WHERE json_extract(t.value, '$.error') IS NOT NULL) AS tool_errors
         FROM calls WHERE started_ms >= ? AND started_ms < ? ORDER BY started_ms`,
        from.epochMilliseconds,
        to.epochMilliseconds,
      ).map((r) => readQualityRow(r, DIALECT)),
    );
  }

  /** @inheritdoc */
  ping(): Promise<void> {
    this.#get("SELECT 1 AS one");
    return Promise.resolve();
  }

  /** @inheritdoc */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#statements.clear();
      this.#db.close();
    }
    return Promise.resolve();
  }
}
