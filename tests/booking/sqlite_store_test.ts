import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { openStore, parseDatabaseUrl } from "../../src/booking/store.ts";
import { SqliteBookingStore } from "../../src/booking/sqlite_store.ts";
import { defineStoreSuite } from "./store_suite.ts";
import { MONDAY_7AM, peakOverlap, RACE_REQUESTS, testProfile } from "./fixtures.ts";

defineStoreSuite("sqlite", async (profile, clock) => {
  const dir = await Deno.makeTempDir({ prefix: "booking-sqlite-" });
  const url = `sqlite:${join(dir, "nested", "bookings.db")}`;
  const others: { close(): Promise<void> }[] = [];
  const store = await openStore(url, profile, { clock });
  return {
    store,
    exec: (sql) => {
      const db = new DatabaseSync(join(dir, "nested", "bookings.db"));
      try {
        db.exec(sql.sqlite);
      } finally {
        db.close();
      }
      return Promise.resolve();
    },
    openAnother: async () => {
      const s = await openStore(url, profile, { clock });
      others.push(s);
      return s;
    },
    cleanup: async () => {
      await store.close();
      for (const o of others) await o.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});

Deno.test("sqlite: DATABASE_URL forms resolve to files (relative to cwd) or memory", () => {
  assert.deepEqual(parseDatabaseUrl("sqlite:data/b.db", "/srv/app"), {
    kind: "sqlite",
    path: "/srv/app/data/b.db",
  });
  assert.deepEqual(parseDatabaseUrl("sqlite:///var/lib/b.db", "/srv"), {
    kind: "sqlite",
    path: "/var/lib/b.db",
  });
  assert.deepEqual(parseDatabaseUrl("sqlite:/abs.db"), { kind: "sqlite", path: "/abs.db" });
  assert.deepEqual(parseDatabaseUrl("sqlite::memory:"), { kind: "sqlite", path: ":memory:" });
  assert.deepEqual(parseDatabaseUrl("postgresql://u@h/db"), {
    kind: "postgres",
    url: "postgresql://u@h/db",
  });
  assert.throws(() => parseDatabaseUrl("mysql://x"), /not supported/);
  assert.throws(() => parseDatabaseUrl("sqlite:"), /not supported/);
});

Deno.test("sqlite: opening creates the directory, WAL mode and schema version", async () => {
  const dir = await Deno.makeTempDir({ prefix: "booking-sqlite-" });
  try {
    const path = join(dir, "a", "b", "bookings.db");
    const store = await openStore(`sqlite:${path}`, testProfile());
    await store.close();
    const db = new DatabaseSync(path);
    try {
      assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
      assert.equal(db.prepare("PRAGMA user_version").get()?.user_version, 2);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all().map((r) => r.name);
      assert.deepEqual(tables, ["bookings", "calls", "reminder_opt_outs", "reminders"]);
    } finally {
      db.close();
    }
    const mem = SqliteBookingStore.open(":memory:", testProfile());
    await mem.migrate();
    await mem.ping();
    await mem.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Highest number of intervals active at once. */
Deno.test("sqlite: worker processes racing for the same slots never exceed capacity", async () => {
  const dir = await Deno.makeTempDir({ prefix: "booking-race-" });
  try {
    const path = join(dir, "race.db");
    await (await openStore(`sqlite:${path}`, testProfile())).close();
    const requests = RACE_REQUESTS;
    const workers = 8;
    const perWorker = 3; // each worker sends every request 3 times, in its own order
    const startAt = Date.now() + 2500;
    const worker = new URL("./sqlite_race_worker.ts", import.meta.url).pathname;
    const children = Array.from({ length: workers }, (_, w) => {
      const mine = Array.from({ length: perWorker }, () => requests).flat()
        .map((r, i) => ({ r, k: (i * 7 + w * 13) % 17 }))
        .sort((a, b) => a.k - b.k)
        .map((x) => x.r);
      return new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          worker,
          path,
          String(w + 1),
          String(startAt),
          JSON.stringify(mine),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    });
    const outputs = await Promise.all(children);
    const reports = outputs.map((o) => {
      const err = new TextDecoder().decode(o.stderr);
      assert.equal(o.code, 0, err);
      return JSON.parse(new TextDecoder().decode(o.stdout).trim()) as {
        confirmed: { id: string; start: string; end: string }[];
        refused: number;
        ms: number[];
      };
    });
    const confirmations = reports.flatMap((r) => r.confirmed);
    const refused = reports.reduce((n, r) => n + r.refused, 0);
    assert.equal(confirmations.length + refused, workers * perWorker * requests.length);

    const db = new DatabaseSync(path);
    try {
      const rows = db.prepare(
        "SELECT id, start_ms, end_ms FROM bookings WHERE status = 'confirmed'",
      )
        .all() as { id: string; start_ms: number; end_ms: number }[];
      const peak = peakOverlap(rows.map((r) => ({ startMs: r.start_ms, endMs: r.end_ms })));
      assert.ok(peak <= 2, `peak overlap ${peak} exceeds capacity 2`);
      assert.equal(rows.length, confirmations.length, "no unreported or lost bookings");
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const c of confirmations) {
        const row = byId.get(c.id);
        assert.ok(row, `confirmed booking ${c.id} is missing`);
        assert.equal(row.start_ms, Date.parse(c.start));
      }
      // Tuesday's morning requests all overlap 10:15-10:30 or fill the 11:00/09:00 slots;
      // Wednesday 14:00 must be booked exactly to capacity.
      const wed = rows.filter((r) => r.start_ms === Date.parse("2026-03-04T14:00:00-05:00"));
      assert.equal(wed.length, 2);
    } finally {
      db.close();
    }
    const ms = reports.flatMap((r) => r.ms).sort((a, b) => a - b);
    console.log(
      `sqlite race: ${workers} processes, ${ms.length} requests, ${confirmations.length} confirmed;` +
        ` book() p50 ${ms[Math.floor(ms.length / 2)].toFixed(2)} ms, p95 ${
          ms[Math.floor(ms.length * 0.95)].toFixed(2)
        } ms, max ${ms.at(-1)!.toFixed(2)} ms`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite: a booking that cannot get the write lock by its deadline books nothing, ever", async () => {
  const dir = await Deno.makeTempDir({ prefix: "booking-busy-" });
  const path = join(dir, "busy.db");
  const store = await openStore(`sqlite:${path}`, testProfile(), { clock: () => MONDAY_7AM });
  const request = {
    serviceId: "mens-cut",
    start: "2026-03-03T10:00",
    customerName: "Ann Example",
    customerPhone: "+12125550199",
    timeoutMs: 400,
  };
  // Another process holds SQLite's write lock for longer than the booking may wait.
  const holder = new DatabaseSync(path);
  holder.exec("BEGIN IMMEDIATE");
  let held = true;
  const release = () => {
    if (held) holder.exec("ROLLBACK");
    held = false;
  };
  const safety = setTimeout(release, 3000); // old code waits its 5 s busy timeout otherwise
  try {
    const t0 = performance.now();
    const result = await store.book(request);
    const ms = performance.now() - t0;
    assert.equal(result.ok ? "booked" : result.reason, "busy", JSON.stringify(result));
    assert.ok(ms >= 350 && ms < 2000, `gave up after ${ms.toFixed(0)} ms`);
    release();
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await store.findByPhone(request.customerPhone), [], "nothing booked later");
    const again = await store.book(request);
    assert.ok(again.ok && !again.replayed, "books once the lock is free");
  } finally {
    clearTimeout(safety);
    release();
    holder.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
