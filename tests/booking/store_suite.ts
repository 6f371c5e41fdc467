/**
 * One behavioural suite every {@linkcode BookingStore} backend must pass. Backend test files
 * call {@linkcode defineStoreSuite} with a factory that opens a fresh, empty store.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { BusinessProfile } from "../../src/booking/business.ts";
import type { BookingStore, BookRequest } from "../../src/booking/types.ts";
import type { CallRecord } from "../../src/call/record.ts";
import { TestClock, testProfile } from "./fixtures.ts";

/** A fresh store plus how to get rid of it. */
export interface OpenedStore {
  /** The store, migrated and empty. */
  store: BookingStore;
  /** A second, independent store on the same database (another "instance"). */
  openAnother: () => Promise<BookingStore>;
  /**
   * Runs raw SQL on the same database (and schema), as another session: to inject faults.
   * `sql` is given per dialect; the backend runs its own.
   */
  exec: (sql: { sqlite: string; postgres: string }) => Promise<void>;
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

  // ---- issue 20 (5, 7, 10, 21) and issue 19 (11): hostile input never loses a record or
  // double-books one person.

  test("the same person asking twice for a slot gets one booking, however start is spelled", async ({ store }) => {
    // 15:00Z is 10:00 in New York: one instant, two spellings.
    const a = await store.book(req({ start: "2026-03-03T15:00:00Z", callSid: "CA1" }));
    assert.ok(a.ok && !a.replayed, JSON.stringify(a));
    const again = [
      req({ start: TUE_10, callSid: "CA2" }),
      req({ start: "2026-03-03T10:00", customerName: "  ann   EXAMPLE " }),
      req({ start: "2026-03-03T16:00:00+01:00", customerName: "Ann", customerPhone: "2125550199" }),
    ];
    for (const r of again) {
      const b = await store.book(r);
      assert.ok(b.ok && b.replayed, `${JSON.stringify(r)} -> ${JSON.stringify(b)}`);
      assert.equal(b.booking.id, a.booking.id);
    }
    // Someone else in the family: a second booking, and the slot is then full.
    const bo = await store.book(req({ customerName: "Bo Example" }));
    assert.ok(bo.ok && !bo.replayed);
    const cy = await store.book(req({ customerName: "Cy Example" }));
    assert.equal(cy.ok ? "booked" : cy.reason, "full");
    const mine = await store.findByPhone("+12125550199");
    assert.deepEqual(mine.map((b) => b.customerName).sort(), ["Ann Example", "Bo Example"]);
    // Once cancelled, the same person can book the slot again.
    await store.cancel(a.booking.id);
    const rebook = await store.book(req());
    assert.ok(rebook.ok && !rebook.replayed && rebook.booking.id !== a.booking.id);
  });

  test("an idempotency key replayed with other details is refused, without echoing the key", async ({ store }) => {
    const a = await store.book(req({ idempotencyKey: "CA1:secret-key-42" }));
    assert.ok(a.ok);
    const other = await store.book(
      req({ idempotencyKey: "CA1:secret-key-42", customerName: "Bo Example" }),
    );
    assert.ok(!other.ok, "another person is not this booking");
    assert.equal(other.reason, "idempotency_conflict");
    assert.doesNotMatch(other.message, /secret-key-42/);
    assert.equal((await store.findByPhone("+12125550199")).length, 1);
  });

