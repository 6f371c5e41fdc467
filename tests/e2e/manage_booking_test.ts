/**
 * The booking tools a caller uses after booking, through a live call: prices, finding,
 * moving and cancelling their own booking, and what happens when someone calling from
 * another number, or with the caller ID withheld, asks to change it: nothing.
 */
import assert from "node:assert/strict";
import type { Booking } from "../../src/booking/types.ts";
import { type ChainStep, toolChainResponder } from "../../scripts/sim/receptionist.ts";
import {
  type Harness,
  nextOpenDate,
  speech,
  startHarness,
  waitUntil,
  withSilence,
} from "../support/harness.ts";

const OWNER = "+15550001111";

/** A confirmed booking for `OWNER` on the next open day, and another free start that day. */
async function seedBooking(h: Harness): Promise<{ booking: Booking; otherStart: string }> {
  const date = nextOpenDate(h.app.profile);
  const free = await h.app.store.listFreeSlots({ serviceId: "mens-cut", date });
  assert.ok(free.ok && free.slots.length >= 3, JSON.stringify(free));
  const booked = await h.app.store.book({
    serviceId: "mens-cut",
    start: free.slots[0].start,
    customerName: "Sam Rivera",
    customerPhone: OWNER,
  });
  assert.ok(booked.ok, JSON.stringify(booked));
  return { booking: booked.booking, otherStart: free.slots.at(-1)!.start };
}

/** Places a call from `from` that says one sentence, runs the chain, returns every tool output. */
async function callAndRun(h: Harness, from: string, steps: ChainStep[]) {
  h.fake.setResponder(toolChainResponder(steps));
  // One short turn (the first second of real speech) starts the chain.
  const turn = speech("caller_book_haircut").subarray(0, 8000);
  const caller = await h.dial({ from, audio: withSilence(300, turn) });
  await waitUntil(
    () => h.fake.sessions.at(-1)!.items.some((i) => i.text === "All done."),
    20_000,
    "every tool called",
    () => JSON.stringify(h.fake.sessions.at(-1)!.items.map((i) => i.output ?? i.text)),
  );
  await caller.hangUp();
  const session = h.fake.sessions.at(-1)!;
  assert.deepEqual(session.errors, []);
  const outputs = session.items.filter((i) => i.type === "function_call_output")
    .map((i) => JSON.parse(i.output!));
  assert.equal(outputs.length, steps.length, JSON.stringify(outputs));
  return { outputs, record: await h.finalRecord(caller.callSid) };
}

Deno.test("e2e: a caller hears prices, finds, moves and cancels their own booking", async () => {
  await using h = await startHarness({ fake: { transcripts: ["I'd like to move my haircut."] } });
  const { booking, otherStart } = await seedBooking(h);
  const { outputs, record } = await callAndRun(h, OWNER, [
    () => ({ name: "get_pricing", args: { service: "men's cut" } }),
    () => ({ name: "find_booking", args: {} }),
    // As spoken back by the caller: the reference in lower case.
    () => ({
      name: "reschedule_booking",
      args: { booking_id: booking.id.toLowerCase(), new_start: otherStart },
    }),
    () => ({ name: "cancel_booking", args: { booking_id: booking.id } }),
  ]);
  const [pricing, found, moved, cancelled] = outputs;
  assert.equal(pricing.service.id, "mens-cut");
  assert.match(pricing.service.price, /\d/);
  assert.deepEqual(found.bookings.map((b: { booking_id: string }) => b.booking_id), [booking.id]);
  assert.equal(moved.status, "rescheduled", JSON.stringify(moved));
  assert.equal(moved.start, otherStart);
  assert.equal(cancelled.status, "cancelled", JSON.stringify(cancelled));
  const stored = await h.app.store.getBooking(booking.id);
  assert.equal(stored?.status, "cancelled");
  assert.equal(stored?.start, otherStart);
  assert.deepEqual(record.toolCalls.map((t) => t.name), [
    "get_pricing",
    "find_booking",
    "reschedule_booking",
    "cancel_booking",
  ]);
  assert.ok(record.toolCalls.every((t) => t.error === undefined));
});

