/**
 * The booking tools the model calls: prices, free slots, booking, and finding,
 * cancelling or moving the caller's own bookings. Thin adapters from the model's
 * vocabulary (service names as spoken, snake_case arguments) to the booking store.
 *
 * @module
 */
import { z } from "zod";
import type { BusinessProfile, Service } from "../booking/business.ts";
import { findService } from "../booking/business.ts";
import { parseStartInput, type Slot } from "../booking/availability.ts";
import type { Booking, BookingStore, BookResult } from "../booking/types.ts";
import { cleanText } from "../booking/sanitize.ts";
import { samePerson } from "../booking/person.ts";
import { logger } from "../log.ts";
import { raceTimer, systemClock } from "../clock.ts";
import { defineTool, modelText, type Tool, type ToolContext } from "./tools.ts";

const log = logger("tools", "booking");

/** Most slots handed to the model at once: a caller cannot take in more by ear. */
export const MAX_SLOTS_OFFERED = 5;

/** Longest customer name the model may pass. */
export const MAX_NAME_CHARS = 100;

/** What the booking tools need. */
export interface BookingToolDeps {
  profile: BusinessProfile;
  store: BookingStore;
  /** Called after a new booking is confirmed (e.g. to send an SMS). Errors are ignored. */
  onBooked?(booking: Booking, ctx: ToolContext): Promise<void> | void;
  /** Handler deadline for store-backed tools (default 5000 ms). */
  timeoutMs?: number;
}

const PARTS_OF_DAY = {
  morning: [0, 12 * 60],
  afternoon: [12 * 60, 17 * 60],
  evening: [17 * 60, 24 * 60],
} as const;

const serviceArg = modelText(80).describe(
  'The service as the caller named it, or its id, e.g. "men\'s cut"',
);

function unknownService(profile: BusinessProfile, asked: string) {
  return {
    error: {
      code: "unknown_service",
      message: `No service called "${asked}". Ask the caller which of these they want.`,
      services: profile.services.map((s) => s.name),
    },
  };
}

function priceText(service: Service, locale: string): string {
  return new Intl.NumberFormat(locale, { style: "currency", currency: service.currency })
    .format(service.price);
}

function describeService(service: Service, locale: string) {
  return {
    id: service.id,
    name: service.name,
    price: priceText(service, locale),
    duration_minutes: service.durationMinutes,
    ...(service.description ? { description: service.description } : {}),
  };
}

function slotOut(slot: Slot) {
  return { start: slot.start, label: slot.label };
}

function bookingOut(b: Booking) {
  return {
    booking_id: b.id,
    service: b.serviceName,
    start: b.start,
    label: b.label,
    // Rows written before names were bounded must not become a huge tool output.
    customer_name: cleanText(b.customerName, { max: MAX_NAME_CHARS, oneLine: true }),
    status: b.status,
  };
}

/**
 * How book_slot spends its deadline `timeoutMs`: the store gives up (having written
 * nothing) after `storeMs`; its answer is awaited until `answerMs` (its own give-up has to
 * travel back); past that, or after an error, the database is asked whether the booking
 * exists, until `recheckMs`, which leaves the registry's deadline unreached.
 */
export function bookingBudget(timeoutMs: number): {
  storeMs: number;
  answerMs: number;
  recheckMs: number;
} {
  const storeMs = Math.round(timeoutMs * 0.5);
  return {
    storeMs,
    answerMs: storeMs + Math.round(Math.min(1000, timeoutMs * 0.15)),
    recheckMs: timeoutMs - Math.round(Math.min(250, timeoutMs * 0.05)),
  };
}

/** Resolves with `promise`'s value, or `undefined` once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return raceTimer(systemClock, promise, ms, () => undefined);
}

const UNKNOWN_OUTCOME =
  "It is NOT known whether the booking was made. Do not tell the caller it is booked, and do " +
  "not say it failed: say you are double-checking, then call book_slot again with exactly the " +
  "same arguments (it never books the same person twice). If that fails too, apologise and " +
  "offer to take a message.";

/** Keeps slots whose local start time falls in the part of the day asked for. */
function inPartOfDay(slot: Slot, part: keyof typeof PARTS_OF_DAY): boolean {
  const time = Temporal.PlainTime.from(slot.start.slice(11, 19));
  const minutes = time.hour * 60 + time.minute;
  const [from, to] = PARTS_OF_DAY[part];
  return minutes >= from && minutes < to;
}

function callerPhone(ctx: ToolContext): string | undefined {
  return ctx.callerNumber;
}

