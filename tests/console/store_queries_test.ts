/**
 * The console's read queries on both store backends: bookings in a range, the bookings of
 * a call, the filtered and paged call list, and the per-call quality rows.
 */
import assert from "node:assert/strict";
import type { CallRecord } from "../../src/call/record.ts";
import { MONDAY_7AM, TestClock, testProfile } from "../booking/fixtures.ts";
import { BACKENDS } from "./backends.ts";

/** A call record with defaults; `minute` is minutes after Monday 07:00 New York. */
function call(sid: string, minute: number, patch: Partial<CallRecord> = {}): CallRecord {
  const startedAt = MONDAY_7AM.add({ minutes: minute }).toString();
  return {
    callSid: sid,
    from: "+15550001111",
    to: "+15559990000",
    startedAt,
    endedAt: MONDAY_7AM.add({ minutes: minute + 2 }).toString(),
    outcome: "caller_hung_up",
    transcript: [{ role: "caller", text: "hello", at: startedAt }],
    toolCalls: [],
    latency: { turnMs: [] },
    bargeIns: [],
    ...patch,
  };
}

const BOOKED_TOOL = {
  name: "book_slot",
  callId: "c1",
  arguments: {},
  result: { status: "confirmed", booking_id: "X" },
  startedAt: MONDAY_7AM.toString(),
  durationMs: 4,
};

