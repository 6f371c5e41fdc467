/**
 * When things go wrong the caller still gets a receptionist: the model connection drops
 * and comes back with the conversation; the model cannot be reached at all and the
 * caller hears an apology, then is transferred or the call ends.
 */
import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { mulawSilence } from "../../src/codec/tones.ts";
import { freePort } from "../support/process.ts";
import { speech, startHarness, waitUntil, within } from "../support/harness.ts";

async function metricValue(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const families = parsePrometheus(text) as { name: string; metrics: { value: string }[] }[];
  const family = families.find((f) => f.name === name);
  return family ? family.metrics.reduce((sum, m) => sum + Number(m.value), 0) : 0;
}

Deno.test("e2e: the model connection drops mid-call; the call continues with its context", async () => {
  const h = await startHarness({
    fake: {
      transcripts: ["Actually, wait, can you repeat that?"],
      responder: (ctx) =>
        ctx.trigger === "response.create"
          ? { audioMs: 1000, transcript: "Thanks for calling Maple and Main." }
          : { audioMs: 800, transcript: "Sure, this is Maple and Main." },
    },
  });
  try {
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
    assert.deepEqual(second.errors, []);
    assert.equal(await metricValue(h.app.baseUrl, "voice_model_reconnects_total"), 1);
  } finally {
    await h.close();
  }
});

Deno.test("e2e: model unreachable: apology within 3 s, then the call is hung up", async () => {
  const h = await startHarness({
    realtimeUrl: `ws://127.0.0.1:${await freePort()}/v1/realtime`,
  });
  try {
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
  } finally {
    await h.close();
  }
});

Deno.test("e2e: model unreachable with a transfer number: apology, then REST transfer", async () => {
  const h = await startHarness({
    rest: true,
    env: { TRANSFER_NUMBER: "+15557770000" },
    realtimeUrl: `ws://127.0.0.1:${await freePort()}/v1/realtime`,
  });
  try {
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
  } finally {
    await h.close();
  }
});
