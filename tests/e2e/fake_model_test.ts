/**
 * The fake model behind `scripts/fake_model.ts` and `deno task demo` books on any day of the
 * year and serves any number of calls at once, each from the start of its own script.
 */
import assert from "node:assert/strict";
import { isOpenOn } from "../../src/booking/availability.ts";
import type { TwilioCaller } from "../../src/sim/twilio_caller.ts";
import { fakeModelOptions } from "../../scripts/fake_model.ts";
import {
  bookingResponder,
  RECEPTIONIST_CALLER_LINES,
  TRANSCRIPTS,
} from "../../scripts/sim/receptionist.ts";
import { type Harness, speech, startHarness, waitUntil, withSilence } from "../support/harness.ts";

/** A clock standing still at `iso` (the business zone is New York). */
const at = (iso: string) => () => Temporal.Instant.from(iso);

/** True once the caller has played everything the agent sent (less what a clear dropped). */
function playedAll(c: TwilioCaller): boolean {
  const dropped = c.events.reduce((ms, e) => ms + (e.type === "clear" ? e.droppedMs : 0), 0);
  return c.agentAudioMsPlayed > 0 &&
    c.agentAudioMsPlayed >= c.receivedAudio().length / 8 - dropped - 1;
}

/** Says the request, waits until the offer was heard, accepts it; resolves with the booking. */
async function bookByVoice(h: Harness, caller: TwilioCaller, session: () => number) {
  await waitUntil(
    () =>
      h.fake.sessions[session()]?.items.some((i) => /Does that work\?/.test(i.text ?? "")) ??
        false,
    20_000,
    `the offer to ${caller.callSid}`,
  );
  await waitUntil(() => playedAll(caller), 15_000, "the offer played");
  caller.sendAudio(withSilence(300, speech("caller_two_thirty")));
  await waitUntil(
    () => h.fake.sessions[session()].items.some((i) => /booked/.test(i.text ?? "")) ?? false,
    20_000,
    `the confirmation to ${caller.callSid}`,
  );
  await caller.hangUp();
  return await h.finalRecord(caller.callSid);
}

Deno.test("fake model: on a Sunday (tomorrow closed) the booking script books the next open day instead of crashing", async () => {
  const sunday = "2026-11-29T10:00:00-05:00";
  await using h = await startHarness({
    env: { VAD_SILENCE_MS: "900" },
    fake: { transcripts: TRANSCRIPTS, responder: bookingResponder("tomorrow") },
    overrides: { clock: at(sunday) },
  });
  const caller = await h.dial({ audio: withSilence(1500, speech("caller_book_haircut")) });
  // "tomorrow" is Monday, closed: the offer comes from next_available.
  await waitUntil(
    () =>
      h.fake.sessions[0]?.items.some((i) =>
        i.type === "function_call_output" && /"closed":true/.test(i.output ?? "")
      ) ?? false,
    20_000,
    "get_slots on a closed day",
  );
  await waitUntil(() => playedAll(caller), 15_000, "the answer played");
  caller.sendAudio(withSilence(300, speech("caller_two_thirty")));
  await waitUntil(
    () => h.fake.sessions[0].items.some((i) => /booked|wrong/i.test(i.text ?? "")),
    20_000,
    "the booking answer",
  );
  await caller.hangUp();
  const record = await h.finalRecord(caller.callSid);
  assert.equal(record.outcome, "booked", JSON.stringify(record.toolCalls));
  const [booking] = await h.app.store.findByPhone("+15550001111");
  const day = Temporal.PlainDate.from(booking.start.slice(0, 10));
  assert.ok(isOpenOn(h.app.profile, day), `${booking.start} is on an open day`);
  assert.equal(day.toString(), "2026-12-01", "Tuesday: Sunday and Monday are closed");
});

Deno.test("fake model: two calls at once each follow the script from its start and both book (Saturday)", async () => {
  const saturday = "2026-11-28T15:00:00-05:00";
  await using h = await startHarness({
    env: { VAD_SILENCE_MS: "900" },
    fake: fakeModelOptions({ today: () => Temporal.PlainDate.from("2026-11-28") }),
    overrides: { clock: at(saturday) },
  });
  const numbers = ["+15550003333", "+15550004444"];
  const callers = await Promise.all(
    numbers.map((from) =>
      h.dial({ from, audio: withSilence(4500, speech("caller_book_haircut")) })
    ),
  );
  // The session of each call: the one whose instructions name its caller.
  const sessionOf = (from: string) => () =>
    h.fake.sessions.findIndex((s) => String(s.config.instructions).includes(from));
  const records = await Promise.all(
    callers.map((c, i) => bookByVoice(h, c, sessionOf(numbers[i]))),
  );
  for (const [i, record] of records.entries()) {
    const session = h.fake.sessions[sessionOf(numbers[i])()];
    const heard = session.items.filter((x) => x.role === "user").map((x) => x.text);
    assert.deepEqual(heard, RECEPTIONIST_CALLER_LINES.slice(0, 2), `call ${i + 1} heard`);
    assert.equal(record.outcome, "booked", JSON.stringify(record.toolCalls));
    const [booking] = await h.app.store.findByPhone(numbers[i]);
    assert.equal(booking.customerName, "Sam");
    assert.ok(booking.start.startsWith("2026-12-01"), booking.start);
  }
  assert.deepEqual(h.fake.sessions.flatMap((s) => s.errors), []);
});
