/**
 * An instance that died after claiming a reminder and starting its attempt, but before
 * Twilio took the call: once the lease runs out another instance asks Twilio, finds no call,
 * and dials, once. Same guarantees on SQLite (across a restart) and PostgreSQL.
 */
import assert from "node:assert/strict";
import { parseBusinessProfile } from "../../src/booking/business.ts";
import { openStore } from "../../src/booking/store.ts";
import { begun, planned } from "../../src/reminders/machine.ts";
import { updated } from "../../src/reminders/update.ts";
import { startHarness } from "../support/harness.ts";
import {
  bookDaysAgo,
  customer,
  freshDatabase,
  postgresAvailable,
  reminderEnv,
  reminderProfileFile,
  reminderWhen,
} from "./support.ts";

const pgAvailable = await postgresAvailable();

async function diedBeforeTwilio(backend: "sqlite" | "postgres") {
  const file = await reminderProfileFile();
  const db = backend === "postgres" ? await freshDatabase() : undefined;
  const dir = await Deno.makeTempDir({ prefix: "reminder-takeover-" });
  const databaseUrl = db?.url ?? `sqlite:${dir}/agent.db`;
  try {
    const profile = parseBusinessProfile(file.profile);
    const [booking] = await bookDaysAgo(databaseUrl, profile, 1);
    // The instance that dies: it plans, claims with a 1.5 s lease, starts the attempt. Gone.
    const doomed = await openStore(databaseUrl, profile);
    const now = Date.now();
    await updated(
      doomed,
      booking.id,
      (r) => planned(r, 1, { kind: "due", channel: "call", dueMs: now - 1 }, now),
    );
    const [claimed] = await doomed.claimReminders({
      owner: "doomed",
      nowMs: now,
      leaseMs: 1500,
      limit: 5,
      callSlots: 5,
      callsPerMinute: 600,
    });
    assert.equal(claimed.booking.id, booking.id);
    assert.ok(await updated(doomed, booking.id, (r) => begun(r, "doomed", now, 1500)));
    await doomed.close();

    await using h = await startHarness({
      rest: true,
      env: { ...reminderEnv(file.path), DATABASE_URL: databaseUrl },
      overrides: { reminders: { tickMs: 100 } },
    });
    const r = await reminderWhen(h.app.store, booking.id, (x) => x.state === "no_answer");
    assert.equal(h.rest!.placed.length, 1, "dialled once");
    assert.equal(h.rest!.placed[0].to, customer(0));
    assert.ok(h.rest!.placed[0].createdMs >= now + 1500, "only after the lease ran out");
    assert.deepEqual(r.attempts.map((a) => [a.owner, a.result]), [
      ["doomed", "not_placed"],
      [r.attempts[1].owner, "no_answer"],
    ]);
    assert.ok(
      h.rest!.requests.some((q) => q.method === "GET" && q.path.includes("/Calls.json?")),
      "Twilio was asked first",
    );
  } finally {
    await db?.drop();
    await file.remove();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("reminders (sqlite): an instance died before Twilio took its call: dialled once after the lease", () =>
  diedBeforeTwilio("sqlite"));

Deno.test({
  name:
    "reminders (postgres): an instance died before Twilio took its call: dialled once after the lease",
  ignore: !pgAvailable,
  fn: () => diedBeforeTwilio("postgres"),
});
