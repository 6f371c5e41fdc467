/**
 * Barge-in as a caller experiences it: the agent is mid-sentence, the caller talks over
 * it, the agent goes quiet at once, and the model is told exactly how much was heard.
 * Once on a perfect line in pcmu, once in pcm16 over a phone-like network (60 ms each way
 * and a 40 ms jitter buffer), where the playout estimate has to do real work. The perfect
 * line also runs through each of the fake model's variation switches, and both lines with
 * all of them at once.
 */
import assert from "node:assert/strict";
import type { NetworkOptions, TwilioCaller } from "../../src/sim/twilio_caller.ts";
import { referenceDecode } from "../../scripts/sim/g711.ts";
import {
  FAKE_VARIATIONS,
  type FakeVariation,
  variationOptions,
} from "../../scripts/sim/fake_realtime.ts";
import { speech, startHarness, waitUntil, withSilence } from "../support/harness.ts";
import { injectedErrors } from "../support/variations.ts";

const LEAD_IN_MS = 2000;
/** The fake model's VAD: a 20 ms frame is speech at RMS >= 500; 2 such frames start a turn. */
const VAD_RMS = 500;
const VAD_FRAMES = 2;

/** Index of the caller frame whose arrival makes the fake model's VAD call it speech. */
function vadTriggerFrame(audio: Uint8Array): number {
  const pcm = referenceDecode(audio);
  let run = 0;
  for (let f = 0; (f + 1) * 160 <= pcm.length; f++) {
    let sum = 0;
    for (let i = f * 160; i < (f + 1) * 160; i++) sum += pcm[i] * pcm[i];
    run = Math.sqrt(sum / 160) >= VAD_RMS ? run + 1 : 0;
    if (run === VAD_FRAMES) return f;
  }
  throw new Error("no speech in the caller audio");
}

interface Line {
  format: "pcmu" | "pcm16";
  network?: NetworkOptions;
  variation?: FakeVariation | "all";
}

