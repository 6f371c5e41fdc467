/**
 * The console's JSON API: the data the pages show, and the booking changes an operator
 * makes by hand. Every operation is `POST /console/api/<name>` with a JSON body, so filters
 * such as a phone number never appear in a URL (URLs end up in proxy and browser logs); the
 * routes module checks the session and CSRF token before any handler here runs.
 *
 * Bookings are changed through the very store operations the agent's tools use
 * (`book`, `cancel`, `reschedule`, `listFreeSlots`), so the same transaction decides a race
 * for the last free slot, and the same validation messages come back.
 *
 * @module
 */
import { z } from "zod";
import type { BookingStore, BookResult, Reminder, RescheduleResult } from "../booking/types.ts";
import type { Booking } from "../booking/types.ts";
import type { BusinessProfile } from "../booking/business.ts";
import { findService } from "../booking/business.ts";
import { closedDateEntry, dayBounds, todayInZone, weekdayOf } from "../booking/availability.ts";
import { json, jsonError } from "../http.ts";
import { logger } from "../log.ts";
import type { BusinessProfileSource } from "./profile_reload.ts";
import { MAX_QUALITY_DAYS, qualitySeries } from "./quality.ts";
import { callTimeline, smsOf } from "./timeline.ts";
import { afterCallView } from "./after_call_view.ts";

const log = logger("console");

/** What the API reads and changes. */
export interface ConsoleApiDeps {
  store: BookingStore;
  profiles: BusinessProfileSource;
  /** `REMINDERS`: with `off` no reminder state is shown (the store keeps it regardless). */
  reminders?: "call" | "sms" | "off";
  /** The clock (tests pin it). */
  now?: () => Temporal.Instant;
}

/** Who made a request (for the log line of a change). */
export interface ApiContext {
  remoteAddr?: string;
}

/** One API operation: validates its body, then answers. */
interface Operation<S extends z.ZodType> {
  body: S;
  run(input: z.output<S>, ctx: ApiContext): Promise<Response>;
}

const dateText = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "expected a date YYYY-MM-DD")
  .refine((s) => {
    try {
      Temporal.PlainDate.from(s, { overflow: "reject" });
      return true;
    } catch {
      return false;
    }
  }, "not a real date");
const shortText = (max: number) => z.string().trim().max(max);

/** Adds the service's price to a booking (the price list of the profile in force). */
function withPrice(profile: BusinessProfile, b: Booking) {
  const service = findService(profile, b.serviceId);
  return {
    ...b,
    price: service?.price ?? null,
    currency: service?.currency ?? null,
    durationMinutes: service?.durationMinutes ?? null,
  };
}

/** What the calendar shows of a booking's reminder. */
export interface ReminderView {
  state: Reminder["state"];
  /** Why it is done (`answered`, `voicemail`, `sms`, `opted_out`, `dropped`, ...). */
  result: string | null;
  /** When the next attempt is due (UTC ISO), while one is planned. */
  dueAt: string | null;
  attempts: number;
  /** What the customer did on the last answered call (`confirmed`, `cancelled`, ...). */
  response: string | null;
}

/** A booking's reminder as the console shows it (null: none). */
export function reminderView(r: Reminder | undefined): ReminderView | null {
  if (!r) return null;
  const last = r.attempts.at(-1);
  return {
    state: r.state,
    result: r.result,
    dueAt: r.state === "done" || r.dueMs === null ? null : new Date(r.dueMs).toISOString(),
    attempts: r.attempts.length,
    response: last?.response ?? null,
  };
}

/** HTTP status of a refused booking change: 409 for a conflict, 404, else 422. */
function refusalStatus(reason: string): number {
  if (reason === "full" || reason === "idempotency_conflict") return 409;
  if (reason === "not_found") return 404;
  return 422;
}

function changeResponse(
  profile: BusinessProfile,
  result: BookResult | RescheduleResult,
): Response {
  if (result.ok) return json({ ok: true, booking: withPrice(profile, result.booking) });
  return json(
    {
      ok: false,
      reason: result.reason,
      message: result.message,
      alternatives: result.alternatives,
    },
    refusalStatus(result.reason),
  );
}

