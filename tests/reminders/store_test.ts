/**
 * Reminders in the store, on SQLite and PostgreSQL: they follow their booking in the same
 * transaction (book, cancel, move), are claimed with a lease, count against one call rate,
 * and end for numbers that opted out.
 */
import assert from "node:assert/strict";
import { openStore } from "../../src/booking/store.ts";
import type { BookingStore, Reminder, ReminderClaim } from "../../src/booking/types.ts";
import { begun } from "../../src/reminders/machine.ts";
import { updated } from "../../src/reminders/update.ts";
import { TestClock, testProfile } from "../booking/fixtures.ts";
import { PG_URL, postgresAvailable } from "./support.ts";
import { dropPgSchema, freshPgSchema } from "../booking/pg_test_db.ts";

const pgAvailable = await postgresAvailable();

interface Opened {
  store: BookingStore;
  another(): Promise<BookingStore>;
  close(): Promise<void>;
}

type Factory = (clock: () => Temporal.Instant) => Promise<Opened>;

const sqlite: Factory = async (clock) => {
  const dir = await Deno.makeTempDir({ prefix: "reminder-store-" });
  const url = `sqlite:${dir}/agent.db`;
  const others: BookingStore[] = [];
  const store = await openStore(url, testProfile(), { clock });
  return {
    store,
    another: async () => {
      const s = await openStore(url, testProfile(), { clock });
      others.push(s);
      return s;
    },
    close: async () => {
      for (const s of [store, ...others]) await s.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
};

const pg: Factory = async (clock) => {
  const schema = freshPgSchema("reminder_test");
  const others: BookingStore[] = [];
  const store = await openStore(PG_URL, testProfile(), { clock, schema, maxConnections: 4 });
  return {
    store,
    another: async () => {
      const s = await openStore(PG_URL, testProfile(), { clock, schema, maxConnections: 4 });
      others.push(s);
      return s;
    },
    close: async () => {
      for (const s of [store, ...others]) await s.close();
      await dropPgSchema(schema);
    },
  };
};

const TUE_10 = "2026-03-03T10:00:00-05:00";

async function book(store: BookingStore, start = TUE_10, phone = "+1 (212) 555-0199") {
  const r = await store.book({
    serviceId: "mens-cut",
    start,
    customerName: "Ann Example",
    customerPhone: phone,
  });
  if (!r.ok) throw new Error(r.message);
  return r.booking;
}

/** Makes a reminder due now (as the planner would). */
async function due(
  store: BookingStore,
  id: string,
  nowMs: number,
  channel: "call" | "sms" = "call",
) {
  await store.updateReminder(id, (r) => ({ ...r, dueMs: nowMs - 1000, channel }));
}

function claim(nowMs: number, patch: Partial<ReminderClaim> = {}): ReminderClaim {
  return {
    owner: "a",
    nowMs,
    leaseMs: 60_000,
    limit: 50,
    callSlots: 50,
    callsPerMinute: 600,
    ...patch,
  };
}

function suite(backend: string, factory: Factory, ignore = false) {
  const test = (name: string, fn: (o: Opened, clock: TestClock) => Promise<void>) =>
    Deno.test({
      name: `reminder store (${backend}): ${name}`,
      ignore,
      fn: async () => {
        const clock = new TestClock();
        const opened = await factory(clock.now);
        try {
          await fn(opened, clock);
        } finally {
          await opened.close();
        }
      },
    });

  test(
    "a booking gets its reminder in the same transaction; cancel drops it, a move restarts it",
    async ({ store }, clock) => {
      const b = await book(store);
      const r = await store.getReminder(b.id);
      assert.equal(r?.state, "scheduled");
      assert.equal(r?.dueMs, null, "to be planned");
      assert.equal(r?.round, 1);
      assert.equal(r?.sinceMs, clock.now().epochMilliseconds);
      assert.deepEqual((await store.unplannedReminders(10)).map((x) => x.booking.id), [b.id]);

      // A move that fails (the day is closed) leaves the reminder as it was.
      const refused = await store.reschedule({ id: b.id, newStart: "2026-03-06T10:00:00-05:00" });
      assert.equal(refused.ok, false);
      assert.equal((await store.getReminder(b.id))?.round, 1);

      await due(store, b.id, clock.now().epochMilliseconds);
      clock.advance({ minutes: 5 });
      const moved = await store.reschedule({ id: b.id, newStart: "2026-03-04T11:00:00-05:00" });
      assert.ok(moved.ok);
      const afterMove = await store.getReminder(b.id);
      assert.equal(afterMove?.round, 2);
      assert.equal(afterMove?.state, "scheduled");
      assert.equal(afterMove?.dueMs, null, "planned again for the new time");
      assert.equal(afterMove?.sinceMs, clock.now().epochMilliseconds);

      const cancelled = await store.cancel(b.id);
      assert.ok(cancelled.ok);
      const dropped = await store.getReminder(b.id);
      assert.equal(dropped?.state, "done");
      assert.equal(dropped?.result, "dropped");
      assert.deepEqual(await store.unplannedReminders(10), []);
    },
  );

  test(
    "a cancel while the reminder is claimed ends it and takes the lease away",
    async ({ store }, clock) => {
      const b = await book(store);
      const now = clock.now().epochMilliseconds;
      await due(store, b.id, now);
      const [claimed] = await store.claimReminders(claim(now));
      assert.equal(claimed.reminder.leaseOwner, "a");
      const started = await updated(store, b.id, (r) => begun(r, "a", now, 60_000));
      assert.equal(started?.state, "dialing");
      await store.cancel(b.id);
      const r = await store.getReminder(b.id);
      assert.equal(r?.state, "done");
      assert.equal(r?.result, "dropped");
      assert.equal(r?.leaseOwner, null);
      assert.equal(r?.attempts.length, 1, "the attempt stays on record");
      // The dialler's next step finds it is no longer its work.
      assert.equal(await updated(store, b.id, (x) => begun(x, "a", now, 60_000)), undefined);
    },
  );

  test(
    "claims take due work only, hold it under a lease, and hand over expired leases",
    async ({ store, another }, clock) => {
      const b1 = await book(store);
      const b2 = await book(store, "2026-03-03T11:00:00-05:00", "+12125550111");
      const now = clock.now().epochMilliseconds;
      await due(store, b1.id, now);
      await store.updateReminder(b2.id, (r) => ({ ...r, dueMs: now + 3_600_000 }));
      const other = await another();
      const first = await store.claimReminders(claim(now, { leaseMs: 10_000 }));
      assert.deepEqual(first.map((c) => c.booking.id), [b1.id]);
      assert.equal(first[0].booking.customerPhone, "+1 (212) 555-0199");
      assert.deepEqual(await other.claimReminders(claim(now, { owner: "b" })), [], "leased");
      // The first owner began an attempt, then died.
      await updated(store, b1.id, (r) => begun(r, "a", now, 10_000));
      assert.deepEqual(await other.claimReminders(claim(now + 9_000, { owner: "b" })), []);
      const taken = await other.claimReminders(claim(now + 11_000, { owner: "b" }));
      assert.deepEqual(taken.map((c) => [c.booking.id, c.reminder.state, c.reminder.leaseOwner]), [
        [b1.id, "dialing", "b"],
      ]);
      assert.equal(taken[0].reminder.attempts[0].owner, "a", "b sees what a had started");
    },
  );

  test(
    "claims respect free call slots and the calls-per-minute rate, not for texts",
    async ({ store }, clock) => {
      const now = clock.now().epochMilliseconds;
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const b = await book(
          store,
          `2026-03-0${3 + Math.floor(i / 2)}T10:00:00-05:00`,
          `+1212555020${i}`,
        );
        await due(store, b.id, now, i < 4 ? "call" : "sms");
        ids.push(b.id);
      }
      const rate = { callsPerMinute: 3, leaseMs: 120_000 };
      const a = await store.claimReminders(claim(now, { callSlots: 1, ...rate }));
      assert.equal(a.filter((c) => c.reminder.channel === "call").length, 1, "one free slot");
      assert.equal(a.filter((c) => c.reminder.channel === "sms").length, 2, "texts need no slot");
      const b = await store.claimReminders(claim(now + 1000, { owner: "b", ...rate }));
      assert.equal(b.length, 2, "two more calls make three in a minute");
      assert.deepEqual(
        await store.claimReminders(claim(now + 2000, { owner: "c", ...rate })),
        [],
      );
      // A minute after the first calls, the rate has room again (their leases still hold them).
      const later = await store.claimReminders(
        claim(now + 61_500, { owner: "d", ...rate }),
      );
      assert.equal(later.length, 1);
      assert.deepEqual(new Set([...a, ...b, ...later].map((c) => c.booking.id)), new Set(ids));
    },
  );

  test(
    "several instances claiming at once never get the same reminder",
    async ({ store, another }, clock) => {
      const now = clock.now().epochMilliseconds;
      const ids = new Set<string>();
      for (let i = 0; i < 24; i++) {
        // Tuesday to Thursday, four starts a day, two bookings each (capacity 2).
        const day = 3 + Math.floor(i / 8);
        const time = ["09:00", "10:00", "11:00", "13:00"][Math.floor(i / 2) % 4];
        const b = await book(
          store,
          `2026-03-0${day}T${time}:00-05:00`,
          `+121255503${String(i).padStart(2, "0")}`,
        );
        await due(store, b.id, now);
        ids.add(b.id);
      }
      const stores = [store, await another(), await another(), await another()];
      const got: string[] = [];
      await Promise.all(stores.map(async (s, i) => {
        for (let k = 0; k < 10; k++) {
          const c = await s.claimReminders(claim(now, { owner: `i${i}`, limit: 3 }));
          got.push(...c.map((x) => x.booking.id));
        }
      }));
      assert.equal(got.length, 24, "every due reminder claimed");
      assert.deepEqual(new Set(got), ids, "each exactly once");
    },
  );

  test(
    "an opt-out ends the number's waiting reminders whatever its format; START undoes it",
    async ({ store }, clock) => {
      const now = clock.now().epochMilliseconds;
      const mine = await book(store, TUE_10, "(212) 555-0199");
      const other = await book(store, "2026-03-03T11:00:00-05:00", "+12125550111");
      await store.optOut("+1 212 555 0199", "sms", now);
      assert.equal(await store.isOptedOut("2125550199"), true);
      assert.equal(await store.isOptedOut("+12125550111"), false);
      assert.equal((await store.getReminder(mine.id))?.result, "opted_out");
      assert.equal((await store.getReminder(other.id))?.state, "scheduled");
      await store.optIn("+12125550199");
      assert.equal(await store.isOptedOut("2125550199"), false);
    },
  );

  test("a change may not move a reminder to another booking", async ({ store }) => {
    const b = await book(store);
    await assert.rejects(
      store.updateReminder(b.id, (r): Reminder => ({ ...r, bookingId: "XXXXXX" })),
      /may not change its booking/,
    );
    assert.equal((await store.getReminder(b.id))?.bookingId, b.id);
  });
}

suite("sqlite", sqlite);
suite("postgres", pg, !pgAvailable);
