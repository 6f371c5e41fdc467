/**
 * PostgreSQL backend (`npm:postgres`), for deployments with several instances.
 *
 * How double booking is prevented: each write transaction first takes a transaction-scoped
 * advisory lock named after the business-local *date* it touches
 * (`pg_advisory_xact_lock(hashtextextended('booking-day:<schema>:2026-11-27', 0))`), then
 * reads that day's confirmed bookings, checks capacity and inserts, and commits (which
 * releases the lock). Why this and not the alternatives:
 * - an exclusion constraint can only say "no two rows overlap", i.e. capacity 1; the salon
 *   has capacity 2 and overlaps are partial (a 60-minute and a 30-minute booking);
 * - SERIALIZABLE would also be correct, but under a burst for the same slot most
 *   transactions abort and must be retried, and correctness then rests on every caller's
 *   retry loop;
 * - a per-day lock is correct because a booking always lies inside one local day (it must
 *   fit in that day's opening ranges), so the capacity check of a booking only ever reads
 *   rows of its own day, and every writer of that day holds the same lock. Under READ
 *   COMMITTED each statement after the lock sees everything committed before it. Different
 *   days (and different schemas) do not wait for each other; a hash collision between two
 *   keys would only make them wait, never make them wrong.
 * Lock order (no deadlocks): idempotency-key lock, then booking row (`FOR UPDATE`), then day
 * locks in ascending date order. The unique index on `idempotency_key` is a backstop.
 *
 * @module
 */
import postgres from "postgres";
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

type Sql = postgres.Sql;
type Tx = postgres.TransactionSql;
type Json = postgres.JSONValue;
type PgParam = string | number | boolean | Date;

/** When a save may replace the stored record of its CallSid (see `sqlite_store.ts`). */
const OWN_CALL_RECORD = `calls.started_at = excluded.started_at
  OR calls.outcome = '${ABANDONED_OUTCOME}' OR substr(calls.outcome, 1, 14) = 'not_connected_'`;

