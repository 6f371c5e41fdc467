import assert from "node:assert/strict";
import { dropPgSchema, freshPgSchema, PG_TEST_URL, pgAvailable } from "./pg_test_db.ts";
import postgres from "postgres";
import { openStore } from "../../src/booking/store.ts";
import { defineStoreSuite } from "./store_suite.ts";
import { needs, reportSkip } from "../support/requirements.ts";
import { MONDAY_7AM, peakOverlap, RACE_REQUESTS, testProfile } from "./fixtures.ts";

const URL_PG = PG_TEST_URL;

const available = await pgAvailable();
if (!available) {
  reportSkip(
    `the PostgreSQL booking store tests (no server at ${URL_PG})`,
    "postgresql",
    'set DATABASE_URL_TEST_PG, or start PostgreSQL on 127.0.0.1:5432 with database "test"',
  );
}

defineStoreSuite("postgres", async (profile, clock) => {
  const schema = freshPgSchema("booking_test");
  const others: { close(): Promise<void> }[] = [];
  const store = await openStore(URL_PG, profile, { clock, schema, maxConnections: 4 });
  return {
    store,
    exec: async (sql) => {
      const conn = postgres(URL_PG, {
        max: 1,
        onnotice: () => {},
        connection: { search_path: schema },
      });
      try {
        await conn.unsafe(sql.postgres);
      } finally {
        await conn.end({ timeout: 1 });
      }
    },
    openAnother: async () => {
      const s = await openStore(URL_PG, profile, { clock, schema, maxConnections: 2 });
      others.push(s);
      return s;
    },
    cleanup: async () => {
      await store.close();
      for (const o of others) await o.close();
      await dropPgSchema(schema);
    },
  };
}, { ignore: !available, suffix: needs("postgresql") });

Deno.test({
  name: "postgres: many instances racing for the same slots never exceed capacity" +
    needs("postgresql"),
  ignore: !available,
  fn: async () => {
    const schema = freshPgSchema("booking_test");
    const profile = testProfile();
    const clock = () => MONDAY_7AM;
    const instances = 6;
    const stores = [];
    for (let i = 0; i < instances; i++) {
      stores.push(await openStore(URL_PG, profile, { clock, schema, maxConnections: 4 }));
    }
    try {
      const requests = RACE_REQUESTS;
      const perInstance = 4;
      const jobs = stores.flatMap((store, s) =>
        Array.from({ length: perInstance }, () => requests).flat().map(async (r, i) => {
          const t0 = performance.now();
          const result = await store.book({
            ...r,
            customerName: `Instance ${s}`,
            customerPhone: `+1212${String(s).padStart(3, "0")}${String(i).padStart(4, "0")}`,
          });
          return { result, ms: performance.now() - t0 };
        })
      );
      const outcomes = await Promise.all(jobs);
      const confirmations = outcomes.flatMap((o) => o.result.ok ? [o.result.booking] : []);
      for (const o of outcomes) if (!o.result.ok) assert.equal(o.result.reason, "full");

      const sql = postgres(URL_PG, { max: 1, onnotice: () => {} });
      try {
        const rows = await sql.unsafe(
          `SELECT id, start_at, end_at FROM "${schema}".bookings WHERE status = 'confirmed'`,
        );
        const peak = peakOverlap(rows.map((r) => ({
          startMs: (r.start_at as Date).getTime(),
          endMs: (r.end_at as Date).getTime(),
        })));
        assert.ok(peak <= 2, `peak overlap ${peak} exceeds capacity 2`);
        assert.equal(rows.length, confirmations.length, "no unreported or lost bookings");
        const ids = new Set(rows.map((r) => String(r.id)));
        for (const c of confirmations) assert.ok(ids.has(c.id), `confirmed ${c.id} is missing`);
        const wed = rows.filter((r) =>
          (r.start_at as Date).getTime() === Date.parse("2026-03-04T14:00:00-05:00")
        );
        assert.equal(wed.length, 2);
      } finally {
        await sql.end({ timeout: 1 });
      }
      const ms = outcomes.map((o) => o.ms).sort((a, b) => a - b);
      console.log(
        `postgres race: ${instances} instances, ${ms.length} concurrent requests, ` +
          `${confirmations.length} confirmed; book() p50 ${
            ms[Math.floor(ms.length / 2)].toFixed(1)
          } ms, p95 ${ms[Math.floor(ms.length * 0.95)].toFixed(1)} ms`,
      );
    } finally {
      for (const s of stores) await s.close();
      await dropPgSchema(schema);
    }
  },
});

Deno.test({
  name: "postgres: instances starting together migrate once" + needs("postgresql"),
  ignore: !available,
  fn: async () => {
    const schema = freshPgSchema("booking_test");
    const stores = await Promise.all(
      Array.from(
        { length: 4 },
        () => openStore(URL_PG, testProfile(), { schema, maxConnections: 1 }),
      ),
    );
    try {
      const sql = postgres(URL_PG, { max: 1, onnotice: () => {} });
      try {
        const v = await sql.unsafe(`SELECT version FROM "${schema}".schema_migrations`);
        assert.deepEqual(v.map((r) => r.version), [1, 2]);
      } finally {
        await sql.end({ timeout: 1 });
      }
    } finally {
      for (const s of stores) await s.close();
      await dropPgSchema(schema);
    }
  },
});

Deno.test({
  name:
    "postgres: a booking stuck behind another session's day lock gives up by its deadline and never commits later",
  ignore: !available,
  fn: async () => {
    const schema = freshPgSchema("booking_test");
    const store = await openStore(URL_PG, testProfile(), { clock: () => MONDAY_7AM, schema });
    const holder = postgres(URL_PG, { max: 1, onnotice: () => {} });
    const request = {
      serviceId: "mens-cut",
      start: "2026-03-03T10:00",
      customerName: "Ann Example",
      customerPhone: "+12125550199",
      timeoutMs: 800,
    };
    let release = () => {};
    const released = new Promise<void>((r) => release = r);
    let locked = () => {};
    const isLocked = new Promise<void>((r) => locked = r);
    const held = holder.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(hashtextextended(${`booking-day:${schema}:2026-03-03`}, 0))`;
      locked();
      await released;
    });
    // Old code waits for the lock forever: release it anyway so the test ends (and fails).
    const safety = setTimeout(release, 5000);
    try {
      await isLocked;
      const t0 = performance.now();
      const result = await store.book(request);
      const ms = performance.now() - t0;
      assert.equal(result.ok ? "booked" : result.reason, "busy", JSON.stringify(result));
      assert.ok(ms >= 700 && ms < 3000, `gave up after ${ms.toFixed(0)} ms`);
      release();
      await held;
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(await store.findByPhone(request.customerPhone), [], "nothing booked later");
      const again = await store.book(request);
      assert.ok(again.ok && !again.replayed, "books once the lock is free");
    } finally {
      clearTimeout(safety);
      release();
      await held.catch(() => {});
      await holder.end({ timeout: 1 });
      await store.close();
      await dropPgSchema(schema);
    }
  },
});
