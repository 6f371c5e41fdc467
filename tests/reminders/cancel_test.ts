/**
 * A cancelled booking is never reminded, on SQLite and PostgreSQL: cancelled while its
 * reminder is due, there is no call; cancelled while Twilio is placing the call, the call is
 * called off before anyone answers.
 */
import assert from "node:assert/strict";
import { parseBusinessProfile } from "../../src/booking/business.ts";
import { openStore } from "../../src/booking/store.ts";
import { planned } from "../../src/reminders/machine.ts";
import { planReminder } from "../../src/reminders/schedule.ts";
import { updated } from "../../src/reminders/update.ts";
import { type Harness, startHarness, waitUntil } from "../support/harness.ts";
import {
  bookDaysAgo,
  customer,
  freshDatabase,
  HOURS_BEFORE,
  postgresAvailable,
  reminderEnv,
  reminderProfileFile,
  reminderWhen,
} from "./support.ts";

const pgAvailable = await postgresAvailable();

async function withDatabase(
  backend: "sqlite" | "postgres",
  fn: (databaseUrl: string, file: Awaited<ReturnType<typeof reminderProfileFile>>) => Promise<void>,
) {
  const file = await reminderProfileFile();
  const db = backend === "postgres" ? await freshDatabase() : undefined;
  const dir = await Deno.makeTempDir({ prefix: "reminder-cancel-" });
  try {
    await fn(db?.url ?? `sqlite:${dir}/agent.db`, file);
  } finally {
    await db?.drop();
    await file.remove();
    await Deno.remove(dir, { recursive: true });
  }
}

function cases(name: string, fn: (backend: "sqlite" | "postgres") => Promise<void>) {
  Deno.test(`reminders (sqlite): ${name}`, () => fn("sqlite"));
  Deno.test({
    name: `reminders (postgres): ${name}`,
    ignore: !pgAvailable,
    fn: () => fn("postgres"),
  });
}

cases(
  "a booking cancelled while its reminder is due gets no call",
  (backend) =>
    withDatabase(backend, async (databaseUrl, file) => {
      const profile = parseBusinessProfile(file.profile);
      const [kept, cancelled] = await bookDaysAgo(databaseUrl, profile, 2);
      // Both reminders are planned and due now.
      const store = await openStore(databaseUrl, profile);
      const nowMs = Date.now();
      const policy = {
        profile,
        hoursBefore: Number(HOURS_BEFORE),
        retryMinutes: 60,
        mode: "call" as const,
        smsEnabled: false,
      };
      for (const b of [kept, cancelled]) {
        const r = (await store.getReminder(b.id))!;
        const plan = planReminder(policy, { startMs: Date.parse(b.start), sinceMs: r.sinceMs });
        const due = await updated(store, b.id, (x) => planned(x, 1, plan, nowMs));
        assert.ok(due && due.dueMs! <= nowMs, "due");
      }
      assert.ok((await store.cancel(cancelled.id)).ok);
      await store.close();
      await using h = await startHarness({
        rest: true,
        env: { ...reminderEnv(file.path), DATABASE_URL: databaseUrl },
        overrides: { reminders: { tickMs: 100 } },
      });
      await reminderWhen(h.app.store, kept.id, (r) => r.state === "no_answer");
      await new Promise((r) => setTimeout(r, 500)); // more ticks
      assert.deepEqual(h.rest!.placed.map((c) => c.to), [customer(0)]);
      const r = await h.app.store.getReminder(cancelled.id);
      assert.equal(r?.state, "done");
      assert.equal(r?.result, "dropped");
      assert.deepEqual(r?.attempts, []);
    }),
);

cases(
  "a booking cancelled while Twilio places its call: the call is called off",
  (backend) =>
    withDatabase(backend, async (databaseUrl, file) => {
      const profile = parseBusinessProfile(file.profile);
      const [booking] = await bookDaysAgo(databaseUrl, profile, 1);
      let respond!: () => void;
      let ring!: () => void;
      const responded = new Promise<void>((r) => (respond = r));
      const ringing = new Promise<void>((r) => (ring = r));
      let h: Harness | undefined;
      try {
        h = await startHarness({
          rest: true,
          restOptions: {
            script: () => ({ answer: "human", holdResponse: responded, startAfter: ringing }),
          },
          env: { ...reminderEnv(file.path), DATABASE_URL: databaseUrl },
          overrides: { reminders: { tickMs: 100 } },
        });
        const rest = h.rest!;
        await waitUntil(() => rest.placed.length === 1, 10_000, "the call");
        // The customer cancels (another call, the console) before Twilio has answered the service.
        assert.ok((await h.app.store.cancel(booking.id)).ok);
        respond();
        const sid = rest.placed[0].sid;
        await waitUntil(
          () =>
            rest.requests.some((r) =>
              r.path.endsWith(`/Calls/${sid}.json`) && r.form.Status === "canceled"
            ),
          10_000,
          "the call cancelled",
        );
        ring();
        await rest.placed[0].done;
        assert.equal(rest.placed[0].status, "canceled");
        assert.equal(rest.placed[0].voiceTwiml, undefined, "no one was connected");
        const r = await reminderWhen(
          h.app.store,
          booking.id,
          (x) => x.attempts[0]?.result === "canceled",
        );
        assert.equal(r.state, "done");
        assert.equal(r.result, "dropped");
        assert.equal(r.attempts[0].callSid, sid);
      } finally {
        respond();
        ring();
        await h?.close();
      }
    }),
);
