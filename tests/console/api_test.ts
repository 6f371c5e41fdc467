/**
 * The console's JSON API on both store backends: the calendar, bookings by hand through the
 * agent's own store operations (same messages, same race safety), the call list and call
 * page, quality series, the business profile and its reload, and the live stream.
 */
import assert from "node:assert/strict";
import type { CallRecord } from "../../src/call/record.ts";
import type { BookRequest } from "../../src/booking/types.ts";
import { MONDAY_7AM, testProfileJson } from "../booking/fixtures.ts";
import { BACKENDS } from "./backends.ts";
import { signIn } from "./client.ts";
import { startConsoleServer } from "./server.ts";

const now = () => MONDAY_7AM; // Monday 2 March 2026, 07:00 New York

for (const backend of BACKENDS) {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test({ name: `${backend.name}: console API: ${name}`, ignore: backend.ignore, fn });

  test("calendar in the business zone; add, reschedule, cancel by hand with the store's messages", async () => {
    const c = await startConsoleServer({ backend: backend.name, now });
    try {
      const client = await signIn(c.base);
      const week = await client.api("calendar", { date: "today", days: 7 });
      assert.equal(week.status, 200);
      assert.equal(week.body.today, "2026-03-02");
      assert.equal(week.body.timeZone, "America/New_York");
      assert.deepEqual(week.body.days.map((d: { date: string }) => d.date), [
        "2026-03-02",
        "2026-03-03",
        "2026-03-04",
        "2026-03-05",
        "2026-03-06",
        "2026-03-07",
        "2026-03-08",
      ]);
      assert.equal(week.body.days[0].closed, true, "Monday: no hours");
      assert.deepEqual(week.body.days[1].hours, [{ open: "09:00", close: "12:00" }, {
        open: "13:00",
        close: "17:00",
      }]);
      assert.equal(week.body.days[4].closedReason, "Staff training");

      const add = (patch: Partial<BookRequest> & { requestId?: string }) =>
        client.api("bookings/add", {
          serviceId: "mens-cut",
          start: "2026-03-03T10:00",
          customerName: "Ann Example",
          customerPhone: "+1 212 555 0199",
          requestId: crypto.randomUUID(),
          ...patch,
        });
      const made = await add({ requestId: "request-0001" });
      assert.equal(made.status, 200, JSON.stringify(made.body));
      assert.equal(made.body.booking.start, "2026-03-03T10:00:00-05:00");
      assert.equal(made.body.booking.price, 40);
      assert.equal(made.body.booking.callSid, null);
      // The same submission again (a retry) books nothing new.
      const again = await add({ requestId: "request-0001" });
      assert.equal(again.body.booking.id, made.body.booking.id);

      // Refusals carry exactly the message the agent's store call gets.
      const refusals: [Partial<BookRequest>, number][] = [
        [{ start: "2026-03-02T10:00" }, 422], // Monday: closed
        [{ start: "2026-03-03T12:15" }, 422], // lunch break
        [{ start: "2026-03-03T10:07" }, 422], // off the 15-minute grid
        [{ start: "tomorrow-ish" }, 422],
        [{ serviceId: "massage" }, 422],
        [{ customerName: " " }, 422],
        [{ customerPhone: "12" }, 422],
      ];
      for (const [patch, status] of refusals) {
        const viaConsole = await add(patch);
        const viaStore = await c.store.book({
          serviceId: "mens-cut",
          start: "2026-03-03T10:00",
          customerName: "Ann Example",
          customerPhone: "+1 212 555 0199",
          ...patch,
        });
        assert.equal(viaConsole.status, status, JSON.stringify(patch));
        assert.ok(!viaStore.ok);
        assert.equal(viaConsole.body.message, viaStore.message, JSON.stringify(patch));
        assert.equal(viaConsole.body.reason, viaStore.reason);
      }

      // Fill the 10:00 slot (capacity 2): the next hand booking is refused as "full".
      assert.equal((await add({ customerName: "Bo", customerPhone: "+12125550111" })).status, 200);
      const full = await add({ customerName: "Cy", customerPhone: "+12125550122" });
      assert.equal(full.status, 409);
      assert.equal(full.body.reason, "full");
      assert.ok(full.body.alternatives.length > 0, "alternatives offered");

      // Free times for the add form come from the agent's own slot search.
      const slots = await client.api("slots", { serviceId: "mens-cut", date: "2026-03-03" });
      assert.equal(slots.status, 200);
      assert.ok(!slots.body.slots.some((s: { start: string }) => s.start.includes("T10:00")));

      // Reschedule: to a full slot is refused (same message as the store), elsewhere it moves.
      const id = made.body.booking.id;
      const blocked = await client.api("bookings/reschedule", {
        id: (await add({ start: "2026-03-03T11:00", customerName: "Di" })).body.booking.id,
        newStart: "2026-03-03T10:00",
      });
      assert.equal(blocked.status, 409);
      assert.equal(blocked.body.reason, "full");
      const moved = await client.api("bookings/reschedule", {
        id,
        newStart: "2026-03-04T14:00",
        serviceId: "womens-cut",
      });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      assert.equal(moved.body.booking.start, "2026-03-04T14:00:00-05:00");
      assert.equal(moved.body.booking.serviceName, "Women's cut");
      assert.equal(moved.body.booking.price, 75);
      const unknown = await client.api("bookings/reschedule", {
        id: "ZZZZZZ",
        newStart: "2026-03-04T14:00",
      });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.message, "No booking with that reference.");

      // Cancel: the slot is free again for the agent.
      const cancelled = await client.api("bookings/cancel", { id });
      assert.equal(cancelled.status, 200);
      assert.equal(cancelled.body.booking.status, "cancelled");
      assert.equal((await client.api("bookings/cancel", { id })).body.alreadyCancelled, true);
      const wednesday = await client.api("calendar", { date: "2026-03-04", days: 1 });
      assert.deepEqual(
        wednesday.body.bookings.map((b: { id: string; status: string }) => [b.id, b.status]),
        [[id, "cancelled"]],
      );
      const hidden = await client.api("calendar", {
        date: "2026-03-04",
        days: 1,
        includeCancelled: false,
      });
      assert.deepEqual(hidden.body.bookings, []);

      // Bad bodies are 400 with what is wrong.
      const bad = await client.api("calendar", { date: "2026-02-30" });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error.message, /date/);
    } finally {
      await c.close();
    }
  });

  test("a console booking and an agent booking for the last free slot cannot both win", async () => {
    const c = await startConsoleServer({
      backend: backend.name,
      now,
      profile: { ...testProfileJson(), capacity: 1 },
    });
    // The agent books through another store instance on the same database.
    const db = c.store;
    try {
      const client = await signIn(c.base);
      const starts = ["09:00", "09:30", "10:00", "10:30", "11:00", "13:00", "13:30", "14:00"];
      const results = await Promise.all(starts.flatMap((t) => [
        client.api("bookings/add", {
          serviceId: "mens-cut",
          start: `2026-03-03T${t}`,
          customerName: "Console",
          customerPhone: "+12125550100",
          requestId: `race-${t.replace(":", "")}-console`,
        }).then((r) => ({ t, who: "console", ok: r.status === 200, reason: r.body.reason })),
        db.book({
          serviceId: "mens-cut",
          start: `2026-03-03T${t}`,
          customerName: "Agent",
          customerPhone: "+12125550101",
          callSid: `CA${t}`,
          idempotencyKey: `CA${t}:call_1`,
        }).then((r) => ({ t, who: "agent", ok: r.ok, reason: r.ok ? undefined : r.reason })),
      ]));
      for (const t of starts) {
        const pair = results.filter((r) => r.t === t);
        assert.equal(pair.filter((r) => r.ok).length, 1, `${t}: ${JSON.stringify(pair)}`);
        assert.equal(pair.find((r) => !r.ok)!.reason, "full");
      }
      const day = await client.api("calendar", { date: "2026-03-03", days: 1 });
      assert.equal(day.body.bookings.length, starts.length);
    } finally {
      await c.close();
    }
  });

  test("call list with filters and pages; a call page with its timeline, bookings and SMS", async () => {
    const c = await startConsoleServer({ backend: backend.name, now });
    try {
      const client = await signIn(c.base);
      const booked = await c.store.book({
        serviceId: "mens-cut",
        start: "2026-03-03T14:00",
        customerName: "Sam Rivera",
        customerPhone: "+15550001111",
        callSid: "CA_main",
        idempotencyKey: "CA_main:mens-cut:x",
      });
      assert.ok(booked.ok);
      const at = (s: number) => MONDAY_7AM.add({ seconds: s }).toString();
      const record: CallRecord = {
        callSid: "CA_main",
        from: "+15550001111",
        to: "+15559990000",
        startedAt: at(0),
        endedAt: at(60),
        outcome: "transferred",
        transcript: [
          { role: "agent", text: "Thanks for calling, how can I help?", at: at(1) },
          { role: "caller", text: "A haircut tomorrow please.", at: at(5) },
          { role: "agent", text: "I have two thirty", at: at(9), interrupted: true },
          { role: "caller", text: "Two thirty works.", at: at(12) },
          { role: "system", text: "caller pressed 1 2", at: at(20) },
          { role: "agent", text: "You're booked.", at: at(25) },
        ],
        toolCalls: [
          {
            name: "book_slot",
            callId: "call_1",
            arguments: { service: "men's cut", start: "2026-03-03T14:00:00-05:00" },
            result: { status: "confirmed", booking_id: booked.booking.id },
            startedAt: at(13),
            durationMs: 12,
          },
          {
            name: "transfer_call",
            callId: "call_2",
            arguments: { reason: "wants a person" },
            result: { status: "transferring" },
            startedAt: at(40),
            durationMs: 1,
          },
        ],
        latency: { turnMs: [640, 820], p50Ms: 640, p95Ms: 820 },
        bargeIns: [{ at: at(11), heardMs: 1200 }],
        extra: {
          endReason: "transferred",
          sms: [{ at: at(14), to: "+15550001111", bookingId: booked.booking.id, sid: "SM1" }],
        },
      };
      await c.store.saveCall(record);
      for (let i = 0; i < 30; i++) {
        await c.store.saveCall({
          ...record,
          callSid: `CA_other_${String(i).padStart(2, "0")}`,
          from: "+447700900000",
          startedAt: at(-3600 * 24 * 2 - i * 60), // Saturday
          endedAt: at(-3600 * 24 * 2 - i * 60 + 30),
          outcome: "caller_hung_up",
          toolCalls: [],
          extra: {},
        });
      }
      const first = await client.api("calls", { pageSize: 10 });
      assert.equal(first.status, 200);
      assert.equal(first.body.total, 31);
      assert.equal(first.body.pages, 4);
      assert.equal(first.body.calls[0].callSid, "CA_main", "newest first");
      const last = await client.api("calls", { pageSize: 10, page: 4 });
      assert.equal(last.body.calls.length, 1);
      const only = async (filters: Record<string, unknown>) =>
        (await client.api("calls", filters)).body.calls.map((x: { callSid: string }) => x.callSid);
      assert.deepEqual(await only({ booked: true }), ["CA_main"]);
      assert.deepEqual(await only({ transferred: true }), ["CA_main"]);
      assert.deepEqual(await only({ phone: "0001111" }), ["CA_main"]);
      assert.deepEqual(await only({ from: "2026-03-02", to: "2026-03-02" }), ["CA_main"]);
      const saturday = await client.api("calls", { from: "2026-02-28", to: "2026-02-28" });
      assert.equal(saturday.body.total, 30);
      assert.equal(saturday.body.calls.length, 25, "default page size");
      assert.deepEqual(await only({ outcome: "transferred", phone: "447700" }), []);
      assert.deepEqual(await only({ modelUnavailable: true }), []);

      const page = await client.api("call", { callSid: "CA_main" });
      assert.equal(page.status, 200);
      assert.equal(page.body.call.durationMs, 60_000);
      assert.equal(page.body.call.endReason, "transferred");
      assert.deepEqual(page.body.bookings.map((b: { id: string }) => b.id), [booked.booking.id]);
      assert.equal(page.body.bookings[0].price, 40);
      assert.equal(page.body.sms[0].sid, "SM1");
      assert.deepEqual(page.body.latency.turnMs, [640, 820]);
      const kinds = page.body.timeline.map((e: { kind: string; role?: string }) =>
        e.kind === "turn" ? `${e.kind}:${e.role}` : e.kind
      );
      assert.deepEqual(kinds, [
        "turn:agent",
        "turn:caller",
        "turn:agent",
        "barge_in",
        "turn:caller",
        "tool",
        "sms",
        "dtmf",
        "turn:agent",
        "tool",
        "transfer",
        "transfer",
        "end",
      ]);
      const barge = page.body.timeline.find((e: { kind: string }) => e.kind === "barge_in");
      assert.deepEqual(barge, {
        kind: "barge_in",
        at: at(11),
        heardMs: 1200,
        heardText: "I have two thirty",
      });
      const tool = page.body.timeline.find((e: { kind: string }) => e.kind === "tool");
      assert.equal(tool.arguments.start, "2026-03-03T14:00:00-05:00");
      assert.equal(tool.result.booking_id, booked.booking.id);
      assert.equal(
        page.body.timeline.find((e: { kind: string }) => e.kind === "dtmf").digits,
        "1 2",
      );
      assert.equal((await client.api("call", { callSid: "CA_nope" })).status, 404);
    } finally {
      await c.close();
    }
  });

  test("quality series per hour with data; ranges are bounded", async () => {
    const c = await startConsoleServer({ backend: backend.name, now });
    try {
      const client = await signIn(c.base);
      const base: Omit<CallRecord, "callSid" | "startedAt"> = {
        from: "+15550001111",
        to: "+15559990000",
        outcome: "caller_hung_up",
        transcript: [],
        toolCalls: [],
        latency: {},
        bargeIns: [],
      };
      // 08:10 and 08:40 New York (one booked, with turns and a barge-in); 15:05 with an apology.
      await c.store.saveCall({
        ...base,
        callSid: "CA1",
        startedAt: "2026-03-02T13:10:00Z",
        outcome: "booked",
        toolCalls: [{
          name: "book_slot",
          arguments: {},
          result: { status: "confirmed" },
          startedAt: "2026-03-02T13:10:05Z",
          durationMs: 3,
        }],
        latency: { turnMs: [500, 700, 900] },
        bargeIns: [{ at: "2026-03-02T13:10:09Z" }],
        extra: { modelStats: { reconnects: 1 } },
      });
      await c.store.saveCall({
        ...base,
        callSid: "CA2",
        startedAt: "2026-03-02T13:40:00Z",
        latency: { turnMs: [300] },
        toolCalls: [{
          name: "get_slots",
          arguments: {},
          error: "timeout",
          startedAt: "",
          durationMs: 5000,
        }],
      });
      await c.store.saveCall({
        ...base,
        callSid: "CA3",
        startedAt: "2026-03-02T20:05:00Z",
        outcome: "model_unavailable",
      });
      const q = await client.api("quality", { from: "2026-03-02", to: "2026-03-02" });
      assert.equal(q.status, 200, JSON.stringify(q.body));
      assert.equal(q.body.bucket, "hour");
      assert.equal(q.body.times.length, 24);
      assert.equal(q.body.times[0], Date.parse("2026-03-02T05:00:00Z") / 1000, "local midnight");
      assert.equal(q.body.calls[8], 2);
      assert.equal(q.body.calls[15], 1);
      assert.equal(q.body.conversion[8], 50);
      assert.equal(q.body.conversion[9], null);
      assert.equal(q.body.latencyP50[8], 700);
      assert.equal(q.body.latencyP95[8], 900);
      assert.equal(q.body.bargeInsPerCall[8], 0.5);
      assert.equal(q.body.reconnects[8], 1);
      assert.equal(q.body.apologies[15], 1);
      assert.equal(q.body.toolErrors[8], 1);
      assert.deepEqual(q.body.totals, {
        calls: 3,
        booked: 1,
        conversion: 33.3,
        latencyP50: 700,
        latencyP95: 900,
        turns: 4,
        bargeInsPerCall: 0.3,
        reconnects: 1,
        apologies: 1,
        toolErrors: 1,
      });
      const month = await client.api("quality", { from: "2026-02-01", to: "2026-03-02" });
      assert.equal(month.body.bucket, "day");
      assert.equal(month.body.times.length, 30);
      assert.equal(month.body.calls.at(-1), 3);
      const tooLong = await client.api("quality", { from: "2025-01-01", to: "2026-03-02" });
      assert.equal(tooLong.status, 422);
      const backwards = await client.api("quality", { from: "2026-03-02", to: "2026-03-01" });
      assert.equal(backwards.status, 422);
    } finally {
      await c.close();
    }
  });

  test("business profile: shown with its path; a reload keeps the old profile on error", async () => {
    const c = await startConsoleServer({ backend: backend.name, now });
    try {
      const client = await signIn(c.base);
      const view = await client.api("profile");
      assert.equal(view.body.path, c.profilePath);
      assert.equal(view.body.profile.name, "Test Salon");
      assert.equal(view.body.lastAttempt, null);

      // A broken file: refused with every problem listed; the old profile stays in force.
      const broken = { ...testProfileJson(), capacity: 0, services: [] };
      await Deno.writeTextFile(c.profilePath, JSON.stringify(broken));
      const refused = await client.api("profile/reload");
      assert.equal(refused.status, 422);
      assert.equal(refused.body.reload.ok, false);
      assert.ok(refused.body.reload.problems.some((p: string) => p.startsWith("capacity:")));
      assert.ok(refused.body.reload.problems.some((p: string) => p.startsWith("services:")));
      assert.equal(refused.body.profile.name, "Test Salon");
      assert.equal((await client.api("profile")).body.lastAttempt.ok, false);
      const stillBooks = await client.api("bookings/add", {
        serviceId: "mens-cut",
        start: "2026-03-03T09:00",
        customerName: "Ann",
        customerPhone: "+12125550100",
        requestId: "reload-test-1",
      });
      assert.equal(stillBooks.status, 200);

      // A valid file: in force for the store at once (a new service books).
      const next = testProfileJson();
      next.name = "Test Salon & Spa";
      (next.services as unknown[]).push({
        id: "beard-trim",
        name: "Beard trim",
        durationMinutes: 15,
        price: 15,
        currency: "USD",
      });
      await Deno.writeTextFile(c.profilePath, JSON.stringify(next));
      const applied = await client.api("profile/reload");
      assert.equal(applied.status, 200);
      assert.equal(applied.body.reload.ok, true);
      assert.equal(applied.body.profile.name, "Test Salon & Spa");
      const trim = await client.api("bookings/add", {
        serviceId: "beard-trim",
        start: "2026-03-03T09:30",
        customerName: "Ann",
        customerPhone: "+12125550100",
        requestId: "reload-test-2",
      });
      assert.equal(trim.status, 200, JSON.stringify(trim.body));
      assert.equal(trim.body.booking.price, 15);
    } finally {
      await c.close();
    }
  });
}

