/**
 * Two callers want the same slot at the same moment, at a business that can take only
 * one: one gets it, the other is offered alternatives, and the database holds one booking.
 */
import assert from "node:assert/strict";
import { DEFAULT_BUSINESS_FILE } from "../../src/booking/business.ts";
import { bookingResponder, TRANSCRIPTS } from "../../scripts/sim/receptionist.ts";
import { nextOpenDate, speech, startHarness, waitUntil, withSilence } from "../support/harness.ts";

Deno.test("e2e: two concurrent calls race for one slot; one books, the other gets alternatives", async () => {
  const profile = JSON.parse(await Deno.readTextFile(DEFAULT_BUSINESS_FILE));
  const file = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(file, JSON.stringify({ ...profile, capacity: 1 }));
  const h = await startHarness({
    env: { BUSINESS_FILE: file, VAD_SILENCE_MS: "900" },
    // Turns are counted per call: each caller asks, then answers.
    fake: { transcripts: TRANSCRIPTS },
  });
  try {
    h.fake.setResponder(bookingResponder(nextOpenDate(h.app.profile)));
    const callers = await Promise.all([
      h.dial({ from: "+15550001111", audio: withSilence(2500, speech("caller_book_haircut")) }),
      h.dial({ from: "+15550002222", audio: withSilence(2500, speech("caller_book_haircut")) }),
    ]);
    await waitUntil(
      () => callers.every((c) => c.agentAudioMsPlayed >= 2700),
      20_000,
      "both offers played",
    );
    for (const c of callers) c.sendAudio(withSilence(300, speech("caller_two_thirty")));
    await waitUntil(
      () =>
        h.fake.sessions.every((s) => s.items.some((i) => /booked|just taken/.test(i.text ?? ""))),
      20_000,
      "both answers",
    );
    await Promise.all(callers.map((c) => c.hangUp()));
    const records = await Promise.all(callers.map((c) => h.finalRecord(c.callSid)));
    const results = records.map((r) =>
      r.toolCalls.find((t) => t.name === "book_slot")!.result as {
        status: string;
        start?: string;
        alternatives?: { start: string }[];
      }
    );
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, ["confirmed", "unavailable"]);
    const loser = results.find((r) => r.status === "unavailable")!;
    assert.ok((loser.alternatives?.length ?? 0) > 0, "alternatives offered");
    const winner = results.find((r) => r.status === "confirmed")!;
    assert.ok(loser.alternatives!.every((a) => a.start !== winner.start));

    const booked = [
      ...await h.app.store.findByPhone("+15550001111"),
      ...await h.app.store.findByPhone("+15550002222"),
    ];
    assert.equal(booked.length, 1, "exactly one booking stored");
    assert.equal(booked[0].start, winner.start);
    assert.deepEqual(records.map((r) => r.outcome).sort(), ["booked", "caller_hung_up"]);
  } finally {
    await h.close();
    await Deno.remove(file);
  }
});
