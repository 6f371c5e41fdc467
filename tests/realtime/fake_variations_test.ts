/**
 * The fake's switches for the real server's legal variations, one focused test each: what
 * the switch makes the fake send, seen by a raw client. (The e2e calls run through each.)
 */
import assert from "node:assert/strict";
import {
  type FakeRealtime,
  type FakeRealtimeOptions,
  startFakeRealtime,
} from "../../scripts/sim/fake_realtime.ts";
import {
  appendAudio,
  responseCreate,
  sessionUpdate,
  systemText,
  userText,
} from "../../src/realtime/protocol.ts";
import { buildSessionConfig } from "../../src/realtime/session_config.ts";
import { type RawClient, rawClient, type Rec, turnFrames } from "./helpers.ts";

const SESSION = buildSessionConfig({
  model: "gpt-realtime-2.1",
  voice: "marin",
  audioFormat: "pcmu",
  instructions: "Be brief.",
  tools: [],
  vad: { type: "server_vad", threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500 },
});

async function withFake(
  opts: FakeRealtimeOptions,
  fn: (c: RawClient, fake: FakeRealtime) => Promise<void>,
): Promise<void> {
  const fake = await startFakeRealtime({ chunkIntervalMs: 5, ...opts });
  try {
    const c = await rawClient(`${fake.url}?model=gpt-realtime-2.1`, {
      Authorization: "Bearer test-key",
    });
    await c.next("session.created");
    c.send(sessionUpdate(SESSION));
    await c.next("session.updated");
    try {
      await fn(c, fake);
    } finally {
      await c.close();
    }
  } finally {
    await fake.close();
  }
}

const ofType = (c: RawClient, type: string) => c.events.filter((e) => e.type === type);
const responsesDone = (c: RawClient, fake: FakeRealtime, n: number) =>
  fake.waitFor(() => ofType(c, "response.done").length >= n, 3000, `${n} responses`);

Deno.test("variation omitFunctionCallName: arguments.done has no name, the output item has it", async () => {
  await withFake({
    omitFunctionCallName: true,
    responder: () => ({ functionCalls: [{ name: "get_slots", arguments: "{}" }] }),
  }, async (c, fake) => {
    c.send(responseCreate());
    await responsesDone(c, fake, 1);
    const args = ofType(c, "response.function_call_arguments.done")[0];
    assert.equal("name" in args, false);
    assert.equal(typeof args.call_id, "string");
    const item = ofType(c, "response.output_item.done")[0].item as Record<string, unknown>;
    assert.equal(item.name, "get_slots");
    assert.equal(item.call_id, args.call_id);
  });
});

Deno.test("variation raceResponseCreate: the server's own response wins, the create is refused", async () => {
  await withFake({ raceResponseCreate: true }, async (c, fake) => {
    c.send(responseCreate({ metadata: { request: "e1" } }, "e1"));
    await responsesDone(c, fake, 1);
    const created = ofType(c, "response.created")[0].response as Record<string, unknown>;
    assert.equal(created.metadata, null, "the server's own response, not ours");
    const err = ofType(c, "error")[0].error as Record<string, unknown>;
    assert.equal(err.code, "conversation_already_has_active_response");
    assert.equal(err.event_id, "e1");
    // Only the first create races: the retry is answered.
    c.send(responseCreate({ metadata: { request: "e2" } }, "e2"));
    await responsesDone(c, fake, 2);
    const second = ofType(c, "response.created")[1].response as Record<string, unknown>;
    assert.deepEqual(second.metadata, { request: "e2" });
  });
});

Deno.test("variation rejectResponseCreate: the first create is refused with a server error", async () => {
  await withFake({ rejectResponseCreate: true }, async (c, fake) => {
    c.send(responseCreate(undefined, "e1"));
    const err = (await c.next("error")).error as Record<string, unknown>;
    assert.equal(err.type, "server_error");
    assert.equal(err.event_id, "e1");
    assert.equal(ofType(c, "response.created").length, 0);
    c.send(responseCreate(undefined, "e2"));
    await responsesDone(c, fake, 1);
    assert.equal(fake.sessions[0].responses.length, 1);
  });
});

Deno.test("variation raceResponseCreate + rejectResponseCreate: the first races, the second is refused", async () => {
  await withFake({ raceResponseCreate: true, rejectResponseCreate: true }, async (c, fake) => {
    c.send(responseCreate(undefined, "e1"));
    await responsesDone(c, fake, 1);
    c.send(responseCreate(undefined, "e2"));
    await fake.waitFor(() => ofType(c, "error").length === 2, 3000, "two errors");
    c.send(responseCreate(undefined, "e3"));
    await responsesDone(c, fake, 2);
    assert.deepEqual(
      ofType(c, "error").map((e) => (e.error as Record<string, unknown>).event_id),
      ["e1", "e2"],
    );
    assert.deepEqual(fake.sessions[0].errors.map((e) => e.code), [
      "conversation_already_has_active_response",
      "server_error",
    ]);
  });
});

Deno.test("variation textOnlyAfterReinjection: the first reply after re-injected history has no audio", async () => {
  await withFake({
    textOnlyAfterReinjection: true,
    responder: () => ({ audioMs: 400, transcript: "We open at nine." }),
  }, async (c, fake) => {
    c.send(systemText("The conversation so far: Caller: when do you open?"));
    c.send(responseCreate());
    await responsesDone(c, fake, 1);
    assert.equal(ofType(c, "response.output_audio.delta").length, 0);
    assert.deepEqual(ofType(c, "response.output_text.delta").map((e) => e.delta), [
      "We open at nine.",
    ]);
    const done = ofType(c, "response.done")[0].response as {
      output_modalities: string[];
      output: { content: { type: string }[] }[];
    };
    assert.deepEqual(done.output_modalities, ["text"]);
    assert.deepEqual(done.output[0].content.map((p) => p.type), ["output_text"]);
    // Asked again, the model speaks.
    c.send(responseCreate());
    await responsesDone(c, fake, 2);
    assert.ok(ofType(c, "response.output_audio.delta").length > 0);
  });
  // Without history (a fresh call), the first reply has audio.
  await withFake({ textOnlyAfterReinjection: true }, async (c, fake) => {
    c.send(userText("Hello"));
    c.send(responseCreate());
    await responsesDone(c, fake, 1);
    assert.ok(ofType(c, "response.output_audio.delta").length > 0);
  });
});

Deno.test("variation lateTranscription: the caller's transcript arrives after the reply is done", async () => {
  await withFake({ lateTranscription: true, transcripts: ["Hi there"] }, async (c, fake) => {
    for (const f of turnFrames("pcmu")) c.send(appendAudio(f));
    await responsesDone(c, fake, 1);
    const completed = await c.next("conversation.item.input_audio_transcription.completed");
    const types = c.events.map((e) => e.type);
    assert.ok(types.indexOf(completed.type) > types.indexOf("response.done"), types.join(", "));
    assert.equal(completed.transcript, "Hi there");
  });
});

Deno.test("variation unknownEvents: an unknown event type and unknown fields on known events", async () => {
  await withFake({ unknownEvents: true }, async (c, fake) => {
    c.send(responseCreate());
    await responsesDone(c, fake, 1);
    const unknown = ofType(c, "response.future_feature.added");
    assert.equal(unknown.length, 1);
    const withField = (e: Rec) => "x_future_field" in e;
    assert.ok(c.events.every(withField), "every event has an unknown field");
    const item = ofType(c, "response.output_item.done")[0].item as Record<string, unknown>;
    assert.equal(item.x_future_field, true);
  });
});
