/**
 * The promise check, claim by claim: bookings, cancellations and reschedules against this
 * call's bookings (start compared in the business's time zone, DST included), prices
 * against the profile, hours against the profile's week and closed dates; what cannot be
 * checked says why. And the live detector of "you're booked" sentences.
 */
import assert from "node:assert/strict";
import {
  type CallTruth,
  checkBooking,
  checkClaim,
  clockTime,
} from "../../src/after_call/promise_check.ts";
import { bookingConfirmation } from "../../src/after_call/live_check.ts";
import { ClaimSchema } from "../../src/after_call/summary_schema.ts";
import type { Booking } from "../../src/booking/types.ts";
import { testProfile } from "../booking/fixtures.ts";

const profile = testProfile();

function booking(patch: Partial<Booking>): Booking {
  return {
    id: "K7M4QX",
    serviceId: "mens-cut",
    serviceName: "Men's cut",
    start: "2026-03-03T14:00:00-05:00",
    end: "2026-03-03T14:30:00-05:00",
    label: "Tuesday 3 March at 2:00 PM",
    customerName: "Sam",
    customerPhone: "+15550001111",
    status: "confirmed",
    callSid: "CA1",
    idempotencyKey: "CA1:call_1",
    createdAt: "2026-03-02T12:00:00Z",
    updatedAt: "2026-03-02T12:00:00Z",
    ...patch,
  };
}

const twoPm = booking({});

/** Checks a claim as the summary's schema reads it. */
const check = (claim: Record<string, unknown>, truth: CallTruth) =>
  checkClaim(ClaimSchema.parse(claim), truth);

