/**
 * Reminder calls count against MAX_CALLS with incoming ones, and incoming callers always
 * keep the last line: with MAX_CALLS=2, one reminder rings at a time, an incoming caller
 * still gets through, and the next reminder waits until a line is free again.
 */
import assert from "node:assert/strict";
import { parseBusinessProfile } from "../../src/booking/business.ts";
import { mulawSilence } from "../../src/codec/tones.ts";
import { startHarness, waitUntil } from "../support/harness.ts";
import { bookDaysAgo, customer, reminderEnv, reminderProfileFile } from "./support.ts";

Deno.test("reminders: outbound calls hold a slot of MAX_CALLS; incoming callers keep the last one", async () => {
  const file = await reminderProfileFile();
  const dir = await Deno.makeTempDir({ prefix: "reminder-slots-" });
  const databaseUrl = `sqlite:${dir}/agent.db`;
  const [first, second] = await bookDaysAgo(databaseUrl, parseBusinessProfile(file.profile), 2);
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const h = await startHarness({
    rest: true,
    restOptions: { script: () => ({ answer: "no-answer", startAfter: released }) },
    env: { ...reminderEnv(file.path), DATABASE_URL: databaseUrl, MAX_CALLS: "2" },
    overrides: { reminders: { tickMs: 50 } },
  });
  try {
    const rest = h.rest!;
    await waitUntil(() => rest.placed.length >= 1, 10_000, "the first reminder call");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rest.placed.length, 1, "one line is kept for incoming calls");
    assert.equal(h.app.calls.load, 1, "the ringing call holds a slot");
    // An incoming caller still gets the other line.
    const caller = await h.dial({ audio: mulawSilence(200) });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(rest.placed.length, 1, "the second reminder waits: the last line is kept free");
    // The first reminder rings out; the line it held stays with the incoming caller.
    release();
    await waitUntil(
      async () => {
        const rs = await Promise.all([first, second].map((b) => h.app.store.getReminder(b.id)));
        return rs.some((r) => r?.state === "no_answer");
      },
      10_000,
      "the first reminder rang out",
    );
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(
      rest.placed.length,
      1,
      "still one: the incoming call uses one line, one is reserve",
    );
    await caller.hangUp();
    await waitUntil(
      () => rest.placed.length === 2,
      10_000,
      "the second reminder once a line is free",
    );
    assert.deepEqual(new Set(rest.placed.map((c) => c.to)), new Set([customer(0), customer(1)]));
  } finally {
    release();
    await h.close();
    await file.remove();
    await Deno.remove(dir, { recursive: true });
  }
});