/** Schema versions, applied in order and recorded in `schema_migrations`. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE bookings (
     id              text PRIMARY KEY,
     service_id      text NOT NULL,
     service_name    text NOT NULL,
     start_at        timestamptz NOT NULL,
     end_at          timestamptz NOT NULL,
     customer_name   text NOT NULL,
     customer_phone  text NOT NULL,
     phone_digits    text NOT NULL,
     status          text NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
     call_sid        text,
     idempotency_key text UNIQUE,
     created_at      timestamptz NOT NULL,
     updated_at      timestamptz NOT NULL,
     CHECK (end_at > start_at)
   );
   CREATE INDEX bookings_confirmed_start ON bookings (start_at) WHERE status = 'confirmed';
   CREATE INDEX bookings_phone ON bookings (phone_digits);
   CREATE TABLE calls (
     call_sid     text PRIMARY KEY,
     from_number  text NOT NULL,
     to_number    text NOT NULL,
     started_at   timestamptz NOT NULL,
     ended_at     timestamptz,
     outcome      text NOT NULL,
     transcript   jsonb NOT NULL,
     tool_calls   jsonb NOT NULL,
     latency      jsonb NOT NULL,
     barge_ins    jsonb NOT NULL,
     extra        jsonb,
     updated_at   timestamptz NOT NULL
   );
   CREATE INDEX calls_started ON calls (started_at);`,
  // 2: reminders, kept in step with their booking by a trigger (same transaction).
  `CREATE TABLE reminders (
     booking_id     text PRIMARY KEY REFERENCES bookings (id),
     state          text NOT NULL CHECK (state IN ${sqlList(REMINDER_STATES)}),
     channel        text NOT NULL CHECK (channel IN ('call', 'sms')),
     round          integer NOT NULL,
     due_at         timestamptz,
     since_at       timestamptz NOT NULL,
     result         text,
     attempts       jsonb NOT NULL,
     lease_owner    text,
     lease_until_at timestamptz,
     last_dial_at   timestamptz,
     updated_at     timestamptz NOT NULL
   );
   CREATE INDEX reminders_due ON reminders (due_at) WHERE state IN ${sqlList(WAITING_STATES)};
   CREATE INDEX reminders_in_flight ON reminders (lease_until_at)
     WHERE state IN ${sqlList(IN_FLIGHT_STATES)};
   CREATE INDEX reminders_unplanned ON reminders (since_at)
     WHERE state = 'scheduled' AND due_at IS NULL;
   CREATE INDEX reminders_last_dial ON reminders (last_dial_at) WHERE last_dial_at IS NOT NULL;
   CREATE TABLE reminder_opt_outs (
     phone_digits text PRIMARY KEY,
     source       text NOT NULL,
     created_at   timestamptz NOT NULL
   );
   CREATE FUNCTION reminders_follow_booking() RETURNS trigger LANGUAGE plpgsql
   SET search_path FROM CURRENT AS $fn$
   BEGIN
     IF TG_OP = 'INSERT' THEN
       IF NEW.status = 'confirmed' THEN
         INSERT INTO reminders (booking_id, state, channel, round, due_at, since_at, result,
           attempts, updated_at)
         VALUES (NEW.id, 'scheduled', 'call', 1, NULL, NEW.created_at, NULL, '[]',
           NEW.updated_at)
         ON CONFLICT (booking_id) DO NOTHING;
       END IF;
     ELSIF NEW.status = 'cancelled' AND OLD.status <> 'cancelled' THEN
       UPDATE reminders SET state = 'done', result = 'dropped', due_at = NULL,
         lease_owner = NULL, lease_until_at = NULL, updated_at = NEW.updated_at
       WHERE booking_id = NEW.id AND state <> 'done';
     ELSIF NEW.start_at <> OLD.start_at AND NEW.status = 'confirmed' THEN
       UPDATE reminders SET state = 'scheduled', channel = 'call', round = round + 1,
         due_at = NULL, since_at = NEW.updated_at, result = NULL, lease_owner = NULL,
         lease_until_at = NULL, updated_at = NEW.updated_at
       WHERE booking_id = NEW.id;
     END IF;
     RETURN NULL;
   END
   $fn$;
   CREATE TRIGGER reminders_follow_booking AFTER INSERT OR UPDATE ON bookings
     FOR EACH ROW EXECUTE FUNCTION reminders_follow_booking();
   INSERT INTO reminders (booking_id, state, channel, round, due_at, since_at, result, attempts,
     updated_at)
   SELECT id, 'scheduled', 'call', 1, NULL, created_at, NULL, '[]', updated_at
   FROM bookings WHERE status = 'confirmed';`,
];

const BOOKING_COLUMNS = `id, service_id, service_name, start_at, end_at, customer_name,
  customer_phone, phone_digits, status, call_sid, idempotency_key, created_at, updated_at`;

// A booking fits in one opening day (≤ 25 h with DST), so this bounds the index scan.
const MAX_BOOKING_MS = 26 * 60 * 60 * 1000;

/** Errors worth retrying the whole transaction for. */
const RETRYABLE = new Set(["40001", "40P01"]);

/** lock_not_available (lock_timeout) and query_canceled (statement_timeout): rolled back. */
const GAVE_UP = new Set(["55P03", "57014"]);

/** Less time than this left before a booking's deadline: give up rather than start. */
const MIN_BOOKING_BUDGET_MS = 50;

const DIALECT: RowDialect = {
  timeSuffix: "_at",
  ms: (v) => v instanceof Date ? v.getTime() : new Date(String(v)).getTime(),
  json: (v) => v,
};
const toBookingRow = (r: SqlRow) => readBookingRow(r, DIALECT);
const toCallRecord = (r: SqlRow) => readCallRecord(r, DIALECT);
const toReminder = (r: SqlRow) => readReminderRow(r, DIALECT);
const date = (ms: number | null) => ms === null ? null : new Date(ms);

function pgCode(err: unknown): string | undefined {
  return err instanceof postgres.PostgresError ? err.code : undefined;
}

function pgConstraint(err: unknown): string | undefined {
  return err instanceof postgres.PostgresError
    ? (err as postgres.PostgresError & { constraint_name?: string }).constraint_name
    : undefined;
}

/** A call made a booking: one of its tool calls is a confirmed `book_slot`. */
const PG_BOOKED =
  `(calls.tool_calls @> '[{"name": "book_slot", "result": {"status": "confirmed"}}]'::jsonb)`;

/** The after-call promise check flagged the call (`extra.flagged` is true). */
const PG_FLAGGED = `coalesce(calls.extra->'flagged' = 'true'::jsonb, false)`;

/** The model was unavailable: by outcome, end reason, or the call's apology note. */
const PG_APOLOGY = `(calls.outcome = 'model_unavailable'
  OR coalesce(calls.extra->>'endReason', '') = 'model_unavailable'
  OR EXISTS (SELECT 1 FROM jsonb_array_elements(calls.transcript) AS t(e)
    WHERE t.e->>'role' = 'system' AND t.e->>'text' LIKE '${APOLOGY_NOTE_PREFIX}%'))`;