Deno.test("promises: a booking claim matches a confirmed booking of this call by service and local start", () => {
  const truth = { profile, bookings: [twoPm] };
  const claim = {
    type: "booking",
    service: "men's cut",
    date: "2026-03-03",
    time: "14:00",
  };
  assert.equal(check(claim, truth).status, "verified");
  assert.equal(check({ ...claim, service: "gents cut" }, truth).status, "verified", "alias");

  const threePm = check({ ...claim, time: "15:00" }, truth);
  assert.equal(threePm.status, "mismatch");
  assert.match(threePm.truth!, /Men's cut on 2026-03-03 at 14:00 .*ref K7M4QX/);
  assert.equal(check({ ...claim, service: "Colour" }, truth).status, "mismatch");
  assert.equal(check({ ...claim, date: "2026-03-04" }, truth).status, "mismatch");

  const none = check(claim, { profile, bookings: [] });
  assert.deepEqual(none, {
    status: "mismatch",
    truth: "no confirmed booking was made in this call",
  });
  const cancelled = check(claim, { profile, bookings: [booking({ status: "cancelled" })] });
  assert.equal(cancelled.status, "mismatch", "a cancelled booking is no booking");

  assert.equal(check({ ...claim, service: "massage" }, truth).status, "unverifiable");
  assert.equal(check({ ...claim, date: "next Tuesday" }, truth).status, "unverifiable");
  assert.equal(check({ ...claim, time: "teatime" }, truth).status, "unverifiable");
});

Deno.test("promises: starts are compared on the business's wall clock, across a DST change", () => {
  // 8 March 2026: New York moves to EDT. 10:00 local is 14:00Z (not 15:00Z).
  const afterDst = booking({
    start: "2026-03-10T10:00:00-04:00",
    end: "2026-03-10T10:30:00-04:00",
  });
  const claim = {
    type: "booking",
    service: "Men's cut",
    date: "2026-03-10",
    time: "10:00",
  };
  assert.equal(check(claim, { profile, bookings: [afterDst] }).status, "verified");
  assert.equal(
    check({ ...claim, time: "9:00 AM" }, { profile, bookings: [afterDst] }).status,
    "mismatch",
  );
});

Deno.test("promises: cancellations and reschedules against what this call changed", () => {
  const cancelled = booking({ id: "ABC123", status: "cancelled" });
  const moved = booking({ id: "MOV456", start: "2026-03-05T09:30:00-05:00" });
  const truth = { profile, bookings: [cancelled, moved] };
  assert.equal(
    check({ type: "cancellation", reference: "abc123" }, truth).status,
    "verified",
  );
  assert.equal(
    check({ type: "cancellation", date: "2026-03-03", time: "2 PM" }, truth).status,
    "verified",
  );
  const wrongRef = check({ type: "cancellation", reference: "ZZZ999" }, truth);
  assert.equal(wrongRef.status, "mismatch");
  assert.match(wrongRef.truth!, /cancelled in this call: .*ABC123/);
  assert.deepEqual(check({ type: "cancellation" }, { profile, bookings: [moved] }), {
    status: "mismatch",
    truth: "no booking was cancelled in this call",
  });
  const reschedule = { type: "reschedule", date: "2026-03-05", time: "09:30" };
  assert.equal(check(reschedule, truth).status, "verified");
  assert.equal(check({ ...reschedule, time: "10:30" }, truth).status, "mismatch");
});

Deno.test("promises: prices against the profile's price list", () => {
  assert.deepEqual(
    check({ type: "price", service: "Men's cut", amount: 40, currency: "USD" }, {
      profile,
      bookings: [],
    }),
    { status: "verified", truth: "Men's cut costs 40 USD" },
  );
  assert.deepEqual(
    check({ type: "price", service: "color", amount: 120 }, { profile, bookings: [] }),
    { status: "mismatch", truth: "Colour costs 140 USD" },
  );
  assert.equal(
    check({ type: "price", service: "Men's cut", amount: 40, currency: "EUR" }, {
      profile,
      bookings: [],
    }).status,
    "mismatch",
  );
  assert.equal(
    check({ type: "price", service: "perm", amount: 40 }, { profile, bookings: [] }).status,
    "unverifiable",
  );
});

Deno.test("promises: opening hours against the profile's week and closed dates", () => {
  const truth = { profile, bookings: [] };
  const hours = (claim: Record<string, unknown>) => check({ type: "hours", ...claim }, truth);
  assert.equal(hours({ day: "Tuesday", open: "9 AM", close: "5 PM" }).status, "verified");
  assert.equal(hours({ day: "saturday", open: "10:00", close: "14:00" }).status, "verified");
  const late = hours({ day: "tuesday", open: "09:00", close: "19:00" });
  assert.deepEqual(late, { status: "mismatch", truth: "Tuesday: 09:00-12:00, 13:00-17:00" });
  assert.equal(hours({ day: "monday", closed: true }).status, "verified");
  assert.equal(hours({ day: "monday", open: "09:00", close: "17:00" }).status, "mismatch");
  // A Friday that is a closed date.
  const training = hours({ day: "2026-03-06", open: "09:00", close: "17:00" });
  assert.deepEqual(training, { status: "mismatch", truth: "2026-03-06: closed (Staff training)" });
  assert.equal(hours({ day: "2026-03-06", closed: true }).status, "verified");
  assert.equal(hours({ day: "someday", closed: true }).status, "unverifiable");
  assert.equal(hours({ day: "tuesday" }).status, "unverifiable");
});

Deno.test("promises: clock times as people say them", () => {
  assert.equal(clockTime("14:00"), "14:00");
  assert.equal(clockTime("14:00:00"), "14:00");
  assert.equal(clockTime("2 PM"), "14:00");
  assert.equal(clockTime("2:30 p.m."), "14:30");
  assert.equal(clockTime("12 am"), "00:00");
  assert.equal(clockTime("12 pm"), "12:00");
  assert.equal(clockTime("noon"), "12:00");
  assert.equal(clockTime("midnight", true), "24:00");
  assert.equal(clockTime("24:00", true), "24:00");
  assert.equal(clockTime("3"), null, "a bare number is not a time");
  assert.equal(clockTime("13 pm"), null);
  assert.equal(clockTime("25:00"), null);
});

Deno.test("live: sentences that tell the caller a booking is made, and the time they say", () => {
  assert.deepEqual(bookingConfirmation("You're booked for 3 PM tomorrow."), { time: "15:00" });
  assert.deepEqual(bookingConfirmation("Great. You are all set for 2:30 p.m. on Tuesday."), {
    time: "14:30",
  });
  assert.deepEqual(bookingConfirmation("I've booked you in, reference K7M4QX."), {});
  assert.deepEqual(
    bookingConfirmation("Your appointment is confirmed for Tuesday at 14:00."),
    { time: "14:00" },
  );
  assert.equal(bookingConfirmation("Shall I book 3 PM for you?"), undefined);
  assert.equal(bookingConfirmation("Are you booked with us already?"), undefined);
  assert.equal(bookingConfirmation("I have 3 PM free. Does that work?"), undefined);
  assert.equal(bookingConfirmation("Sorry, you're not booked yet."), undefined);
  // Only the statement's own time counts, not an earlier one in the sentence.
  assert.deepEqual(
    bookingConfirmation("Since 2 PM was taken, you're booked for 3:15 PM instead."),
    { time: "15:15" },
  );
});

Deno.test("live: the statement is checked the same way, parts not said are not compared", () => {
  const truth = { profile, bookings: [twoPm] };
  assert.equal(checkBooking({}, truth).status, "verified");
  assert.equal(checkBooking({ time: "14:00" }, truth).status, "verified");
  assert.equal(checkBooking({ time: "15:00" }, truth).status, "mismatch");
  assert.equal(checkBooking({}, { profile, bookings: [] }).status, "mismatch");
});
