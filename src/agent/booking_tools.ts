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
import type { Slot } from "../booking/availability.ts";
import type { Booking, BookingStore } from "../booking/types.ts";
import { defineTool, type Tool, type ToolContext } from "./tools.ts";

/** Most slots handed to the model at once: a caller cannot take in more by ear. */
export const MAX_SLOTS_OFFERED = 5;

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

const serviceArg = z.string().min(1).describe(
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
    customer_name: b.customerName,
    status: b.status,
  };
}

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
      date: z.string().min(1).describe(
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

  const bookSlot = defineTool({
    name: "book_slot",
    description:
      "Books a slot returned by get_slots, after the caller confirmed service, time and name.",
    parameters: z.object({
      service: serviceArg,
      start: z.string().min(1).describe("The exact ISO start of the slot, from get_slots"),
      customer_name: z.string().trim().min(1).describe("The caller's name"),
      customer_phone: z.string().regex(/^\+?[0-9 ()-]{7,20}$/).optional().describe(
        "Only if the caller gives a number other than the one they are calling from",
      ),
    }),
    timeoutMs,
    handler: async ({ service, start, customer_name, customer_phone }, ctx) => {
      const found = findService(profile, service);
      if (!found) return unknownService(profile, service);
      const phone = customer_phone ?? callerPhone(ctx);
      if (!phone) {
        return {
          error: { code: "phone_required", message: "Ask the caller for a phone number." },
        };
      }
      const result = await store.book({
        serviceId: found.id,
        start,
        customerName: customer_name,
        customerPhone: phone,
        callSid: ctx.callSid,
        // One booking per call and slot: a repeated call (model retry) returns the same one.
        idempotencyKey: `${ctx.callSid}:${found.id}:${start}`,
      });
      if (!result.ok) {
        return {
          status: result.reason === "full" ? "unavailable" : "not_booked",
          reason: result.reason,
          message: result.message,
          alternatives: result.alternatives.slice(0, 3).map(slotOut),
        };
      }
      if (!result.replayed && deps.onBooked) {
        try {
          await deps.onBooked(result.booking, ctx);
        } catch { /* a failed confirmation SMS must not undo the booking */ }
      }
      return {
        ...bookingOut(result.booking),
        status: "confirmed",
        price: priceText(found, locale),
      };
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
    parameters: z.object({ booking_id: z.string().min(1) }),
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
      booking_id: z.string().min(1),
      new_start: z.string().min(1).describe("The exact ISO start of the new slot"),
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