function bargeInTest({ format, network, variation }: Line) {
  const where =
    (network
      ? `${format}, ${network.downMs} ms each way, ${network.jitterBufferMs} ms jitter buffer`
      : `${format}, perfect line`) + (variation ? `, fake variation: ${variation}` : "");
  Deno.test(`e2e (${where}): barge-in clears at once and truncates to what the caller heard`, async () => {
    await using h = await startHarness({
      env: { AUDIO_FORMAT: format },
      // Twice real time: the caller has a buffer to clear and the model is still talking.
      fake: {
        transcripts: ["Actually, wait, can you repeat that?"],
        chunkMs: 100,
        chunkIntervalMs: 50,
        ...variationOptions(variation ?? "none"),
        // The long greeting before the caller said anything (asked for, or the model's own
        // VAD response racing the request), a short answer after.
        responder: (ctx) =>
          ctx.lastUserText === undefined
            ? {
              audioMs: 8000,
              transcript: "Thanks for calling Maple and Main. We have lots of services and " +
                "our opening hours are Tuesday to Saturday, and there is much more to say.",
            }
            : { audioMs: 1000, transcript: "Of course. How can I help?" },
      },
    });
    const audio = withSilence(LEAD_IN_MS, speech("caller_repeat_that"));
    const caller: TwilioCaller = await h.dial({ audio, network });
    await waitUntil(() => caller.events.some((e) => e.type === "clear"), 15_000, "the clear");
    await waitUntil(
      () => h.fake.sessions[0].items.some((i) => i.text === "Of course. How can I help?"),
      15_000,
      "the answer",
    );
    const clear = caller.events.find((e) => e.type === "clear")!;
    assert.equal(clear.type, "clear");

    // Reaction as the caller lives it: from sending the frame that made the model hear
    // speech to the clear reaching the phone. Two network legs, nothing else to wait for.
    const trigger = caller.frameSentAtMs(vadTriggerFrame(audio))!;
    const reactionMs = clear.atMs - trigger;
    const legs = (network?.upMs ?? 0) + (network?.downMs ?? 0);
    assert.ok(reactionMs >= legs, `clear ${reactionMs} ms after the speech: faster than light`);
    assert.ok(reactionMs < legs + 150, `clear only ${reactionMs} ms after the caller spoke`);

    // Audio of the interrupted response that was already in flight arrives late: the
    // service must not play it.
    const interrupted = h.fake.sessions[0].responses[0];
    const late = new Uint8Array(1600).fill(0x10).toBase64(); // loud in either format
    for (let i = 0; i < 3; i++) {
      h.fake.inject(
        0,
        JSON.stringify({
          type: "response.output_audio.delta",
          event_id: `event_late_${i}`,
          response_id: interrupted.id,
          item_id: interrupted.itemId,
          output_index: 0,
          content_index: 0,
          delta: late,
        }),
      );
    }
    await waitUntil(
      () => caller.agentAudioMsPlayed >= clear.playedMsAtClear + 1000,
      10_000,
      "the answer played",
    );
    const result = await caller.hangUp();
    const session = h.fake.sessions[0];

    // Exactly one clear, while the agent was audibly mid-sentence.
    assert.equal(result.events.filter((e) => e.type === "clear").length, 1);
    assert.ok(
      clear.playedMsAtClear > 1000 && clear.playedMsAtClear < 7000,
      `${clear.playedMsAtClear}`,
    );
    assert.ok(clear.droppedMs > 0, "there was unplayed audio to clear");

    // One truncate, integer ms, valid for the model, close to what the caller had heard
    // when the service acted (the clear then travels to the phone; that part is heard
    // too but the service cannot know it). On a delayed line the estimate is the midpoint
    // of "last echo, walked forward" (late by the uplink) and "send schedule" (early by
    // downlink + jitter): jitter/2 ahead of the truth; either estimate alone misses
    // by 80 ms or more here (measured with each one alone).
    const truncates = session.clientEvents.filter((e) => e.type === "conversation.item.truncate");
    assert.equal(truncates.length, 1, JSON.stringify(truncates));
    const audioEndMs = truncates[0].audio_end_ms as number;
    assert.ok(Number.isInteger(audioEndMs));
    const expected = clear.playedMsWhenSent + (network?.jitterBufferMs ?? 0) / 2;
    assert.ok(
      Math.abs(audioEndMs - expected) <= 50,
      `truncated at ${audioEndMs} ms; the caller had heard ${
        clear.playedMsWhenSent.toFixed(1)
      } ms when the service acted (${clear.playedMsAtClear.toFixed(1)} ms when it stopped)`,
    );
    const greeting = session.items.find((i) => i.role === "assistant")!;
    assert.equal(greeting.truncatedMs, audioEndMs);
    assert.deepEqual(
      session.errors.map((e) => e.code),
      injectedErrors(variation ?? "none", session),
      "the model accepted every event (but those a switch refused)",
    );

    // No late audio: after the clear the caller got only the new answer (1000 ms; in
    // pcm16 within one frame, the resampler's tail).
    const beforeClear = clear.playedMsAtClear + clear.droppedMs;
    const after = result.agentAudioMsReceived - beforeClear;
    assert.ok(Math.abs(after - 1000) <= (format === "pcm16" ? 20 : 0), `${after} ms after`);

    // The call record marks the interruption.
    const record = await h.finalRecord(caller.callSid);
    assert.equal(record.bargeIns.length, 1);
    assert.ok((record.extra?.droppedLateDeltas as number) >= 3, "the late deltas were dropped");
    assert.equal(record.bargeIns[0].heardMs, audioEndMs);
    const agentLine = record.transcript.find((t) => t.role === "agent" && t.interrupted);
    assert.ok(agentLine, JSON.stringify(record.transcript));
    assert.ok(agentLine.text.length < 130, "only the heard part is kept");
    assert.ok(agentLine.text.startsWith("Thanks for calling"), agentLine.text);
    assert.deepEqual(result.events.filter((e) => e.type === "violation"), []);
  });
}

const PHONE_LINE = { downMs: 60, upMs: 60, jitterBufferMs: 40 };
bargeInTest({ format: "pcmu" });
bargeInTest({ format: "pcm16", network: PHONE_LINE });
bargeInTest({ format: "pcmu", variation: "all" });
bargeInTest({ format: "pcm16", network: PHONE_LINE, variation: "all" });
for (const variation of FAKE_VARIATIONS) bargeInTest({ format: "pcmu", variation });