/** The `WHERE` clause (and its parameters, `$1`…) of a call list query. */
function postgresCallFilter(query: CallListQuery): { where: string; params: PgParam[] } {
  const clauses: string[] = [];
  const params: PgParam[] = [];
  const param = (value: PgParam) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (query.from) clauses.push(`started_at >= ${param(new Date(query.from.epochMilliseconds))}`);
  if (query.to) clauses.push(`started_at < ${param(new Date(query.to.epochMilliseconds))}`);
  if (query.outcome) clauses.push(`outcome = ${param(query.outcome)}`);
  const phone = phoneSuffixPattern(query.phoneDigits);
  if (phone) clauses.push(`regexp_replace(from_number, '[^0-9]', '', 'g') LIKE ${param(phone)}`);
  if (query.booked) clauses.push(PG_BOOKED);
  if (query.transferred) clauses.push("outcome = 'transferred'");
  if (query.modelUnavailable) clauses.push(PG_APOLOGY);
  if (query.flagged) clauses.push(PG_FLAGGED);
  return { where: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "", params };
}

/** {@linkcode BookingStore} on PostgreSQL. */
export class PostgresBookingStore extends StoreBase {
  /** Backend name. */
  readonly kind = "postgres" as const;
  readonly #sql: Sql;
  readonly #schema: string;

  private constructor(
    sql: Sql,
    schema: string,
    profile: BusinessProfile,
    clock: () => Temporal.Instant,
  ) {
    super(profile, clock);
    this.#sql = sql;
    this.#schema = schema;
  }

