/**
 * One behavioural suite every {@linkcode BookingStore} backend must pass. Backend test files
 * call {@linkcode defineStoreSuite} with a factory that opens a fresh, empty store.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { BusinessProfile } from "../../src/booking/business.ts";
import type { BookingStore, BookRequest, CallRecord } from "../../src/booking/store.ts";
import { TestClock, testProfile } from "./fixtures.ts";

/** A fresh store plus how to get rid of it. */
export interface OpenedStore {
  /** The store, migrated and empty. */
  store: BookingStore;
  /** A second, independent store on the same database (another "instance"). */
  openAnother: () => Promise<BookingStore>;
  /** Closes everything and removes the database. */
  cleanup: () => Promise<void>;
}

/** Opens a fresh store for one test. */
export type StoreFactory = (
  profile: BusinessProfile,
  clock: () => Temporal.Instant,
) => Promise<OpenedStore>;

const TUE_10 = "2026-03-03T10:00:00-05:00";

function req(patch: Partial<BookRequest> = {}): BookRequest {
  return {
    serviceId: "mens-cut",
    start: TUE_10,
    customerName: "Ann Example",
    customerPhone: "+1 (212) 555-0199",
    ...patch,
  };
}

/** Registers the shared behavioural tests for one backend. */
export function defineStoreSuite(
  backend: string,
  factory: StoreFactory,
  options: { ignore?: boolean; suffix?: string } = {},
): void {
  const test = (name: string, fn: (s: OpenedStore, clock: TestClock) => Promise<void>) =>
    Deno.test({
      name: `${backend}: ${name}${options.suffix ?? ""}`,
      ignore: options.ignore ?? false,
      fn: async () => {
        const clock = new TestClock();
        const opened = await factory(testProfile(), clock.now);
        try {
          await fn(opened, clock);
        } finally {
          await opened.cleanup();
        }
      },
    });

  test("books a free slot, and the slot disappears once capacity is reached", async ({ store }) => {
    const before = await store.listFreeSlots({ serviceId: "mens-cut", date: "2026-03-03" });
    assert.ok(before.ok && before.slots.some((s) => s.start === TUE_10));
    const first = await store.book(req({ callSid: "CA1" }));
    assert.ok(first.ok, JSON.stringify(first));
    assert.equal(first.replayed, false);
    assert.match(first.booking.id, /^[2-9A-Z]{6}$/);
    assert.equal(first.booking.start, TUE_10);
    assert.equal(first.booking.end, "2026-03-03T10:30:00-05:00");
    assert.equal(first.booking.label, "Tuesday 3 March at 10:00 AM");
    assert.equal(first.booking.status, "confirmed");
    assert.equal(first.booking.callSid, "CA1");
    assert.equal(first.booking.serviceName, "Men's cut");
    const stillFree = await store.listFreeSlots({ serviceId: "mens-cut", date: "2026-03-03" });
    assert.ok(stillFree.ok && stillFree.slots.some((s) => s.start === TUE_10), "capacity is 2");
    const second = await store.book(req({ customerName: "Bo", customerPhone: "+12125550111" }));
    assert.ok(second.ok);
    const after = await store.listFreeSlots({ serviceId: "mens-cut", date: "2026-03-03" });
    assert.ok(after.ok);
    assert.ok(!after.slots.some((s) => s.start === TUE_10));
    assert.ok(!after.slots.some((s) => s.start === "2026-03-03T09:45:00-05:00"), "overlaps 10:00");
    assert.ok(after.slots.some((s) => s.start === "2026-03-03T10:30:00-05:00"));
    const third = await store.book(req({ customerName: "Cy", customerPhone: "+12125550122" }));
    assert.equal(third.ok, false);
    assert.ok(!third.ok);
    assert.equal(third.reason, "full");
    assert.deepEqual(third.alternatives.map((s) => s.start), [
      "2026-03-03T09:15:00-05:00",
      "2026-03-03T09:30:00-05:00",
      "2026-03-03T10:30:00-05:00",
    ]);
    assert.deepEqual(await store.getBooking(first.booking.id), first.booking);
  });

  test("the same idempotency key twice returns the same booking", async ({ store }) => {
    const a = await store.book(req({ idempotencyKey: "CA1:call_1" }));
    const b = await store.book(req({ idempotencyKey: "CA1:call_1", customerPhone: "2125550199" }));
    assert.ok(a.ok && b.ok);
    assert.equal(b.replayed, true);
    assert.deepEqual(b.booking, a.booking);
    assert.equal((await store.findByPhone("+12125550199")).length, 1, "stored once");
    const other = await store.book(
      req({ idempotencyKey: "CA1:call_1", start: "2026-03-03T11:00" }),
    );
    assert.ok(!other.ok);
    assert.equal(other.reason, "idempotency_conflict");
    // The same key from another phone is no retry: never someone else's booking.
    const stranger = await store.book(
      req({ idempotencyKey: "CA1:call_1", customerPhone: "+1 (310) 555-0100" }),
    );
    assert.ok(!stranger.ok, JSON.stringify(stranger));
    assert.equal(stranger.reason, "idempotency_conflict");
    // Still replays after the slot filled up and after the booking was cancelled.
    await store.book(req({ customerPhone: "+12125550123" }));
    await store.cancel(a.booking.id);
    const c = await store.book(req({ idempotencyKey: "CA1:call_1" }));
    assert.ok(c.ok && c.replayed);
    assert.equal(c.booking.status, "cancelled");
  });

  test("refusals carry a reason, a message and alternatives", async ({ store }) => {
    const cases: [Partial<BookRequest>, string][] = [
      [{ serviceId: "perm" }, "unknown_service"],
      [{ start: "next tuesday" }, "invalid_start"],
      [{ customerName: " " }, "invalid_request"],
      [{ customerPhone: "12" }, "invalid_request"],
      [{ start: "2026-03-06T10:00" }, "closed"],
      [{ start: "2026-03-03T11:45" }, "outside_hours"],
      [{ start: "2026-03-03T10:10" }, "off_grid"],
      [{ start: "2026-03-02T06:00" }, "in_past"],
      [{ start: "2026-03-02T08:00" }, "too_soon"],
      [{ start: "2026-03-02T10:00" }, "closed"],
      [{ start: "2026-05-05T10:00" }, "beyond_horizon"],
    ];
    for (const [patch, reason] of cases) {
      const r = await store.book(req(patch));
      assert.ok(!r.ok, JSON.stringify(patch));
      assert.equal(r.reason, reason, JSON.stringify(patch));
      assert.ok(r.message.length > 5);
    }
    const closed = await store.book(req({ start: "2026-03-06T10:00" }));
    assert.ok(!closed.ok);
    assert.equal(closed.alternatives[0]?.start, "2026-03-07T10:00:00-05:00");
    const lunch = await store.book(req({ start: "2026-03-03T12:15" }));
    assert.ok(!lunch.ok && lunch.alternatives.length === 3);
    assert.equal((await store.findByPhone("+12125550199", { includePast: true })).length, 0);
  });

  test("too-soon bookings follow the store's clock", async ({ store }, clock) => {
    clock.current = Temporal.Instant.from("2026-03-03T14:00:00Z"); // Tue 09:00
    const r = await store.book(req());
    assert.ok(!r.ok);
    assert.equal(r.reason, "too_soon");
    assert.equal(r.alternatives[0].start, "2026-03-03T11:00:00-05:00");
    const slots = await store.listFreeSlots({ serviceId: "mens-cut", date: "today" });
    assert.ok(slots.ok);
    assert.equal(slots.date, "2026-03-03");
    assert.equal(slots.slots[0].start, "2026-03-03T11:00:00-05:00");
  });

  test("listFreeSlots explains closed days and bad input", async ({ store }) => {
    const holiday = await store.listFreeSlots({ serviceId: "color", date: "2026-03-06" });
    assert.ok(holiday.ok);
    assert.equal(holiday.closed, true);
    assert.equal(holiday.closedReason, "Staff training");
    assert.equal(holiday.dateLabel, "Friday 6 March");
    assert.deepEqual(holiday.slots, []);
    assert.equal(holiday.nextAvailable[0]?.start, "2026-03-07T10:00:00-05:00");
    const plain = Temporal.PlainDate.from("2026-03-04");
    const wed = await store.listFreeSlots({ serviceId: "colour", date: plain });
    assert.ok(wed.ok && !wed.closed && wed.slots.length === 14 && wed.nextAvailable.length === 0);
    const bad = [
      [{ serviceId: "perm", date: "2026-03-04" }, "unknown_service"],
      [{ serviceId: "colour", date: "someday" }, "invalid_date"],
      [{ serviceId: "colour", date: "2026-03-01" }, "in_past"],
      [{ serviceId: "colour", date: "2026-06-01" }, "beyond_horizon"],
    ] as const;
    for (const [q, reason] of bad) {
      const r = await store.listFreeSlots(q);
      assert.equal(r.ok ? "ok" : r.reason, reason);
    }
  });

  test("findByPhone matches number formats and hides past and cancelled bookings", async (
    { store },
    clock,
  ) => {
    const a = await store.book(req({ start: "2026-03-03T10:00" }));
    const b = await store.book(req({ start: "2026-03-05T14:00", serviceId: "womens-cut" }));
    const c = await store.book(req({ start: "2026-03-04T09:00", customerPhone: "+12125550100" }));
    assert.ok(a.ok && b.ok && c.ok);
    for (const phone of ["+12125550199", "212-555-0199", "001 212 555 0199", "(212) 555 0199"]) {
      assert.deepEqual((await store.findByPhone(phone)).map((x) => x.id), [
        a.booking.id,
        b.booking.id,
      ], phone);
    }
    assert.deepEqual(await store.findByPhone("555-0199"), [], "too short to identify anyone");
    assert.ok((await store.cancel(b.booking.id)).ok);
    clock.current = Temporal.Instant.from("2026-03-03T15:30:00Z"); // Tue 10:30, a has started
    assert.deepEqual(await store.findByPhone("+12125550199"), []);
    const all = await store.findByPhone("+12125550199", {
      includePast: true,
      includeCancelled: true,
    });
    assert.deepEqual(all.map((x) => [x.id, x.status]), [
      [a.booking.id, "confirmed"],
      [b.booking.id, "cancelled"],
    ]);
  });

  test("cancel checks the phone, frees the slot and is idempotent", async ({ store }) => {
    const a = await store.book(req());
    const b = await store.book(req({ customerPhone: "+12125550111" }));
    assert.ok(a.ok && b.ok);
    const wrong = await store.cancel(a.booking.id, "+12125550111");
    assert.ok(!wrong.ok);
    assert.equal(wrong.reason, "phone_mismatch");
    const missing = await store.cancel("ZZZZZZ");
    assert.equal(missing.ok ? "ok" : missing.reason, "not_found");
    const ok = await store.cancel(a.booking.id.toLowerCase(), "212 555 0199", "CA9");
    assert.ok(ok.ok);
    assert.equal(ok.alreadyCancelled, false);
    assert.equal(ok.booking.status, "cancelled");
    assert.equal(ok.booking.callSid, "CA9");
    const again = await store.cancel(a.booking.id);
    assert.ok(again.ok && again.alreadyCancelled);
    const rebook = await store.book(req({ customerPhone: "+12125550122" }));
    assert.ok(rebook.ok, "the freed place can be booked again");
  });

  test("cancel and reschedule refuse appointments that have started", async ({ store }, clock) => {
    const a = await store.book(req());
    assert.ok(a.ok);
    clock.current = Temporal.Instant.from("2026-03-03T15:05:00Z");
    const c = await store.cancel(a.booking.id);
    assert.equal(c.ok ? "ok" : c.reason, "already_started");
    const r = await store.reschedule({ id: a.booking.id, newStart: "2026-03-04T10:00" });
    assert.equal(r.ok ? "ok" : r.reason, "already_started");
  });

  test("reschedule moves atomically and keeps the old slot when the new one is taken", async ({ store }) => {
    const mine = await store.book(req());
    assert.ok(mine.ok);
    // Fill 14:00 on Wednesday.
    for (const phone of ["+12125550001", "+12125550002"]) {
      assert.ok((await store.book(req({ start: "2026-03-04T14:00", customerPhone: phone }))).ok);
    }
    const blocked = await store.reschedule({ id: mine.booking.id, newStart: "2026-03-04T14:00" });
    assert.ok(!blocked.ok);
    assert.equal(blocked.reason, "full");
    assert.ok(blocked.alternatives.length > 0);
    assert.deepEqual(await store.getBooking(mine.booking.id), mine.booking, "unchanged");

    const moved = await store.reschedule({
      id: mine.booking.id,
      newStart: "2026-03-04T15:00:00-05:00",
      serviceId: "womens-cut",
      phone: "2125550199",
      callSid: "CA2",
    });
    assert.ok(moved.ok, JSON.stringify(moved));
    assert.equal(moved.booking.id, mine.booking.id);
    assert.equal(moved.booking.start, "2026-03-04T15:00:00-05:00");
    assert.equal(moved.booking.end, "2026-03-04T16:00:00-05:00");
    assert.equal(moved.booking.serviceId, "womens-cut");
    assert.equal(moved.booking.callSid, "CA2");
    assert.deepEqual(moved.previous, {
      start: TUE_10,
      end: "2026-03-03T10:30:00-05:00",
      serviceId: "mens-cut",
    });
    // The old place is free again: two more fit at Tuesday 10:00.
    assert.ok((await store.book(req({ customerPhone: "+12125550003" }))).ok);
    assert.ok((await store.book(req({ customerPhone: "+12125550004" }))).ok);

    const wrongPhone = await store.reschedule({
      id: mine.booking.id,
      newStart: "2026-03-05T10:00",
      phone: "+12125550003",
    });
    assert.equal(wrongPhone.ok ? "ok" : wrongPhone.reason, "phone_mismatch");
    const badService = await store.reschedule({
      id: mine.booking.id,
      newStart: "2026-03-05T10:00",
      serviceId: "perm",
    });
    assert.equal(badService.ok ? "ok" : badService.reason, "unknown_service");
    const gone = await store.reschedule({ id: "NOPE22", newStart: "2026-03-05T10:00" });
    assert.equal(gone.ok ? "ok" : gone.reason, "not_found");
    await store.cancel(mine.booking.id);
    const cancelled = await store.reschedule({ id: mine.booking.id, newStart: "2026-03-05T10:00" });
    assert.equal(cancelled.ok ? "ok" : cancelled.reason, "cancelled");
  });

  test("reschedule may overlap the booking's own old slot on a full day", async ({ store }) => {
    const mine = await store.book(req({ serviceId: "womens-cut" })); // 10:00-11:00
    const other = await store.book(req({ serviceId: "womens-cut", customerPhone: "+12125550001" }));
    assert.ok(mine.ok && other.ok);
    const later = await store.reschedule({ id: mine.booking.id, newStart: "2026-03-03T10:30" });
    assert.ok(later.ok, JSON.stringify(later));
    assert.equal(later.booking.start, "2026-03-03T10:30:00-05:00");
  });

  test("call records are upserted by call SID and round-trip their JSON", async ({ store }) => {
    const record: CallRecord = {
      callSid: "CA0001",
      from: "+12125550199",
      to: "+12125550142",
      startedAt: "2026-03-02T12:00:00Z",
      outcome: "in_progress",
      transcript: [{ role: "agent", text: "Hello!", at: "2026-03-02T12:00:01Z" }],
      toolCalls: [],
      latency: {},
      bargeIns: [],
    };
    await store.saveCall(record);
    assert.deepEqual(await store.getCall("CA0001"), record);
    const done: CallRecord = {
      ...record,
      endedAt: "2026-03-02T07:03:10.250-05:00",
      outcome: "booked",
      transcript: [
        ...record.transcript,
        {
          role: "caller",
          text: "A men's cut tomorrow at ten, please — ça va?",
          at: "2026-03-02T12:00:04Z",
        },
        { role: "agent", text: "Booked.", at: "2026-03-02T12:00:09Z", interrupted: true },
      ],
      toolCalls: [{
        name: "book_appointment",
        callId: "call_1",
        arguments: { service: "mens-cut", start: TUE_10 },
        result: { ok: true },
        startedAt: "2026-03-02T12:00:06Z",
        durationMs: 12.5,
      }],
      latency: { turnMs: [640, 710], p50Ms: 675 },
      bargeIns: [{ at: "2026-03-02T12:00:08Z", heardMs: 1200 }],
      extra: { model: "gpt-realtime", nested: { a: [1, null] } },
    };
    await store.saveCall(done);
    // Instants come back normalised to UTC (Temporal.Instant#toString).
    assert.deepEqual(await store.getCall("CA0001"), {
      ...done,
      endedAt: "2026-03-02T12:03:10.25Z",
    });
    await store.saveCall({ ...record, callSid: "CA0002", startedAt: "2026-03-02T13:00:00Z" });
    assert.deepEqual((await store.recentCalls(5)).map((c) => c.callSid), ["CA0002", "CA0001"]);
    assert.equal(await store.getCall("CA404"), undefined);
  });

  test("migrate is idempotent and a second instance sees the same data", async ({ store, openAnother }) => {
    await store.migrate();
    const a = await store.book(req());
    assert.ok(a.ok);
    const other = await openAnother();
    try {
      await other.migrate();
      await other.ping();
      assert.deepEqual(await other.getBooking(a.booking.id), a.booking);
      assert.ok((await other.book(req({ customerPhone: "+12125550001" }))).ok);
      const third = await other.book(req({ customerPhone: "+12125550002" }));
      assert.equal(third.ok ? "ok" : third.reason, "full", "sees the first instance's booking");
    } finally {
      await other.close();
    }
  });

  test("concurrent bookings in one process never exceed capacity", async ({ store }) => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        store.book(req({
          customerPhone: `+1212555${String(1000 + i)}`,
          serviceId: i % 2 ? "mens-cut" : "womens-cut",
          start: i % 3 ? TUE_10 : "2026-03-03T10:15",
        }))),
    );
    const confirmed = results.filter((r) => r.ok);
    assert.equal(confirmed.length, 2);
    for (const r of results) if (!r.ok) assert.equal(r.reason, "full");
  });
}
