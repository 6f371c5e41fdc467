/**
 * When things go wrong the caller still gets a receptionist: the model connection drops
 * and comes back with the conversation; the model cannot be reached at all, or fails for
 * good mid-call, and the caller hears the prepared apology, then is transferred or the
 * call ends.
 */
import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { mulawSilence } from "../../src/codec/tones.ts";
import { freePort } from "../support/process.ts";
import { silence, speech, startHarness, waitUntil, within } from "../support/harness.ts";
import { indexOfBytes, readWav } from "../../scripts/sim/reference_audio.ts";
import { type FakeVariation, variationOptions } from "../../scripts/sim/fake_realtime.ts";
import { injectedErrors } from "../support/variations.ts";

async function metricValue(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const families = parsePrometheus(text) as { name: string; metrics: { value: string }[] }[];
  const family = families.find((f) => f.name === name);
  return family ? family.metrics.reduce((sum, m) => sum + Number(m.value), 0) : 0;
}

/**
 * Also run with the fake answering in text only after re-injected history (and with every
 * variation switch on): the call must still get a spoken answer.
 */
function dropMidCall(variation: FakeVariation | "all" | "none") {
  const name = variation === "none" ? "" : ` (fake variation: ${variation})`;
  Deno.test(`e2e: the model connection drops mid-call; the call continues with its context${name}`, async () => {
    await using h = await startHarness({
      fake: {
        transcripts: ["Actually, wait, can you repeat that?"],
        ...variationOptions(variation),
        // Before the caller said anything: the greeting (asked for, or the model's own).
        responder: (ctx) =>
          ctx.lastUserText === undefined
            ? { audioMs: 1000, transcript: "Thanks for calling Maple and Main." }
            : { audioMs: 800, transcript: "Sure, this is Maple and Main." },
      },
    });
    const caller = await h.dial({ audio: mulawSilence(500) });
    await waitUntil(() => caller.agentAudioMsPlayed >= 1000, 10_000, "greeting played");
    h.fake.dropConnection();
    await waitUntil(() => h.fake.sessions.length === 2, 10_000, "a second session");
    const second = h.fake.sessions[1];
    await waitUntil(
      () => second.clientEvents.some((e) => e.type === "session.update"),
      10_000,
      "reconfigured",
    );
    // The new session was told what was said before.
    await waitUntil(
      () =>
        second.clientEvents.some((e) =>
          e.type === "conversation.item.create" &&
          JSON.stringify(e).includes("Thanks for calling Maple and Main.")
        ),
      5000,
      "context re-injected",
    );
    caller.sendAudio(speech("caller_repeat_that"));
    await waitUntil(
      () => second.items.some((i) => i.text === "Sure, this is Maple and Main."),
      15_000,
      "an answer from the new session",
    );
    await waitUntil(() => caller.agentAudioMsPlayed >= 1800, 10_000, "answer played");
    const result = await caller.hangUp();
    assert.ok(result.agentAudioMsReceived >= 1800);
    if (variation !== "none") {
      // The model did answer in text only; the call asked again and got it spoken.
      assert.ok(second.serverEvents.includes("response.output_text.delta"), "a text-only reply");
    }
    assert.deepEqual(second.errors.map((e) => e.code), injectedErrors(variation, second));
    assert.equal(await metricValue(h.app.baseUrl, "voice_model_reconnects_total"), 1);
  });
}

dropMidCall("none");
dropMidCall("textOnlyAfterReinjection");
dropMidCall("all");

Deno.test("e2e: model unreachable: apology within 3 s, then the call is hung up", async () => {
  await using h = await startHarness({
    realtimeUrl: `ws://127.0.0.1:${await freePort()}/v1/realtime`,
  });
  const started = performance.now();
  const caller = await h.dial({ audio: mulawSilence(500) });
  await waitUntil(() => caller.mediaMessagesReceived > 0, 5000, "apology audio");
  const firstAudioMs = performance.now() - started;
  assert.ok(firstAudioMs < 3000, `apology after ${firstAudioMs.toFixed(0)} ms`);
  const result = await within(caller.done, 20_000, "the service to end the call");
  assert.equal(result.closedBy, "server", "the service ended the call");
  // The whole prepared apology (about 7 s) was played before hanging up.
  assert.ok(result.agentAudioMsPlayed > 6000, `${result.agentAudioMsPlayed} ms played`);
  const record = await h.finalRecord(caller.callSid);
  assert.equal(record.outcome, "model_unavailable");
});