  test("a name with control characters is stored cleaned; an oversized name is refused", async ({ store }) => {
    const r = await store.book(req({ customerName: "Ann\u0000 \u202eExample\u0007\n" }));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.booking.customerName, "Ann Example");
    assert.equal((await store.getBooking(r.booking.id))?.customerName, "Ann Example");
    const huge = await store.book(
      req({ customerName: "x".repeat(1_000_000), customerPhone: "+12125550111" }),
    );
    assert.ok(!huge.ok);
    assert.equal(huge.reason, "invalid_request");
    assert.equal((await store.findByPhone("+12125550111")).length, 0);
    const surrogate = await store.book(
      req({ customerName: "Zo\ud800e", customerPhone: "+12125550122" }),
    );
    assert.ok(surrogate.ok, JSON.stringify(surrogate));
    assert.equal(surrogate.booking.customerName, "Zo\ufffde");
  });

  const callRecord = (patch: Partial<CallRecord> = {}): CallRecord => ({
    callSid: "CA_HOSTILE",
    from: "+12125550199",
    to: "+12125550142",
    startedAt: "2026-03-02T12:00:00Z",
    outcome: "in_progress",
    transcript: [{ role: "caller", text: "Hello", at: "2026-03-02T12:00:01Z" }],
    toolCalls: [],
    latency: {},
    bargeIns: [],
    ...patch,
  });

  test("NUL, lone surrogates and controls anywhere in a call record are stored cleaned", async ({ store }) => {
    const nasty = "A\u0000B\ud800C\udfffD\u0007E";
    const clean = "AB\ufffdC\ufffdDE";
    await store.saveCall(callRecord({
      from: "+1212555\u00000199",
      endedAt: "2026-03-02T12:05:00Z",
      outcome: "booked",
      transcript: [{ role: "caller", text: nasty, at: "2026-03-02T12:00:01Z" }],
      toolCalls: [{
        name: `book${nasty}`,
        callId: "call\ud800",
        arguments: { customer_name: nasty, [`key${nasty}`]: [nasty] },
        result: { customer_name: nasty },
        error: nasty,
        startedAt: "2026-03-02T12:00:02Z",
        durationMs: 3,
      }],
      extra: { note: nasty, nested: { deeper: [nasty] } },
    }));
    const back = await store.getCall("CA_HOSTILE");
    assert.ok(back, "record kept");
    assert.equal(back.outcome, "booked");
    assert.equal(back.from, "+12125550199");
    assert.equal(back.transcript[0].text, clean);
    assert.deepEqual(back.toolCalls[0], {
      name: `book${clean}`,
      callId: "call\ufffd",
      arguments: { customer_name: clean, [`key${clean}`]: [clean] },
      result: { customer_name: clean },
      error: clean,
      startedAt: "2026-03-02T12:00:02Z",
      durationMs: 3,
    });
    assert.deepEqual(back.extra, { note: clean, nested: { deeper: [clean] } });
  });

  test("tool arguments nested 10,000 and 100,000 deep do not lose the record", async ({ store }) => {
    for (const depth of [100_000, 10_000]) {
      const deep = JSON.parse("[".repeat(depth) + "1" + "]".repeat(depth));
      const deepObject = JSON.parse('{"a":'.repeat(depth) + "1" + "}".repeat(depth));
      const callSid = `CA_DEEP_${depth}`;
      await store.saveCall(callRecord({
        callSid,
        toolCalls: [{
          name: "get_slots",
          arguments: { service: "cut", x: deep, y: deepObject },
          startedAt: "2026-03-02T12:00:02Z",
          durationMs: 1,
        }],
      }));
      const back = await store.getCall(callSid);
      assert.ok(back, `record with ${depth}-deep arguments kept`);
      assert.equal(back.transcript[0].text, "Hello");
      const args = back.toolCalls[0].arguments as { service: string; x: unknown; y: unknown };
      assert.equal(args.service, "cut");
      const stored = JSON.stringify(args);
      assert.ok(stored.includes("[nested too deep]"), "deep nesting is cut");
      assert.ok(stored.length < 2_000, `cut to a small size, not ${stored.length}`);
    }
  });

  test("a call record the database refuses still keeps its summary and earlier content", async ({ store, exec }) => {
    await store.saveCall(callRecord());
    // A database-side refusal the service cannot foresee: any large transcript.
    await exec({
      sqlite: `CREATE TRIGGER refuse_big_insert BEFORE INSERT ON calls
                 WHEN length(NEW.transcript) > 200 BEGIN SELECT RAISE(ABORT, 'refused'); END;
               CREATE TRIGGER refuse_big_update BEFORE UPDATE ON calls
                 WHEN length(NEW.transcript) > 200 BEGIN SELECT RAISE(ABORT, 'refused'); END;`,
      postgres: `ALTER TABLE calls ADD CONSTRAINT refuse_big
                   CHECK (length(transcript::text) <= 200) NOT VALID`,
    });
    const long = Array.from({ length: 20 }, (_, i) => ({
      role: "caller" as const,
      text: `turn ${i} with enough words to be long`,
      at: "2026-03-02T12:00:03Z",
    }));
    await store.saveCall(callRecord({
      outcome: "booked",
      endedAt: "2026-03-02T12:04:00Z",
      transcript: long,
    }));
    const back = await store.getCall("CA_HOSTILE");
    assert.ok(back);
    assert.equal(back.outcome, "booked");
    assert.equal(back.endedAt, "2026-03-02T12:04:00Z");
    assert.deepEqual(back.transcript.map((t) => t.text), ["Hello"], "earlier save kept");
    assert.match(String(back.extra?.recordIncomplete), /service log/);
    // A call never saved before: its summary alone.
    await store.saveCall(
      callRecord({ callSid: "CA_NEW", outcome: "caller_hung_up", transcript: long }),
    );
    const fresh = await store.getCall("CA_NEW");
    assert.equal(fresh?.outcome, "caller_hung_up");
    assert.deepEqual(fresh?.transcript, []);
  });

  test("a finished call's record is never overwritten by another stream for its CallSid", async ({ store }) => {
    // Issue 20: a reused token opened a second stream whose record replaced the first
    // call's (outcome booked became caller_hung_up).
    const first = callRecord({
      callSid: "CA_REPLAYED",
      endedAt: "2026-03-02T12:05:00Z",
      outcome: "booked",
    });
    await store.saveCall(first);
    const replay = callRecord({
      callSid: "CA_REPLAYED",
      startedAt: "2026-03-02T12:30:00Z",
      transcript: [{ role: "caller", text: "Cancel everything", at: "2026-03-02T12:30:01Z" }],
    });
    await store.saveCall(replay); // its first save, in progress
    await store.saveCall({ ...replay, endedAt: "2026-03-02T12:31:00Z", outcome: "caller_hung_up" });
    const kept = await store.getCall("CA_REPLAYED");
    assert.equal(kept?.outcome, "booked");
    assert.equal(kept?.startedAt, "2026-03-02T12:00:00Z");
    assert.deepEqual(kept?.transcript, first.transcript);
    // The call's own later saves (a status callback's note) still land.
    await store.saveCall({ ...first, extra: { twilioStatus: { status: "completed" } } });
    assert.deepEqual((await store.getCall("CA_REPLAYED"))?.extra, {
      twilioStatus: { status: "completed" },
    });
  });

  test("a live call's own save replaces its record marked abandoned (by another instance's start-up)", async ({ store }) => {
    const live = callRecord({ callSid: "CA_SLOW", startedAt: "2026-03-02T09:00:00Z" });
    await store.saveCall(live);
    assert.equal(await store.abandonStaleCalls(Temporal.Instant.from("2026-03-02T11:00:00Z")), 1);
    await store.saveCall({ ...live, endedAt: "2026-03-02T11:30:00Z", outcome: "booked" });
    assert.equal((await store.getCall("CA_SLOW"))?.outcome, "booked");
  });

  test("stale in_progress call records are marked abandoned; live and finished ones are not", async ({ store }) => {
    await store.saveCall(callRecord({ callSid: "CA_CRASHED", startedAt: "2026-03-02T09:00:00Z" }));
    await store.saveCall(callRecord({ callSid: "CA_LIVE", startedAt: "2026-03-02T11:59:00Z" }));
    await store.saveCall(callRecord({
      callSid: "CA_DONE",
      startedAt: "2026-03-02T09:00:00Z",
      endedAt: "2026-03-02T09:05:00Z",
      outcome: "booked",
    }));
    const cutoff = Temporal.Instant.from("2026-03-02T11:00:00Z");
    assert.equal(await store.abandonStaleCalls(cutoff), 1);
    const crashed = await store.getCall("CA_CRASHED");
    assert.equal(crashed?.outcome, "abandoned");
    assert.ok(crashed?.endedAt, "an end time is recorded");
    assert.ok(crashed?.extra?.abandonedAt);
    assert.deepEqual(crashed?.transcript, callRecord().transcript, "content kept");
    assert.equal((await store.getCall("CA_LIVE"))?.outcome, "in_progress");
    assert.equal((await store.getCall("CA_DONE"))?.outcome, "booked");
    assert.equal(await store.abandonStaleCalls(cutoff), 0, "idempotent");
  });
}
