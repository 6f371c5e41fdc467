/**
 * The whole product on one call: the fake Twilio caller speaks real speech (espeak-ng
 * fixtures) in real time, the fake Realtime model asks for slots and books, and the
 * booking lands in the real database. Runs in both AUDIO_FORMAT modes, and through each of
 * the fake model's switches for the real server's legal variations and all of them at once.
 */
import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { postSignedForm } from "../../src/sim/twilio_caller.ts";
import { bookingResponder, TRANSCRIPTS } from "../../scripts/sim/receptionist.ts";
import {
  FAKE_VARIATIONS,
  type FakeVariation,
  variationOptions,
} from "../../scripts/sim/fake_realtime.ts";
import {
  ACCOUNT_SID,
  nextOpenDate,
  speech,
  startHarness,
  waitUntil,
  withSilence,
} from "../support/harness.ts";
import { injectedErrors } from "../support/variations.ts";

function bookingCall(format: "pcmu" | "pcm16", variation: FakeVariation | "all" | "none") {
  const name = variation === "none" ? format : `${format}, fake variation: ${variation}`;
  Deno.test(`e2e (${name}): a caller books a slot by voice; booking and call record are stored`, async () => {
    await using h = await startHarness({
      // The fixture pauses between sentences; a patient VAD keeps it one turn.
      env: { AUDIO_FORMAT: format, VAD_SILENCE_MS: "900", SMS_FROM: "+15553334444" },
      rest: true,
      fake: { transcripts: TRANSCRIPTS, ...variationOptions(variation) },
    });
    const date = nextOpenDate(h.app.profile);
    h.fake.setResponder(bookingResponder(date));
    const caller = await h.dial({
      audio: withSilence(2500, speech("caller_book_haircut")),
    });
    // Wait for the slot offer to have been played to the caller, then answer it.
    await waitUntil(
      () => h.fake.sessions[0]?.items.some((i) => i.text?.startsWith("I have")) ?? false,
      20_000,
      "the slot offer",
    );
    await waitUntil(() => caller.agentAudioMsPlayed >= 2700, 10_000, "the offer played");
    caller.sendAudio(withSilence(300, speech("caller_two_thirty")));
    let bookings = await h.app.store.findByPhone("+15550001111");
    await waitUntil(
      async () => {
        bookings = await h.app.store.findByPhone("+15550001111");
        return bookings.length > 0;
      },
      20_000,
      "the booking",
    );
    await waitUntil(
      () => h.fake.sessions[0].items.some((i) => i.text?.startsWith("You're booked")),
      10_000,
      "the confirmation",
    );
    await waitUntil(() => caller.agentAudioMsPlayed >= 3600, 10_000, "audio played");
    const result = await caller.hangUp();

    // The booking is in the database.
    assert.equal(bookings.length, 1);
    const [booking] = bookings;
    assert.equal(booking.status, "confirmed");
    assert.equal(booking.serviceId, "mens-cut");
    assert.equal(booking.customerName, "Sam Rivera");
    assert.equal(booking.customerPhone, "+15550001111");
    assert.equal(booking.callSid, caller.callSid);
    assert.ok(booking.start.startsWith(date), `${booking.start} on ${date}`);

    // The caller heard the agent: greeting + offer + confirmation, frame-aligned.
    assert.ok(result.agentAudioMsReceived >= 3600, `${result.agentAudioMsReceived} ms`);
    assert.equal(result.agentAudioMsReceived % 20, 0, "whole 20 ms frames");
    assert.deepEqual(result.events.filter((e) => e.type === "violation"), []);

    // The model saw no protocol error (only those a switch made it send) and got the
    // caller's audio in its format.
    const session = h.fake.sessions[0];
    assert.deepEqual(session.errors.map((e) => e.code), injectedErrors(variation, session));
    const fmt = (session.config.audio as { input: { format: { type: string } } }).input.format;
    assert.equal(fmt.type, format === "pcmu" ? "audio/pcmu" : "audio/pcm");
    assert.ok(session.inputMs > 8000, `model received ${session.inputMs} ms of caller audio`);

    // The call record holds transcript, tools and latency.
    const record = await h.finalRecord(caller.callSid);
    assert.equal(record.outcome, "booked");
    assert.equal(record.from, "+15550001111");
    const said = record.transcript.map((t) => `${t.role}: ${t.text}`).join("\n");
    assert.match(said, /caller: Hi, I'd like to book a haircut/);
    assert.match(said, /agent: I have .* Does that work\?/);
    assert.match(said, /caller: Two thirty works/);
    assert.match(said, /agent: You're booked/);
    assert.deepEqual(record.toolCalls.map((t) => t.name), ["get_slots", "book_slot"]);
    assert.equal(
      (record.toolCalls[1].result as { status: string }).status,
      "confirmed",
    );
    assert.ok((record.latency.turnMs?.length ?? 0) >= 2, JSON.stringify(record.latency));

    // A confirmation SMS went to the caller through the Twilio REST API.
    const sms = h.rest!.requests.filter((r) => r.path.endsWith("/Messages.json"));
    assert.equal(sms.length, 1);
    assert.equal(sms[0].form.To, "+15550001111");
    assert.equal(sms[0].form.From, "+15553334444");
    assert.match(sms[0].form.Body, new RegExp(`Reference ${booking.id}`));
    assert.ok(sms[0].form.Body.includes(booking.label));

    // Twilio's final status callback is added to the record.
    const status = await postSignedForm(h.target, "/twilio/status", {
      CallSid: caller.callSid,
      AccountSid: ACCOUNT_SID,
      CallStatus: "completed",
      CallDuration: "14",
      From: "+15550001111",
      To: "+15559990000",
    });
    assert.equal(status.status, 204);
    const updated = await h.recordWhen(
      caller.callSid,
      (r) => r.extra?.twilioStatus !== undefined,
    );
    assert.deepEqual(updated.extra?.twilioStatus, {
      status: "completed",
      duration: 14,
      from: "+15550001111",
      to: "+15559990000",
    });
    assert.equal(updated.outcome, "booked");

    // The metrics moved, in valid Prometheus text format.
    const metrics = await (await fetch(`${h.app.baseUrl}/metrics`)).text();
    const families = parsePrometheus(metrics) as {
      name: string;
      metrics: { value?: string; count?: string; labels?: Record<string, string> }[];
    }[];
    const value = (name: string, labels: Record<string, string> = {}) =>
      families.find((f) => f.name === name)?.metrics.filter((m) =>
        Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
      ).reduce((sum, m) => sum + Number(m.value ?? m.count), 0) ?? 0;
    assert.equal(value("voice_calls_total", { outcome: "booked" }), 1);
    assert.equal(value("voice_active_calls"), 0);
    assert.equal(value("voice_tool_calls_total", { tool: "get_slots", result: "ok" }), 1);
    assert.equal(value("voice_tool_calls_total", { tool: "book_slot", result: "ok" }), 1);
    assert.equal(value("voice_bookings_total", { result: "confirmed" }), 1);
    assert.ok(value("voice_frames_relayed_total", { direction: "to_model" }) > 400);
    assert.ok(value("voice_frames_relayed_total", { direction: "to_caller" }) >= 180);
    assert.ok(value("voice_turn_latency_seconds") >= 2, "turn latency histogram count");
    assert.equal(value("voice_webhooks_total", { route: "voice", result: "accepted" }), 1);
    assert.ok(value("voice_process_resident_memory_bytes") > 0);
  });
}

for (const format of ["pcmu", "pcm16"] as const) {
  bookingCall(format, "none");
  bookingCall(format, "all");
}
for (const variation of FAKE_VARIATIONS) bookingCall("pcmu", variation);