/** Builds the booking tools for one call. */
export function bookingTools(deps: BookingToolDeps): Tool[] {
  const { profile, store } = deps;
  const timeoutMs = deps.timeoutMs ?? 5000;
  const locale = profile.locale;

  const getPricing = defineTool({
    name: "get_pricing",
    description:
      "Prices and durations of the services. Give a service to get just that one; omit it for all.",
    parameters: z.object({ service: serviceArg.optional() }),
    timeoutMs,
    handler: ({ service }) => {
      if (service === undefined) {
        return Promise.resolve({
          services: profile.services.map((s) => describeService(s, locale)),
        });
      }
      const found = findService(profile, service);
      return Promise.resolve(
        found ? { service: describeService(found, locale) } : unknownService(profile, service),
      );
    },
  });

  const getSlots = defineTool({
    name: "get_slots",
    description: "Free start times for a service on a date. Never offer a time not returned here.",
    parameters: z.object({
      service: serviceArg,
      date: modelText(40).describe(
        'The date in the business time zone: "YYYY-MM-DD", "today" or "tomorrow"',
      ),
      part_of_day: z.enum(["morning", "afternoon", "evening"]).optional().describe(
        "Only times in this part of the day",
      ),
    }),
    timeoutMs,
    handler: async ({ service, date, part_of_day }) => {
      const found = findService(profile, service);
      if (!found) return unknownService(profile, service);
      const result = await store.listFreeSlots({ serviceId: found.id, date });
      if (!result.ok) return { error: { code: result.reason, message: result.message } };
      const matching = part_of_day
        ? result.slots.filter((s) => inPartOfDay(s, part_of_day))
        : result.slots;
      return {
        service: found.name,
        date: result.date,
        date_label: result.dateLabel,
        ...(result.closed
          ? { closed: true, closed_reason: result.closedReason ?? "not open that day" }
          : {}),
        slots: matching.slice(0, MAX_SLOTS_OFFERED).map(slotOut),
        more_available: matching.length > MAX_SLOTS_OFFERED,
        ...(matching.length === 0
          ? { next_available: result.nextAvailable.slice(0, 3).map(slotOut) }
          : {}),
      };
    },
  });

  /** The confirmed booking of this person for this service and instant, if any. */
  const existingBooking = async (
    serviceId: string,
    start: string,
    name: string,
    phone: string,
  ): Promise<Booking | undefined> => {
    let instant: Temporal.Instant;
    try {
      instant = parseStartInput(start, profile).toInstant();
    } catch {
      return undefined;
    }
    return (await store.findByPhone(phone)).find((b) =>
      b.serviceId === serviceId && b.status === "confirmed" &&
      Temporal.Instant.from(b.start).equals(instant) && samePerson(b.customerName, name)
    );
  };

  const budget = bookingBudget(timeoutMs);

  const bookSlot = defineTool({
    name: "book_slot",
    description:
      "Books a slot returned by get_slots, after the caller confirmed service, time and name. " +
      "One call books for one person, named in customer_name. Calling it again for the same " +
      "person, service and time returns their existing booking (status already_booked) and " +
      "never books twice. To book the same time for someone else (e.g. a family member), " +
      "call it again with that person's own name.",
    parameters: z.object({
      service: serviceArg,
      start: modelText(64).describe("The exact ISO start of the slot, from get_slots"),
      customer_name: modelText(MAX_NAME_CHARS).describe(
        "The name of the person the appointment is for",
      ),
      customer_phone: z.string().regex(/^\+?[0-9 ()-]{7,20}$/).optional().describe(
        "Only if the caller gives a number other than the one they are calling from",
      ),
    }),
    timeoutMs,
    timeoutMessage: `book_slot did not answer in time. ${UNKNOWN_OUTCOME}`,
    handler: async ({ service, start, customer_name, customer_phone }, ctx) => {
      const found = findService(profile, service);
      if (!found) return unknownService(profile, service);
      const phone = customer_phone ?? callerPhone(ctx);
      if (!phone) {
        return {
          error: { code: "phone_required", message: "Ask the caller for a phone number." },
        };
      }
      const started = performance.now();
      // No idempotency key: the store returns the existing booking when the same person
      // asks again for the same service and instant (in this call or another one).
      const attempt: Promise<{ result: BookResult } | { error: unknown }> = store.book({
        serviceId: found.id,
        start,
        customerName: customer_name,
        customerPhone: phone,
        callSid: ctx.callSid,
        timeoutMs: budget.storeMs,
      }).then((result) => ({ result }), (error: unknown) => ({ error }));
      const settled = await within(attempt, budget.answerMs);
      if (settled && "result" in settled) {
        const result = settled.result;
        if (!result.ok) {
          return {
            status: result.reason === "full" ? "unavailable" : "not_booked",
            reason: result.reason,
            message: result.message,
            alternatives: result.alternatives.slice(0, 3).map(slotOut),
          };
        }
        if (result.booking.status !== "confirmed") {
          return {
            status: "not_booked",
            reason: "cancelled",
            message: "That booking was cancelled; nothing new was booked.",
            alternatives: [],
          };
        }
        if (result.replayed) {
          return {
            ...bookingOut(result.booking),
            status: "already_booked",
            price: priceText(found, locale),
            note: "This person already had exactly this booking; no second one was made.",
          };
        }
        if (deps.onBooked) {
          try {
            await deps.onBooked(result.booking, ctx);
          } catch { /* a failed confirmation SMS must not undo the booking */ }
        }
        return {
          ...bookingOut(result.booking),
          status: "confirmed",
          price: priceText(found, locale),
        };
      }
      // An error or no answer: whether it committed is not known here. Ask the database.
      log.warn("book_slot {outcome}; checking whether the booking exists", {
        callSid: ctx.callSid,
        outcome: settled ? "failed" : "got no answer in time",
        error: settled && "error" in settled ? String(settled.error) : undefined,
      });
      const left = budget.recheckMs - (performance.now() - started);
      let existing: Booking | undefined;
      try {
        existing = await within(existingBooking(found.id, start, customer_name, phone), left);
      } catch (error) {
        log.warn("book_slot re-check failed: {error}", {
          callSid: ctx.callSid,
          error: String(error),
        });
      }
      if (existing) {
        // No confirmation SMS here: this attempt cannot tell whether it made the booking.
        log.warn("book_slot found booking {id} on re-check; no confirmation SMS sent", {
          callSid: ctx.callSid,
          id: existing.id,
        });
        return {
          ...bookingOut(existing),
          status: "confirmed",
          price: priceText(found, locale),
        };
      }
      return { status: "unknown", message: UNKNOWN_OUTCOME };
    },
  });

  const findBooking = defineTool({
    name: "find_booking",
    description: "The caller's upcoming bookings, looked up by the number they are calling from.",
    parameters: z.object({}),
    timeoutMs,
    handler: async (_args, ctx) => {
      const phone = callerPhone(ctx);
      if (!phone) return { error: { code: "phone_unknown", message: "Caller number unknown." } };
      const bookings = await store.findByPhone(phone);
      return { bookings: bookings.map(bookingOut) };
    },
  });

  const cancelBooking = defineTool({
    name: "cancel_booking",
    description: "Cancels one of the caller's bookings (from find_booking) after they confirmed.",
    parameters: z.object({ booking_id: modelText(32) }),
    timeoutMs,
    handler: async ({ booking_id }, ctx) => {
      const phone = callerPhone(ctx);
      if (!phone) return { error: { code: "phone_unknown", message: "Caller number unknown." } };
      const result = await store.cancel(booking_id.toUpperCase(), phone, ctx.callSid);
      if (!result.ok) return { error: { code: result.reason, message: result.message } };
      return { ...bookingOut(result.booking), status: "cancelled" };
    },
  });

  const rescheduleBooking = defineTool({
    name: "reschedule_booking",
    description:
      "Moves one of the caller's bookings to a new start from get_slots, after they confirmed. " +
      "The old time is kept if the new one cannot be had.",
    parameters: z.object({
      booking_id: modelText(32),
      new_start: modelText(64).describe("The exact ISO start of the new slot"),
      service: serviceArg.optional().describe("Only when changing the service too"),
    }),
    timeoutMs,
    handler: async ({ booking_id, new_start, service }, ctx) => {
      const phone = callerPhone(ctx);
      if (!phone) return { error: { code: "phone_unknown", message: "Caller number unknown." } };
      let serviceId: string | undefined;
      if (service !== undefined) {
        const found = findService(profile, service);
        if (!found) return unknownService(profile, service);
        serviceId = found.id;
      }
      const result = await store.reschedule({
        id: booking_id.toUpperCase(),
        newStart: new_start,
        phone,
        serviceId,
        callSid: ctx.callSid,
      });
      if (!result.ok) {
        return {
          status: "not_moved",
          reason: result.reason,
          message: result.message,
          alternatives: result.alternatives.slice(0, 3).map(slotOut),
        };
      }
      return { ...bookingOut(result.booking), status: "rescheduled" };
    },
  });

  return [getPricing, getSlots, bookSlot, findBooking, cancelBooking, rescheduleBooking];
}
