/**
 * Barge-in as a caller experiences it: the agent is mid-sentence, the caller talks over
 * it, the agent goes quiet at once, and the model is told exactly how much was heard.
 */
import assert from "node:assert/strict";
import { speech, startHarness, waitUntil, withSilence } from "../support/harness.ts";

Deno.test("e2e: barge-in clears at once and truncates to what the caller actually heard", async () => {
  const h = await startHarness({
    // Twice real time: the caller has a buffer to clear and the model is still talking.
    fake: {
      transcripts: ["Actually, wait, can you repeat that?"],
      chunkMs: 100,
      chunkIntervalMs: 50,
      responder: (ctx) =>
        ctx.trigger === "response.create"
          ? {
            audioMs: 8000,
            transcript: "Thanks for calling Maple and Main. We have lots of services and " +
              "our opening hours are Tuesday to Saturday, and there is much more to say.",
          }
          : { audioMs: 1000, transcript: "Of course. How can I help?" },
    },
  });
  try {
    const caller = await h.dial({ audio: withSilence(2000, speech("caller_repeat_that")) });
    await waitUntil(() => caller.events.some((e) => e.type === "clear"), 15_000, "the clear");
    await waitUntil(
      () => h.fake.sessions[0].items.some((i) => i.text === "Of course. How can I help?"),
      15_000,
      "the answer",
    );
    const clear = caller.events.find((e) => e.type === "clear")!;
    assert.equal(clear.type, "clear");
    // Audio of the interrupted response that was already in flight arrives late: the
    // service must not play it.
    const interrupted = h.fake.sessions[0].responses[0];
    const late = new Uint8Array(1600).fill(0x10).toBase64(); // 200 ms, loud
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

    // One truncate, integer ms, within 60 ms of what the caller played, valid for the model.
    const truncates = session.clientEvents.filter((e) => e.type === "conversation.item.truncate");
    assert.equal(truncates.length, 1, JSON.stringify(truncates));
    const audioEndMs = truncates[0].audio_end_ms as number;
    assert.ok(Number.isInteger(audioEndMs));
    assert.ok(
      Math.abs(audioEndMs - clear.playedMsAtClear) <= 60,
      `truncated at ${audioEndMs} ms, caller heard ${clear.playedMsAtClear.toFixed(1)} ms`,
    );
    const greeting = session.items.find((i) => i.role === "assistant")!;
    assert.equal(greeting.truncatedMs, audioEndMs);
    assert.deepEqual(session.errors, [], "the model accepted every event");

    // No late audio: after the clear the caller got only the new answer (1000 ms).
    const beforeClear = clear.playedMsAtClear + clear.droppedMs;
    assert.equal(Math.round(result.agentAudioMsReceived - beforeClear), 1000);

    // The call record marks the interruption.
    const record = await h.finalRecord(caller.callSid);
    assert.equal(record.bargeIns.length, 1);
    assert.ok((record.extra?.droppedLateDeltas as number) >= 3, "the late deltas were dropped");
    assert.equal(record.bargeIns[0].heardMs, audioEndMs);
    const agentLine = record.transcript.find((t) => t.role === "agent" && t.interrupted);
    assert.ok(agentLine, JSON.stringify(record.transcript));
    assert.ok(agentLine.text.length < 130, "only the heard part is kept");
    assert.ok(agentLine.text.startsWith("Thanks for calling"), agentLine.text);
    const reaction = record.latency.bargeInReactionMs as number[];
    assert.equal(reaction.length, 1);
    assert.ok(reaction[0] < 5, `barge-in reaction ${reaction[0]} ms`);
  } finally {
    await h.close();
  }
});