  /**
   * Creates the connection pool (connections open lazily). `opts.schema` selects the schema
   * (created by {@linkcode migrate}); all queries run with `search_path` set to it.
   */
  static open(
    url: string,
    profile: BusinessProfile,
    opts: StoreOptions = {},
  ): PostgresBookingStore {
    const schema = opts.schema ?? "public";
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new RangeError(`Invalid PostgreSQL schema name "${schema}"`);
    }
    const sql = postgres(url, {
      max: opts.maxConnections ?? 10,
      idle_timeout: 30,
      connect_timeout: 10,
      onnotice: () => {},
      connection: { search_path: schema, application_name: "voice-agent" },
    });
    return new PostgresBookingStore(
      sql,
      schema,
      profile,
      opts.clock ?? (() => Temporal.Now.instant()),
    );
  }

  /**
   * Runs `fn` in a transaction, retrying on serialization failures and deadlocks.
   *
   * With a `deadlineMs` (a `performance.now()` value), the server itself enforces it:
   * `lock_timeout` and `statement_timeout` are set to the time left, so a transaction stuck
   * behind another session's day lock is cancelled and rolled back by PostgreSQL instead of
   * committing after the caller gave up; the body is not started, and not committed, once
   * the deadline has passed. Any of these throws {@linkcode StoreBusyError}.
   */
  async #tx<T>(fn: (tx: Tx) => Promise<T>, deadlineMs: number | null = null): Promise<T> {
    const left = () => deadlineMs === null ? Infinity : Math.floor(deadlineMs - performance.now());
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#sql.begin(async (tx) => {
          if (deadlineMs !== null) {
            // Measured here: waiting for a pooled connection used part of the budget.
            const ms = left();
            if (ms < MIN_BOOKING_BUDGET_MS) throw new StoreBusyError();
            await tx`SELECT set_config('lock_timeout', ${`${ms}ms`}, true),
              set_config('statement_timeout', ${`${ms}ms`}, true)`;
          }
          const result = await fn(tx);
          if (left() <= 0) throw new StoreBusyError(); // roll back rather than commit late
          return result;
        }) as T;
      } catch (err) {
        if (deadlineMs !== null && GAVE_UP.has(pgCode(err) ?? "")) throw new StoreBusyError();
        if (attempt < 5 && RETRYABLE.has(pgCode(err) ?? "") && left() > 0) continue;
        throw err;
      }
    }
  }

  async #lock(tx: Tx, name: string): Promise<void> {
    await tx`SELECT pg_advisory_xact_lock(hashtextextended(${name}, 0))`;
  }

  async #lockDays(tx: Tx, starts: readonly Temporal.ZonedDateTime[]): Promise<void> {
    const dates = [
      ...new Set(starts.map((s) => s.withTimeZone(this.profile.timeZone).toPlainDate().toString())),
    ]
      .sort();
    for (const d of dates) await this.#lock(tx, `booking-day:${this.#schema}:${d}`);
  }

  async #dayIntervals(tx: Tx | Sql, start: Temporal.ZonedDateTime): Promise<BookingRow[]> {
    const b = dayBounds(this.profile, start.withTimeZone(this.profile.timeZone).toPlainDate());
    return await this.#intervalsOn(tx, b.start.epochMilliseconds, b.end.epochMilliseconds);
  }

  async #intervalsOn(q: Tx | Sql, fromMs: number, toMs: number): Promise<BookingRow[]> {
    const rows = await q.unsafe(
      `SELECT ${BOOKING_COLUMNS} FROM bookings
       WHERE status = 'confirmed' AND start_at < $1 AND start_at > $2 AND end_at > $3`,
      [new Date(toMs), new Date(fromMs - MAX_BOOKING_MS), new Date(fromMs)],
    );
    return rows.map(toBookingRow);
  }

  async #rowById(q: Tx | Sql, id: string, forUpdate = false): Promise<BookingRow | undefined> {
    const rows = await q.unsafe(
      `SELECT ${BOOKING_COLUMNS} FROM bookings WHERE id = $1${forUpdate ? " FOR UPDATE" : ""}`,
      [id],
    );
    return rows.length ? toBookingRow(rows[0]) : undefined;
  }

  async #update(tx: Tx, row: BookingRow): Promise<void> {
    await tx`UPDATE bookings SET service_id = ${row.serviceId}, service_name = ${row.serviceName},
      start_at = ${new Date(row.startMs)}, end_at = ${new Date(row.endMs)}, status = ${row.status},
      call_sid = ${row.callSid}, updated_at = ${new Date(row.updatedMs)} WHERE id = ${row.id}`;
  }

  /** @inheritdoc */
  async migrate(): Promise<void> {
    const schema = this.#schema;
    await this.#sql.begin(async (tx) => {
      // Several instances may start together: one migrates, the others wait, then see it done.
      await this.#lock(tx, `voice-agent-migrate:${schema}`);
      await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await tx.unsafe(
        `CREATE TABLE IF NOT EXISTS "${schema}".schema_migrations (
           version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = new Set(
        (await tx.unsafe(`SELECT version FROM "${schema}".schema_migrations`)).map((r) =>
          Number(r.version)
        ),
      );
      for (let v = 1; v <= MIGRATIONS.length; v++) {
        if (done.has(v)) continue;
        await tx.unsafe(MIGRATIONS[v - 1]);
        await tx.unsafe(`INSERT INTO "${schema}".schema_migrations (version) VALUES ($1)`, [v]);
      }
    });
  }

  /** @inheritdoc */
  protected async bookTx(prep: PreparedBook): Promise<BookDecision> {
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#tx(async (tx): Promise<BookDecision> => {
          if (prep.idempotencyKey !== null) {
            await this.#lock(tx, `booking-key:${this.#schema}:${prep.idempotencyKey}`);
          }
          await this.#lockDays(tx, [prep.start]);
          const keyRows = prep.idempotencyKey === null ? [] : await tx.unsafe(
            `SELECT ${BOOKING_COLUMNS} FROM bookings WHERE idempotency_key = $1`,
            [prep.idempotencyKey],
          );
          const decision = decideBook({
            profile: this.profile,
            now: this.now(),
            prep,
            keyRow: keyRows.length ? toBookingRow(keyRows[0]) : undefined,
            dayRows: await this.#dayIntervals(tx, prep.start),
          });
          if (decision.kind !== "insert") return decision;
          const row = attempt === 1 ? decision.row : { ...decision.row, id: newBookingId() };
          await tx`INSERT INTO bookings (id, service_id, service_name, start_at, end_at,
              customer_name, customer_phone, phone_digits, status, call_sid, idempotency_key,
              created_at, updated_at)
            VALUES (${row.id}, ${row.serviceId}, ${row.serviceName}, ${new Date(row.startMs)},
              ${new Date(row.endMs)}, ${row.customerName}, ${row.customerPhone},
              ${row.phoneDigits}, ${row.status}, ${row.callSid}, ${row.idempotencyKey},
              ${new Date(row.createdMs)}, ${new Date(row.updatedMs)})`;
          return { kind: "insert", row };
        }, prep.deadlineMs);
      } catch (err) {
        // A reference collision: the whole transaction rolled back; try again with a new id.
        if (attempt < 5 && pgCode(err) === "23505" && pgConstraint(err) === "bookings_pkey") {
          continue;
        }
        throw err;
      }
    }
  }

  /** @inheritdoc */
  protected rescheduleTx(prep: PreparedReschedule): Promise<RescheduleDecision> {
    return this.#tx(async (tx): Promise<RescheduleDecision> => {
      const now = this.now();
      const row = await this.#rowById(tx, prep.id, true);
      const refusal = checkMovable(row, prep.phoneDigits, now);
      if (refusal || !row) return refusal!;
      const oldStart = Temporal.Instant.fromEpochMilliseconds(row.startMs).toZonedDateTimeISO(
        this.profile.timeZone,
      );
      await this.#lockDays(tx, [oldStart, prep.start]);
      const decision = decideReschedule({
        profile: this.profile,
        now,
        row,
        prep,
        existing: rowsToIntervals(await this.#dayIntervals(tx, prep.start), row.id),
      });
      // Same row, one UPDATE: the old slot is released only as the new one is taken.
      if (decision.kind === "update") await this.#update(tx, decision.row);
      return decision;
    });
  }

  /** @inheritdoc */
  protected cancelTx(
    id: string,
    phone: string | undefined,
    callSid: string | null,
  ): Promise<CancelDecision> {
    // Cancelling only frees capacity, so the row lock is enough (no day lock).
    return this.#tx(async (tx) => {
      const decision = decideCancel(await this.#rowById(tx, id, true), phone, this.now(), callSid);
      if (decision.kind === "update") await this.#update(tx, decision.row);
      return decision;
    });
  }

  /** @inheritdoc */
  protected selectRow(id: string): Promise<BookingRow | undefined> {
    return this.#rowById(this.#sql, id);
  }

  /** @inheritdoc */
  protected selectIntervals(fromMs: number, toMs: number): Promise<BookingRow[]> {
    return this.#intervalsOn(this.#sql, fromMs, toMs);
  }

  /** @inheritdoc */
  protected async selectByPhoneSuffix(suffix: string): Promise<BookingRow[]> {
    const rows = await this.#sql.unsafe(
      `SELECT ${BOOKING_COLUMNS} FROM bookings WHERE phone_digits LIKE $1 ORDER BY start_at`,
      [`%${suffix}`],
    );
    return rows.map(toBookingRow);
  }

  /** @inheritdoc */
  saveCall(record: CallRecord): Promise<void> {
    return saveCallRecord(record, (r) => this.#upsertCall(r), (r) => this.#upsertCallSummary(r));
  }

  /** The scalar columns only; an existing row keeps its transcript and tool calls. */
  async #upsertCallSummary(record: CallRecord): Promise<boolean> {
    const sql = this.#sql;
    const rows =
      await sql`INSERT INTO calls (call_sid, from_number, to_number, started_at, ended_at, outcome,
        transcript, tool_calls, latency, barge_ins, extra, updated_at)
      VALUES (${record.callSid}, ${record.from}, ${record.to},
        ${new Date(Temporal.Instant.from(record.startedAt).epochMilliseconds)},
        ${
        record.endedAt === undefined
          ? null
          : new Date(Temporal.Instant.from(record.endedAt).epochMilliseconds)
      },
        ${record.outcome}, '[]'::jsonb, '[]'::jsonb, '{}'::jsonb, '[]'::jsonb,
        ${sql.json((record.extra ?? {}) as Json)}, ${new Date(this.now().epochMilliseconds)})
      ON CONFLICT (call_sid) DO UPDATE SET
        from_number = excluded.from_number, to_number = excluded.to_number,
        started_at = excluded.started_at, ended_at = excluded.ended_at,
        outcome = excluded.outcome, extra = coalesce(calls.extra, '{}'::jsonb) || excluded.extra,
        updated_at = excluded.updated_at
      WHERE ${sql.unsafe(OWN_CALL_RECORD)}
      RETURNING call_sid`;
    return rows.length > 0;
  }

  /** @inheritdoc */
  async abandonStaleCalls(startedBefore: Temporal.Instant): Promise<number> {
    const now = this.now();
    const rows = await this.#sql`UPDATE calls SET outcome = ${ABANDONED_OUTCOME},
        ended_at = coalesce(ended_at, updated_at),
        extra = coalesce(extra, '{}'::jsonb) || jsonb_build_object('abandonedAt', ${now.toString()}::text),
        updated_at = ${new Date(now.epochMilliseconds)}
      WHERE outcome = 'in_progress' AND started_at < ${new Date(startedBefore.epochMilliseconds)}
      RETURNING call_sid`;
    return rows.length;
  }

  async #upsertCall(record: CallRecord): Promise<boolean> {
    const sql = this.#sql;
    const ended = record.endedAt === undefined
      ? null
      : new Date(Temporal.Instant.from(record.endedAt).epochMilliseconds);
    const rows =
      await sql`INSERT INTO calls (call_sid, from_number, to_number, started_at, ended_at, outcome,
        transcript, tool_calls, latency, barge_ins, extra, updated_at)
      VALUES (${record.callSid}, ${record.from}, ${record.to},
        ${new Date(Temporal.Instant.from(record.startedAt).epochMilliseconds)}, ${ended},
        ${record.outcome}, ${sql.json(record.transcript as unknown as Json)},
        ${sql.json(record.toolCalls as unknown as Json)}, ${sql.json(record.latency as Json)},
        ${sql.json(record.bargeIns as unknown as Json)},
        ${record.extra === undefined ? null : sql.json(record.extra as Json)},
        ${new Date(this.now().epochMilliseconds)})
      ON CONFLICT (call_sid) DO UPDATE SET
        from_number = excluded.from_number, to_number = excluded.to_number,
        started_at = excluded.started_at, ended_at = excluded.ended_at,
        outcome = excluded.outcome, transcript = excluded.transcript,
        tool_calls = excluded.tool_calls, latency = excluded.latency,
        barge_ins = excluded.barge_ins, extra = excluded.extra, updated_at = excluded.updated_at
      WHERE ${sql.unsafe(OWN_CALL_RECORD)}
      RETURNING call_sid`;
    return rows.length > 0;
  }

  /** @inheritdoc */
  async getCall(callSid: string): Promise<CallRecord | undefined> {
    const rows = await this.#sql`SELECT * FROM calls WHERE call_sid = ${callSid}`;
    return rows.length ? toCallRecord(rows[0]) : undefined;
  }

  /** @inheritdoc */
  async recentCalls(limit = 20): Promise<CallRecord[]> {
    const rows = await this.#sql`SELECT * FROM calls ORDER BY started_at DESC LIMIT ${limit}`;
    return rows.map(toCallRecord);
  }

  // ---------------------------------------------------------------- reminders

  async #reminderRow(q: Tx | Sql, bookingId: string, forUpdate = false) {
    const rows = await q.unsafe(
      `SELECT * FROM reminders WHERE booking_id = $1${forUpdate ? " FOR UPDATE" : ""}`,
      [bookingId],
    );
    return rows.length ? toReminder(rows[0]) : undefined;
  }

  async #withBookings(q: Tx | Sql, reminders: Reminder[]): Promise<ReminderWithBooking[]> {
    if (reminders.length === 0) return [];
    const rows = await q.unsafe(`SELECT ${BOOKING_COLUMNS} FROM bookings WHERE id = ANY($1)`, [
      reminders.map((r) => r.bookingId),
    ]);
    const byId = new Map(rows.map((r) => [String(r.id), toBookingRow(r)]));
    return reminders.flatMap((reminder) => {
      const row = byId.get(reminder.bookingId);
      return row ? [{ reminder, booking: rowToBooking(row, this.profile) }] : [];
    });
  }

  /** @inheritdoc */
  getReminder(bookingId: string): Promise<Reminder | undefined> {
    return this.#reminderRow(this.#sql, bookingId);
  }

  /** @inheritdoc */
  async unplannedReminders(limit: number): Promise<ReminderWithBooking[]> {
    const rows = await this.#sql.unsafe(
      `SELECT r.* FROM reminders r JOIN bookings b ON b.id = r.booking_id
       WHERE r.state = 'scheduled' AND r.due_at IS NULL AND b.status = 'confirmed'
       ORDER BY r.since_at LIMIT $1`,
      [limit],
    );
    return await this.#withBookings(this.#sql, rows.map(toReminder));
  }

  /** @inheritdoc */
  updateReminder(bookingId: string, change: ReminderChange): Promise<Reminder | undefined> {
    // Lock order: the reminder row only. A booking transaction locks the booking, then (its
    // trigger) the reminder, so it waits for this one and then applies on top of it.
    return this.#tx(async (tx) => {
      const current = await this.#reminderRow(tx, bookingId, true);
      const row = current && await this.#rowById(tx, bookingId);
      if (!current || !row) return undefined;
      const next = change(current, rowToBooking(row, this.profile));
      if (!next) return current;
      checkReminder(current, next);
      await tx`UPDATE reminders SET state = ${next.state}, channel = ${next.channel},
          round = ${next.round}, due_at = ${date(next.dueMs)}, since_at = ${date(next.sinceMs)},
          result = ${next.result}, attempts = ${tx.json(next.attempts as unknown as Json)},
          lease_owner = ${next.leaseOwner}, lease_until_at = ${date(next.leaseUntilMs)},
          last_dial_at = ${date(next.lastDialMs)}, updated_at = ${date(next.updatedMs)}
        WHERE booking_id = ${bookingId}`;
      return next;
    });
  }

  /** @inheritdoc */
  claimReminders(claim: ReminderClaim): Promise<ReminderWithBooking[]> {
    return this.#tx(async (tx) => {
      // One claimer at a time per schema, so the global rate count is exact; SKIP LOCKED
      // passes over reminders a booking transaction is changing right now.
      await this.#lock(tx, `reminder-claim:${this.#schema}`);
      const now = new Date(claim.nowMs);
      const ids: string[] = [];
      const take = async (sql: string, n: number): Promise<string[]> => {
        if (n <= 0) return [];
        const rows = await tx.unsafe(`${sql} LIMIT $2 FOR UPDATE SKIP LOCKED`, [now, n]);
        const got = rows.map((r) => String(r.booking_id));
        ids.push(...got);
        return got;
      };
      await take(
        `SELECT booking_id FROM reminders WHERE state IN ${sqlList(IN_FLIGHT_STATES)}
           AND lease_until_at < $1 ORDER BY lease_until_at`,
        claim.limit,
      );
      const waiting = `SELECT booking_id FROM reminders WHERE state IN ${sqlList(WAITING_STATES)}
           AND due_at <= $1 AND (lease_until_at IS NULL OR lease_until_at < $1)`;
      await take(`${waiting} AND channel = 'sms' ORDER BY due_at`, claim.limit - ids.length);
      const [{ n: recent }] = await tx.unsafe(
        "SELECT count(*)::int AS n FROM reminders WHERE last_dial_at > $1",
        [new Date(claim.nowMs - 60_000)],
      );
      const calls = await take(
        `${waiting} AND channel = 'call' ORDER BY due_at`,
        Math.min(claim.limit - ids.length, claim.callSlots, claim.callsPerMinute - Number(recent)),
      );
      if (ids.length === 0) return [];
      await tx.unsafe(
        `UPDATE reminders SET lease_owner = $1, lease_until_at = $2 WHERE booking_id = ANY($3)`,
        [claim.owner, new Date(claim.nowMs + claim.leaseMs), ids],
      );
      if (calls.length > 0) {
        await tx.unsafe(`UPDATE reminders SET last_dial_at = $1 WHERE booking_id = ANY($2)`, [
          now,
          calls,
        ]);
      }
      const rows = await tx.unsafe(`SELECT * FROM reminders WHERE booking_id = ANY($1)`, [ids]);
      const order = new Map(ids.map((id, i) => [id, i]));
      const claimed = rows.map(toReminder).sort((a, b) =>
        order.get(a.bookingId)! - order.get(b.bookingId)!
      );
      return await this.#withBookings(tx, claimed);
    });
  }

  /** @inheritdoc */
  async optOut(phone: string, source: string, nowMs: number): Promise<void> {
    const digits = phoneDigits(phone);
    if (digits.length < 6) throw new RangeError("not a phone number");
    await this.#tx(async (tx) => {
      await tx`INSERT INTO reminder_opt_outs (phone_digits, source, created_at)
        VALUES (${digits}, ${source}, ${new Date(nowMs)})
        ON CONFLICT (phone_digits) DO UPDATE SET source = excluded.source`;
      const pending = await tx.unsafe(
        `SELECT r.booking_id, b.phone_digits FROM reminders r JOIN bookings b ON b.id = r.booking_id
         WHERE r.state IN ${sqlList(WAITING_STATES)} AND b.phone_digits LIKE $1`,
        [`%${phoneSuffix(digits)}`],
      );
      const ids = pending.filter((p) => phonesMatch(String(p.phone_digits), digits)).map((p) =>
        String(p.booking_id)
      );
      if (ids.length === 0) return;
      await tx.unsafe(
        `UPDATE reminders SET state = 'done', result = 'opted_out', due_at = NULL,
           lease_owner = NULL, lease_until_at = NULL, updated_at = $1
         WHERE booking_id = ANY($2) AND state IN ${sqlList(WAITING_STATES)}`,
        [new Date(nowMs), ids],
      );
    });
  }

  /** @inheritdoc */
  async optIn(phone: string): Promise<void> {
    const digits = phoneDigits(phone);
    const rows = await this.#sql.unsafe(
      "SELECT phone_digits FROM reminder_opt_outs WHERE phone_digits LIKE $1",
      [`%${phoneSuffix(digits)}`],
    );
    const matching = rows.map((r) => String(r.phone_digits)).filter((d) => phonesMatch(d, digits));
    if (matching.length > 0) {
      await this.#sql.unsafe("DELETE FROM reminder_opt_outs WHERE phone_digits = ANY($1)", [
        matching,
      ]);
    }
  }

  /** @inheritdoc */
  async isOptedOut(phone: string): Promise<boolean> {
    const digits = phoneDigits(phone);
    if (digits.length < 6) return false;
    const rows = await this.#sql.unsafe(
      "SELECT phone_digits FROM reminder_opt_outs WHERE phone_digits LIKE $1",
      [`%${phoneSuffix(digits)}`],
    );
    return rows.some((r) => phonesMatch(String(r.phone_digits), digits));
  }

  /** @inheritdoc */
  async listBookings(query: BookingRangeQuery): Promise<Booking[]> {
    const limit = Math.min(MAX_LISTED_BOOKINGS, Math.max(1, query.limit ?? MAX_LISTED_BOOKINGS));
    const rows = await this.#sql.unsafe(
      `SELECT ${BOOKING_COLUMNS} FROM bookings
       WHERE start_at >= $1 AND start_at < $2 AND (status = 'confirmed' OR $3::boolean)
       ORDER BY start_at, id LIMIT $4`,
      [
        new Date(query.from.epochMilliseconds),
        new Date(query.to.epochMilliseconds),
        query.includeCancelled ?? false,
        limit,
      ],
    );
    return rows.map((r) => rowToBooking(toBookingRow(r), this.profile));
  }

  /** @inheritdoc */
  async bookingsForCall(callSid: string): Promise<Booking[]> {
    const rows = await this.#sql.unsafe(
      `SELECT ${BOOKING_COLUMNS} FROM bookings
       WHERE call_sid = $1 OR idempotency_key LIKE $2 ESCAPE '\\' ORDER BY start_at, id`,
      [callSid, `${escapeLike(callSid)}:%`],
    );
    return rows.map((r) => rowToBooking(toBookingRow(r), this.profile));
  }

  /** @inheritdoc */
  async listCalls(query: CallListQuery): Promise<CallListPage> {
    const { where, params } = postgresCallFilter(query);
    const { limit, offset } = callPage(query);
    const [count] = await this.#sql.unsafe(`SELECT count(*) AS n FROM calls ${where}`, params);
    const rows = await this.#sql.unsafe(
      `SELECT call_sid, from_number, to_number, started_at, ended_at, outcome,
         jsonb_array_length(transcript) AS n_turns, jsonb_array_length(tool_calls) AS n_tools,
         jsonb_array_length(barge_ins) AS n_barge_ins, ${PG_BOOKED} AS booked,
         ${PG_FLAGGED} AS flagged
       FROM calls ${where} ORDER BY started_at DESC, call_sid DESC
       LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, limit, offset],
    );
    return { calls: rows.map((r) => readCallSummary(r, DIALECT)), total: Number(count.n) };
  }

  /** @inheritdoc */
  async callQuality(from: Temporal.Instant, to: Temporal.Instant): Promise<CallQualityRow[]> {
    const rows = await this.#sql.unsafe(
      `SELECT started_at, outcome, latency, jsonb_array_length(barge_ins) AS n_barge_ins,
         ${PG_BOOKED} AS booked, ${PG_APOLOGY} AS apology,
         CASE WHEN jsonb_typeof(extra->'modelStats'->'reconnects') = 'number'
           THEN (extra->'modelStats'->>'reconnects')::numeric ELSE 0 END AS reconnects,
         (SELECT count(*) FROM jsonb_array_elements(calls.tool_calls) AS t(e)
           WHERE t.e->>'error' IS NOT NULL) AS tool_errors
       FROM calls WHERE started_at >= $1 AND started_at < $2 ORDER BY started_at`,
      [new Date(from.epochMilliseconds), new Date(to.epochMilliseconds)],
    );
    return rows.map((r) => readQualityRow(r, DIALECT));
  }

  /** @inheritdoc */
  async ping(): Promise<void> {
    await this.#sql`SELECT 1`;
  }

  /** @inheritdoc */
  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}