/** Builds the API's operations, by name. */
export function consoleApi(deps: ConsoleApiDeps): Map<string, Operation<z.ZodType>> {
  const { store, profiles } = deps;
  const now = deps.now ?? (() => Temporal.Now.instant());
  const ops = new Map<string, Operation<z.ZodType>>();
  const op = <S extends z.ZodType>(name: string, o: Operation<S>) =>
    ops.set(name, o as unknown as Operation<z.ZodType>);

  op("calendar", {
    body: z.strictObject({
      date: z.union([dateText, z.literal("today")]).default("today"),
      days: z.union([z.literal(1), z.literal(7)]).default(1),
      includeCancelled: z.boolean().default(true),
    }),
    async run(input) {
      const profile = profiles.current;
      const today = todayInZone(profile, now());
      const first = input.date === "today" ? today : Temporal.PlainDate.from(input.date);
      const dates = Array.from({ length: input.days }, (_, i) => first.add({ days: i }));
      const from = dayBounds(profile, first).start;
      const to = dayBounds(profile, dates.at(-1)!).end;
      const bookings = await store.listBookings({
        from,
        to,
        includeCancelled: input.includeCancelled,
      });
      return json({
        timeZone: profile.timeZone,
        locale: profile.locale,
        today: today.toString(),
        from: first.toString(),
        days: dates.map((date) => {
          const holiday = closedDateEntry(profile, date);
          const hours = profile.openingHours[weekdayOf(date)];
          return {
            date: date.toString(),
            weekday: weekdayOf(date),
            hours: holiday ? [] : hours,
            closed: holiday !== undefined || hours.length === 0,
            ...(holiday?.reason ? { closedReason: holiday.reason } : {}),
          };
        }),
        services: profile.services.map((s) => ({
          id: s.id,
          name: s.name,
          durationMinutes: s.durationMinutes,
          price: s.price,
          currency: s.currency,
        })),
        bookings: await Promise.all(
          bookings.map(async (b) => ({
            ...withPrice(profile, b),
            reminder: deps.reminders && deps.reminders !== "off"
              ? reminderView(await store.getReminder(b.id))
              : null,
          })),
        ),
      });
    },
  });

  op("slots", {
    body: z.strictObject({ serviceId: shortText(80), date: dateText }),
    async run(input) {
      const result = await store.listFreeSlots({ serviceId: input.serviceId, date: input.date });
      return json(result, result.ok ? 200 : 422);
    },
  });

  op("bookings/add", {
    body: z.strictObject({
      serviceId: shortText(80),
      start: shortText(60),
      customerName: shortText(100),
      customerPhone: shortText(40),
      // The page's id for this submission: a retried request cannot book twice.
      requestId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
    }),
    async run(input, ctx) {
      const result = await store.book({
        serviceId: input.serviceId,
        start: input.start,
        customerName: input.customerName,
        customerPhone: input.customerPhone,
        idempotencyKey: `console:${input.requestId}`,
      });
      log.info("console: booking by hand {result}", {
        result: result.ok ? result.booking.id : result.reason,
        remoteAddr: ctx.remoteAddr,
      });
      return changeResponse(profiles.current, result);
    },
  });

  op("bookings/cancel", {
    body: z.strictObject({ id: shortText(20).min(1) }),
    async run(input, ctx) {
      const result = await store.cancel(input.id);
      log.info("console: cancel {id}: {result}", {
        id: input.id,
        result: result.ok ? (result.alreadyCancelled ? "already cancelled" : "cancelled") : result
          .reason,
        remoteAddr: ctx.remoteAddr,
      });
      if (!result.ok) {
        return json(
          { ok: false, reason: result.reason, message: result.message },
          refusalStatus(result.reason),
        );
      }
      return json({
        ok: true,
        alreadyCancelled: result.alreadyCancelled,
        booking: withPrice(profiles.current, result.booking),
      });
    },
  });

  op("bookings/reschedule", {
    body: z.strictObject({
      id: shortText(20).min(1),
      newStart: shortText(60),
      serviceId: shortText(80).optional(),
    }),
    async run(input, ctx) {
      const result = await store.reschedule({
        id: input.id,
        newStart: input.newStart,
        ...(input.serviceId ? { serviceId: input.serviceId } : {}),
      });
      log.info("console: reschedule {id}: {result}", {
        id: input.id,
        result: result.ok ? "moved" : result.reason,
        remoteAddr: ctx.remoteAddr,
      });
      return changeResponse(profiles.current, result);
    },
  });

  op("calls", {
    body: z.strictObject({
      from: dateText.optional(),
      to: dateText.optional(),
      outcome: shortText(40).optional(),
      phone: shortText(30).optional(),
      booked: z.boolean().optional(),
      transferred: z.boolean().optional(),
      modelUnavailable: z.boolean().optional(),
      flagged: z.boolean().optional(),
      page: z.number().int().min(1).max(100_000).default(1),
      pageSize: z.number().int().min(1).max(100).default(25),
    }),
    async run(input) {
      const profile = profiles.current;
      const page = await store.listCalls({
        from: input.from
          ? dayBounds(profile, Temporal.PlainDate.from(input.from)).start
          : undefined,
        to: input.to ? dayBounds(profile, Temporal.PlainDate.from(input.to)).end : undefined,
        outcome: input.outcome || undefined,
        phoneDigits: input.phone || undefined,
        booked: input.booked,
        transferred: input.transferred,
        modelUnavailable: input.modelUnavailable,
        flagged: input.flagged,
        limit: input.pageSize,
        offset: (input.page - 1) * input.pageSize,
      });
      return json({
        ...page,
        page: input.page,
        pageSize: input.pageSize,
        pages: Math.max(1, Math.ceil(page.total / input.pageSize)),
        timeZone: profile.timeZone,
        locale: profile.locale,
      });
    },
  });

  op("call", {
    body: z.strictObject({ callSid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }),
    async run(input) {
      const record = await store.getCall(input.callSid);
      if (!record) return jsonError(404, "no such call");
      const profile = profiles.current;
      const bookings = await store.bookingsForCall(record.callSid);
      const durationMs = record.endedAt
        ? Date.parse(record.endedAt) - Date.parse(record.startedAt)
        : null;
      return json({
        call: {
          callSid: record.callSid,
          from: record.from,
          to: record.to,
          startedAt: record.startedAt,
          endedAt: record.endedAt ?? null,
          durationMs,
          outcome: record.outcome,
          endReason: typeof record.extra?.endReason === "string" ? record.extra.endReason : null,
        },
        timeline: callTimeline(record),
        latency: record.latency,
        bargeIns: record.bargeIns.length,
        bookings: bookings.map((b) => withPrice(profile, b)),
        sms: smsOf(record),
        afterCall: afterCallView(record),
        timeZone: profile.timeZone,
        locale: profile.locale,
      });
    },
  });

  op("quality", {
    body: z.strictObject({ from: dateText, to: dateText }),
    async run(input) {
      const profile = profiles.current;
      const first = Temporal.PlainDate.from(input.from);
      const last = Temporal.PlainDate.from(input.to);
      const days = first.until(last).days + 1;
      if (days < 1 || days > MAX_QUALITY_DAYS) {
        return jsonError(422, `pick a range of 1 to ${MAX_QUALITY_DAYS} days`);
      }
      const from = dayBounds(profile, first).start;
      const to = dayBounds(profile, last).end;
      const rows = await store.callQuality(from, to);
      return json({
        from: input.from,
        to: input.to,
        ...qualitySeries(rows, from, to, profile.timeZone),
      });
    },
  });

  const profileView = () => ({
    path: profiles.path,
    loadedAt: profiles.loadedAt,
    lastAttempt: profiles.lastAttempt ?? null,
    profile: profiles.current,
  });

  op("profile", {
    body: z.strictObject({}),
    run: () => Promise.resolve(json(profileView())),
  });

  op("profile/reload", {
    body: z.strictObject({}),
    run(_input, ctx) {
      const attempt = profiles.reload();
      log.info("console: profile reload {result}", {
        result: attempt.ok ? "ok" : "refused",
        remoteAddr: ctx.remoteAddr,
      });
      return Promise.resolve(json({ ...profileView(), reload: attempt }, attempt.ok ? 200 : 422));
    },
  });

  return ops;
}