Deno.test("console API: the live stream sends the calls in progress as they change", async () => {
  const c = await startConsoleServer({ now });
  try {
    const client = await signIn(c.base);
    const res = await fetch(`${c.base}/console/api/live`, { headers: { cookie: client.cookie } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    const nextCalls = async () => {
      while (true) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^event: calls\ndata: (.*)$/s.exec(event);
          if (data) return JSON.parse(data[1]);
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("stream ended");
        buffer += value;
      }
    };
    assert.deepEqual(await nextCalls(), []);
    c.live.push({
      callSid: "CA_live",
      from: "+15550001111",
      to: "+15559990000",
      startedAt: new Date().toISOString(),
      state: "agent_speaking",
      transcript: [{ role: "agent", text: "Thanks for", at: new Date().toISOString() }],
    });
    const one = await nextCalls();
    assert.equal(one[0].callSid, "CA_live");
    assert.equal(one[0].transcript[0].text, "Thanks for");
    c.live[0].transcript[0].text = "Thanks for calling!";
    c.live[0].state = "listening";
    const grown = await nextCalls();
    assert.equal(grown[0].transcript[0].text, "Thanks for calling!");
    assert.equal(grown[0].state, "listening");
    c.live.pop();
    assert.deepEqual(await nextCalls(), []);
    // Closing the console ends the stream (shutdown must not wait for it).
    c.console.close();
    await assert.rejects(nextCalls(), /stream ended/);
  } finally {
    await c.close();
  }
});

for (const backend of BACKENDS) {
  Deno.test({
    name: `${backend.name}: console API: each booking shows its reminder's state`,
    ignore: backend.ignore,
    async fn() {
      const c = await startConsoleServer({ backend: backend.name, now, reminders: "call" });
      const off = await startConsoleServer({ backend: backend.name, now });
      try {
        const client = await signIn(c.base);
        const made = await client.api("bookings/add", {
          serviceId: "mens-cut",
          start: "2026-03-04T10:00",
          customerName: "Rita Reminder",
          customerPhone: "+1 212 555 0142",
          requestId: crypto.randomUUID(),
        });
        assert.equal(made.status, 200, JSON.stringify(made.body));
        const id = made.body.booking.id as string;
        const shown = async () =>
          (await client.api("calendar", { date: "2026-03-04", days: 1 })).body.bookings
            .find((b: { id: string }) => b.id === id).reminder;
        // A new booking's reminder waits to be planned.
        assert.equal((await shown()).state, "scheduled");
        // Planned, then answered and confirmed by the customer: what the calendar shows.
        await c.store.updateReminder(id, (r) => ({ ...r, dueMs: Date.UTC(2026, 2, 3, 15) }));
        assert.equal((await shown()).dueAt, "2026-03-03T15:00:00.000Z");
        await c.store.updateReminder(id, (r) => ({
          ...r,
          state: "done",
          result: "answered",
          attempts: [{
            n: 1,
            round: r.round,
            channel: "call",
            startedMs: Date.UTC(2026, 2, 3, 15),
            owner: "test",
            result: "answered",
            response: "confirmed",
          }],
        }));
        assert.deepEqual(await shown(), {
          state: "done",
          result: "answered",
          dueAt: null,
          attempts: 1,
          response: "confirmed",
        });
        // With REMINDERS=off the console shows none (the store keeps them regardless).
        const offClient = await signIn(off.base);
        await offClient.api("bookings/add", {
          serviceId: "mens-cut",
          start: "2026-03-04T10:00",
          customerName: "Rita Reminder",
          customerPhone: "+1 212 555 0142",
          requestId: crypto.randomUUID(),
        });
        const offDay = await offClient.api("calendar", { date: "2026-03-04", days: 1 });
        assert.equal(offDay.body.bookings[0].reminder, null);
      } finally {
        await c.close();
        await off.close();
      }
    },
  });
}