Deno.test("e2e: get_slots offers only the part of the day asked for, and at most five times", async () => {
  await using h = await startHarness({ fake: { transcripts: ["Any time in the afternoon?"] } });
  const date = nextOpenDate(h.app.profile);
  const { outputs } = await callAndRun(h, OWNER, [
    () => ({ name: "get_slots", args: { service: "men's cut", date, part_of_day: "afternoon" } }),
    () => ({ name: "get_slots", args: { service: "men's cut", date } }),
  ]);
  const [afternoon, wholeDay] = outputs;
  const hour = (slot: { start: string }) => Number(slot.start.slice(11, 13));
  assert.ok(afternoon.slots.length > 0, JSON.stringify(afternoon));
  assert.ok(
    afternoon.slots.every((s: { start: string }) => hour(s) >= 12 && hour(s) < 17),
    JSON.stringify(afternoon.slots),
  );
  // A whole open day has more free times than a caller can take in by ear.
  assert.equal(wholeDay.slots.length, 5, JSON.stringify(wholeDay));
  assert.equal(wholeDay.more_available, true);
  assert.ok(hour(wholeDay.slots[0]) < 12, "the whole day starts in the morning");
});

Deno.test("e2e: a caller from another number cannot cancel, move or even see someone's booking", async () => {
  await using h = await startHarness({ fake: { transcripts: ["Cancel booking please."] } });
  const { booking, otherStart } = await seedBooking(h);
  const { outputs } = await callAndRun(h, "+15550002222", [
    () => ({ name: "cancel_booking", args: { booking_id: booking.id } }),
    () => ({
      name: "reschedule_booking",
      args: { booking_id: booking.id, new_start: otherStart },
    }),
    () => ({ name: "find_booking", args: {} }),
  ]);
  const [cancel, move, found] = outputs;
  assert.equal(cancel.error?.code, "phone_mismatch", JSON.stringify(cancel));
  assert.equal(move.status, "not_moved", JSON.stringify(move));
  assert.equal(move.reason, "phone_mismatch");
  assert.deepEqual(found.bookings, []);
  const stored = await h.app.store.getBooking(booking.id);
  assert.equal(stored?.status, "confirmed");
  assert.equal(stored?.start, booking.start);
});

// Twilio's From for a withheld number: "anonymous", or +266696687 ("restricted").
for (const withheld of ["anonymous", "+266696687"]) {
  Deno.test(`e2e: with the caller ID withheld (${withheld}), no booking can be changed, found or made without a number`, async () => {
    await using h = await startHarness({ fake: { transcripts: ["Cancel booking please."] } });
    const { booking, otherStart } = await seedBooking(h);
    const { outputs, record } = await callAndRun(h, withheld, [
      () => ({ name: "cancel_booking", args: { booking_id: booking.id } }),
      () => ({
        name: "reschedule_booking",
        args: { booking_id: booking.id, new_start: otherStart },
      }),
      () => ({ name: "find_booking", args: {} }),
      () => ({
        name: "book_slot",
        args: { service: "men's cut", start: otherStart, customer_name: "Pat" },
      }),
    ]);
    const [cancel, move, found, book] = outputs;
    assert.equal(cancel.error?.code, "phone_unknown", JSON.stringify(cancel));
    assert.equal(move.error?.code, "phone_unknown", JSON.stringify(move));
    assert.equal(found.error?.code, "phone_unknown", JSON.stringify(found));
    assert.equal(book.error?.code, "phone_required", JSON.stringify(book));
    const stored = await h.app.store.getBooking(booking.id);
    assert.equal(stored?.status, "confirmed");
    assert.equal(stored?.start, booking.start);
    assert.equal(record.from, withheld);
    const free = await h.app.store.listFreeSlots({
      serviceId: "mens-cut",
      date: otherStart.slice(0, 10),
    });
    assert.ok(free.ok && free.slots.some((s) => s.start === otherStart), "nothing was booked");
  });
}