Deno.test("e2e: model unreachable with a transfer number: apology, then REST transfer", async () => {
  await using h = await startHarness({
    rest: true,
    env: { TRANSFER_NUMBER: "+15557770000" },
    realtimeUrl: `ws://127.0.0.1:${await freePort()}/v1/realtime`,
  });
  const caller = await h.dial({ audio: mulawSilence(500) });
  await waitUntil(() => caller.mediaMessagesReceived > 0, 3000, "apology audio");
  await waitUntil(
    () => h.rest!.requests.some((r) => r.form.Twiml?.includes("+15557770000")),
    15_000,
    "the transfer request",
  );
  const transfer = h.rest!.requests.find((r) => r.form.Twiml)!;
  assert.match(transfer.path, new RegExp(`/Calls/${caller.callSid}\\.json$`));
  assert.match(transfer.form.Twiml, /<Dial>\+15557770000<\/Dial>/);
  assert.ok(caller.agentAudioMsPlayed > 4500, "the apology played before the transfer");
  // Twilio now ends the media stream with `stop`; that is a transfer, not a hang-up.
  await caller.hangUp();
  assert.equal((await h.finalRecord(caller.callSid)).outcome, "transferred");
  assert.equal(h.rest!.requests.filter((r) => r.form.Status === "completed").length, 0);
});

Deno.test("e2e: a caller who hangs up while the model session is still opening is let go at once", async () => {
  await using h = await startHarness({
    rest: true,
    fake: { sessionCreatedDelayMs: 1500 },
    overrides: { callManager: { limits: { idleCheckinMs: 1000, idleHangupMs: 2000 } } },
  });
  const caller = await h.dial({ audio: mulawSilence(100) });
  // The stream is accepted (its token checked) while the model is still opening (1.5 s).
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(h.fake.sessions.length, 1, "the pre-warmed session is still opening");
  await caller.hangUp();
  h.rest!.calls.set(caller.callSid, "completed"); // Twilio: the call is over
  const record = await h.finalRecord(caller.callSid);
  assert.equal(record.outcome, "caller_hung_up");
  await waitUntil(() => h.app.calls.activeCount === 0, 5000, "the call's slot to be freed");
  assert.equal(
    h.rest!.requests.length,
    0,
    "no greeting, no idle hang-up: nothing is done for a caller who is gone",
  );
});

Deno.test("e2e: the model fails for good mid-sentence: the caller hears the prepared apology, then the transfer", async () => {
  await using h = await startHarness({
    rest: true,
    env: { TRANSFER_NUMBER: "+15557770000" },
    fake: {
      chunkMs: 100,
      chunkIntervalMs: 100, // real time: the greeting is still being said when the model fails
      responder: () => ({ audioMs: 3000, transcript: "Thanks for calling Maple and Main." }),
    },
  });
  const apologyWav = readWav(
    await Deno.readFile(new URL("../../assets/apology_transfer.wav", import.meta.url)),
  );
  assert.equal(apologyWav.tag, 7, "the prepared apology is a mu-law WAV");
  const caller = await h.dial({ audio: silence(500) });
  await waitUntil(() => caller.agentAudioMsPlayed >= 500, 5000, "the greeting playing");
  // The account runs out of quota: a fatal error, no reconnect can help.
  h.fake.inject(
    0,
    JSON.stringify({
      type: "error",
      event_id: "event_quota",
      error: {
        type: "insufficient_quota",
        code: "insufficient_quota",
        message: "You exceeded your current quota.",
        param: null,
        event_id: null,
      },
    }),
  );
  await waitUntil(
    () => h.rest!.requests.some((r) => r.form.Twiml?.includes("+15557770000")),
    20_000,
    "the transfer after the apology",
  );
  const heard = caller.heardAudio();
  const at = indexOfBytes(heard, apologyWav.data);
  assert.ok(at >= 0, "the caller heard the whole prepared apology, byte for byte");
  assert.ok(at < 3000 * 8, "the greeting was cut short for it");
  assert.equal(h.fake.sessions.length, 1, "no reconnect after a fatal error");
  await caller.hangUp();
  const record = await h.finalRecord(caller.callSid);
  assert.equal(record.outcome, "transferred");
});