for (const backend of BACKENDS) {
  Deno.test({
    name: `${backend.name}: console queries: bookings in a range, with or without cancelled`,
    ignore: backend.ignore,
    async fn() {
      const db = await backend.create();
      const store = await db.open(testProfile(), new TestClock().now);
      try {
        const a = await store.book({
          serviceId: "mens-cut",
          start: "2026-03-03T10:00",
          customerName: "Ann",
          customerPhone: "+12125550100",
          callSid: "CA1",
          idempotencyKey: "CA1:call_1:x",
        });
        const b = await store.book({
          serviceId: "colour",
          start: "2026-03-04T13:00",
          customerName: "Bo",
          customerPhone: "+12125550101",
        });
        const c = await store.book({
          serviceId: "mens-cut",
          start: "2026-03-03T09:00",
          customerName: "Cy",
          customerPhone: "+12125550102",
        });
        assert.ok(a.ok && b.ok && c.ok);
        assert.ok((await store.cancel(c.booking.id)).ok);
        const tuesday = {
          from: Temporal.Instant.from("2026-03-03T05:00:00Z"),
          to: Temporal.Instant.from("2026-03-04T05:00:00Z"),
        };
        assert.deepEqual((await store.listBookings(tuesday)).map((x) => x.id), [a.booking.id]);
        const all = await store.listBookings({ ...tuesday, includeCancelled: true });
        assert.deepEqual(all.map((x) => [x.id, x.status]), [
          [c.booking.id, "cancelled"],
          [a.booking.id, "confirmed"],
        ]);
        const week = await store.listBookings({
          from: tuesday.from,
          to: tuesday.from.add({ hours: 7 * 24 }),
        });
        assert.deepEqual(week.map((x) => x.id), [a.booking.id, b.booking.id]);
        assert.equal(week[1].start, "2026-03-04T13:00:00-05:00");

        // A call's bookings: by call SID, and by its idempotency keys once another call moved it.
        assert.deepEqual((await store.bookingsForCall("CA1")).map((x) => x.id), [a.booking.id]);
        const moved = await store.reschedule({
          id: a.booking.id,
          newStart: "2026-03-03T11:00",
          callSid: "CA2",
        });
        assert.ok(moved.ok);
        assert.deepEqual((await store.bookingsForCall("CA1")).map((x) => x.id), [a.booking.id]);
        assert.deepEqual((await store.bookingsForCall("CA2")).map((x) => x.id), [a.booking.id]);
        assert.deepEqual(await store.bookingsForCall("CA%"), []);
      } finally {
        await store.close();
        await db.cleanup();
      }
    },
  });

  Deno.test({
    name: `${backend.name}: console queries: call list filters, paging, newest first`,
    ignore: backend.ignore,
    async fn() {
      const db = await backend.create();
      const store = await db.open(testProfile(), new TestClock().now);
      try {
        await store.saveCall(call("CA_booked", 10, {
          outcome: "booked",
          toolCalls: [BOOKED_TOOL],
          bargeIns: [{ at: MONDAY_7AM.toString(), heardMs: 800 }],
        }));
        // Booked, then transferred: the outcome says transferred, the filter still finds it.
        await store.saveCall(call("CA_booked_transferred", 20, {
          outcome: "transferred",
          from: "+1 (646) 555-7777",
          toolCalls: [BOOKED_TOOL, { ...BOOKED_TOOL, name: "transfer_call", result: {} }],
        }));
        await store.saveCall(call("CA_apology", 30, {
          outcome: "transferred",
          transcript: [{ role: "system", text: "model unavailable: apology played", at: "" }],
        }));
        await store.saveCall(call("CA_unavailable", 40, { outcome: "model_unavailable" }));
        await store.saveCall(call("CA_not_booked", 50, {
          toolCalls: [{ ...BOOKED_TOOL, result: { status: "unavailable" } }],
        }));
        await store.saveCall(call("CA_other_day", 60 * 24 + 5, { from: "+447700900123" }));

        const all = await store.listCalls({});
        assert.equal(all.total, 6);
        assert.deepEqual(all.calls.map((c) => c.callSid), [
          "CA_other_day",
          "CA_not_booked",
          "CA_unavailable",
          "CA_apology",
          "CA_booked_transferred",
          "CA_booked",
        ]);
        const booked = all.calls.find((c) => c.callSid === "CA_booked")!;
        assert.deepEqual(
          { ...booked },
          {
            callSid: "CA_booked",
            from: "+15550001111",
            to: "+15559990000",
            startedAt: "2026-03-02T12:10:00Z",
            endedAt: "2026-03-02T12:12:00Z",
            outcome: "booked",
            turns: 1,
            toolCalls: 1,
            bargeIns: 1,
            booked: true,
            flagged: false,
          },
        );
        const sids = async (q: Parameters<typeof store.listCalls>[0]) =>
          (await store.listCalls(q)).calls.map((c) => c.callSid);
        assert.deepEqual(await sids({ booked: true }), ["CA_booked_transferred", "CA_booked"]);
        assert.deepEqual(await sids({ transferred: true }), [
          "CA_apology",
          "CA_booked_transferred",
        ]);
        assert.deepEqual(await sids({ modelUnavailable: true }), ["CA_unavailable", "CA_apology"]);
        assert.deepEqual(await sids({ outcome: "model_unavailable" }), ["CA_unavailable"]);
        assert.deepEqual(await sids({ phoneDigits: "6465557777" }), ["CA_booked_transferred"]);
        assert.deepEqual(await sids({ phoneDigits: "+44 7700 900123" }), ["CA_other_day"]);
        assert.deepEqual(await sids({ phoneDigits: "5557777", booked: true }), [
          "CA_booked_transferred",
        ]);
        // Fewer than 3 digits: no phone filter at all.
        assert.equal((await store.listCalls({ phoneDigits: "1" })).total, 6);
        // Date range: Monday only (New York day = 05:00Z to 05:00Z).
        const monday = {
          from: Temporal.Instant.from("2026-03-02T05:00:00Z"),
          to: Temporal.Instant.from("2026-03-03T05:00:00Z"),
        };
        assert.equal((await store.listCalls(monday)).total, 5);
        // Paging: total stays, pages do not overlap.
        const p1 = await store.listCalls({ ...monday, limit: 2, offset: 0 });
        const p2 = await store.listCalls({ ...monday, limit: 2, offset: 2 });
        const p3 = await store.listCalls({ ...monday, limit: 2, offset: 4 });
        assert.equal(p1.total, 5);
        assert.deepEqual(
          [...p1.calls, ...p2.calls, ...p3.calls].map((c) => c.callSid),
          (await store.listCalls(monday)).calls.map((c) => c.callSid),
        );
        assert.equal(p3.calls.length, 1);
        // Out-of-range page sizes are clamped, not errors.
        assert.equal((await store.listCalls({ limit: 0 })).calls.length, 1);
        assert.equal((await store.listCalls({ limit: 10_000 })).calls.length, 6);
      } finally {
        await store.close();
        await db.cleanup();
      }
    },
  });

  Deno.test({
    name: `${backend.name}: console queries: quality rows for a range`,
    ignore: backend.ignore,
    async fn() {
      const db = await backend.create();
      const store = await db.open(testProfile(), new TestClock().now);
      try {
        await store.saveCall(call("CA1", 0, {
          outcome: "booked",
          toolCalls: [BOOKED_TOOL, { ...BOOKED_TOOL, name: "get_slots", error: "timeout: slow" }],
          latency: { turnMs: [420, 610, 380], p50Ms: 420 },
          bargeIns: [{ at: "", heardMs: 1 }, { at: "", heardMs: 2 }],
          extra: { modelStats: { reconnects: 2 } },
        }));
        await store.saveCall(call("CA2", 61, {
          outcome: "transferred",
          transcript: [{ role: "system", text: "model unavailable: apology played", at: "" }],
          latency: {},
          extra: { endReason: "transferred" },
        }));
        await store.saveCall(call("CA3", 60 * 30, {}));
        const rows = await store.callQuality(
          MONDAY_7AM,
          MONDAY_7AM.add({ hours: 24 }),
        );
        assert.deepEqual(rows, [
          {
            startedAt: "2026-03-02T12:00:00Z",
            outcome: "booked",
            booked: true,
            turnMs: [420, 610, 380],
            bargeIns: 2,
            reconnects: 2,
            apology: false,
            toolErrors: 1,
          },
          {
            startedAt: "2026-03-02T13:01:00Z",
            outcome: "transferred",
            booked: false,
            turnMs: [],
            bargeIns: 0,
            reconnects: 0,
            apology: true,
            toolErrors: 0,
          },
        ]);
      } finally {
        await store.close();
        await db.cleanup();
      }
    },
  });
}
