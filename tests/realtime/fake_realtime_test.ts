/**
 * Proves the fake Realtime server is strict and behaves like the documented service, so
 * the connection tests that use it mean something.
 */
import assert from "node:assert/strict";
import { type FakeRealtime, startFakeRealtime } from "../../scripts/sim/fake_realtime.ts";
import { buildSessionConfig } from "../../src/realtime/session_config.ts";
import {
  appendAudio,
  responseCancel,
  responseCreate,
  sessionUpdate,
  truncate,
} from "../../src/realtime/protocol.ts";
import { frames, type RawClient, rawClient, turnFrames } from "./helpers.ts";

const AUTH = { Authorization: "Bearer test-key" };

function config(format: "pcmu" | "pcm16", silenceDurationMs = 500) {
  return buildSessionConfig({
    model: "gpt-realtime",
    voice: "marin",
    audioFormat: format,
    instructions: "Be brief.",
    tools: [],
    vad: { type: "server_vad", threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs },
  });
}

/** A raw client with a configured session (`session.created`, `update`, `updated` done). */
async function configuredClient(
  fake: FakeRealtime,
  format: "pcmu" | "pcm16" = "pcmu",
  silenceDurationMs = 500,
): Promise<RawClient> {
  const c = await rawClient(`${fake.url}?model=gpt-realtime`, AUTH);
  await c.next("session.created");
  c.send(sessionUpdate(config(format, silenceDurationMs)));
  await c.next("session.updated");
  return c;
}

Deno.test("fake rejects the beta header with beta_api_shape_disabled and close 4000", async () => {
  const fake = await startFakeRealtime();
  try {
    const c = await rawClient(`${fake.url}?model=gpt-realtime`, {
      ...AUTH,
      "OpenAI-Beta": "realtime=v1",
    });
    const closed = await c.closed;
    assert.equal(closed.code, 4000);
    assert.equal(closed.reason, "invalid_request_error.beta_api_shape_disabled");
    const err = c.events[0].error as Record<string, unknown>;
    assert.equal(err.code, "beta_api_shape_disabled");
    assert.equal(fake.sessions.length, 0);
  } finally {
    await fake.close();
  }
});

Deno.test("fake rejects a wrong key and an unknown model", async () => {
  const fake = await startFakeRealtime();
  try {
    const badKey = await rawClient(`${fake.url}?model=gpt-realtime`, {
      Authorization: "Bearer nope",
    });
    const c1 = await badKey.closed;
    assert.equal(c1.reason, "invalid_request_error.invalid_api_key");
    const noAuth = await rawClient(`${fake.url}?model=gpt-realtime`, {});
    assert.equal((await noAuth.closed).reason, "invalid_request_error.invalid_api_key");
    const badModel = await rawClient(`${fake.url}?model=gpt-4o`, AUTH);
    assert.equal((await badModel.closed).reason, "invalid_request_error.model_not_found");
    const noModel = await rawClient(fake.url, AUTH);
    assert.equal((await noModel.closed).reason, "invalid_request_error.model_not_found");
    assert.deepEqual(fake.rejected.map((r) => r.code), [
      "invalid_api_key",
      "invalid_api_key",
      "model_not_found",
      "model_not_found",
    ]);
  } finally {
    await fake.close();
  }
});

Deno.test("fake rejects beta-shaped and malformed client events but keeps the session", async () => {
  const fake = await startFakeRealtime();
  try {
    const c = await rawClient(`${fake.url}?model=gpt-realtime`, AUTH);
    const created = await c.next("session.created");
    const session = created.session as Record<string, unknown>;
    assert.equal(typeof session.expires_at, "number");
    // Beta shape: flat input_audio_format, no session.type.
    c.send({ type: "session.update", session: { input_audio_format: "g711_ulaw" } });
    c.send({
      type: "session.update",
      session: { type: "realtime", input_audio_format: "g711_ulaw" },
    });
    c.send({ type: "input_audio_buffer.append", audio: "%%%not base64%%%" });
    c.send({
      type: "conversation.item.truncate",
      item_id: "x",
      content_index: 0,
      audio_end_ms: 1.5,
    });
    c.send({ type: "response.cancel" }); // nothing active
    c.send({ type: "made.up.event" });
    c.send("{not json");
    await fake.waitFor(() => fake.sessions[0].errors.length === 7, 2000, "7 errors");
    assert.deepEqual(fake.sessions[0].errors.map((e) => e.code), [
      "invalid_value",
      "unknown_parameter",
      "invalid_value",
      "invalid_value",
      "response_cancel_not_active",
      "invalid_value",
      "invalid_json",
    ]);
    // Still usable: the GA shape is accepted.
    c.send(sessionUpdate(config("pcmu")));
    const updated = await c.next("session.updated");
    const audio = (updated.session as { audio: { input: { format: unknown } } }).audio;
    assert.deepEqual(audio.input.format, { type: "audio/pcmu" });
    await c.close();
  } finally {
    await fake.close();
  }
});

for (const format of ["pcmu", "pcm16"] as const) {
  Deno.test(`fake VAD (${format}) reports audio_start_ms/audio_end_ms in audio time`, async () => {
    const fake = await startFakeRealtime({ transcripts: ["I need a haircut"] });
    try {
      const c = await configuredClient(fake, format);
      // 1000 ms silence, 800 ms tone, 1000 ms silence, sent all at once (a burst).
      for (const f of frames(format, [[1000, false], [800, true], [1000, false]])) {
        c.send(appendAudio(f));
      }
      const started = await c.next("input_audio_buffer.speech_started");
      const stopped = await c.next("input_audio_buffer.speech_stopped");
      assert.equal(started.audio_start_ms, 1000 - 300); // speech start minus prefix padding
      assert.equal(stopped.audio_end_ms, 1800 + 500); // speech end plus silence duration
      assert.equal(started.item_id, stopped.item_id);
      const transcript = await c.next("conversation.item.input_audio_transcription.completed");
      assert.equal(transcript.transcript, "I need a haircut");
      assert.equal(transcript.item_id, started.item_id);
      await c.next("response.done");
      assert.equal(fake.sessions[0].inputMs, 2800);
      await c.close();
    } finally {
      await fake.close();
    }
  });
}

Deno.test("fake enforces truncate bounds and one active response", async () => {
  const fake = await startFakeRealtime({
    responder: () => ({ audioMs: 1000, transcript: "We are open nine to five." }),
    chunkIntervalMs: 20,
  });
  try {
    const c = await configuredClient(fake);
    c.send(responseCreate());
    const created = await c.next("response.created");
    c.send(responseCreate()); // second while active
    const err = await c.next("error");
    assert.equal(
      (err.error as Record<string, unknown>).code,
      "conversation_already_has_active_response",
    );
    const done = await c.next("response.done");
    assert.equal(
      (done.response as Record<string, unknown>).id,
      (created.response as { id: string }).id,
    );
    assert.equal((done.response as Record<string, unknown>).status, "completed");
    const deltas = c.events.filter((e) => e.type === "response.output_audio.delta");
    assert.equal(deltas.length, 10); // 100 ms each
    const bytes = deltas.reduce((n, d) => n + Uint8Array.fromBase64(d.delta as string).length, 0);
    assert.equal(bytes, 8000); // 1000 ms of mu-law at 8 kHz
    const itemId = deltas[0].item_id as string;
    const before = c.events.length;
    c.send(truncate(itemId, 1200));
    const tooFar = await c.next("error", 2000, before);
    assert.match(
      String((tooFar.error as Record<string, unknown>).message),
      /1000ms is already shorter than 1200ms/,
    );
    c.send(truncate(itemId, 640));
    const truncated = await c.next("conversation.item.truncated");
    assert.equal(truncated.audio_end_ms, 640);
    await c.close();
  } finally {
    await fake.close();
  }
});

Deno.test("fake cancels the active response on barge-in and checks call ids", async () => {
  const fake = await startFakeRealtime({
    responder: () => ({ audioMs: 5000, transcript: "A long answer." }),
    chunkIntervalMs: 20,
  });
  try {
    const c = await configuredClient(fake);
    c.send(responseCreate());
    await c.next("response.output_audio.delta");
    for (const f of turnFrames("pcmu").slice(0, 40)) c.send(appendAudio(f)); // speech begins
    await c.next("input_audio_buffer.speech_started");
    const done = await c.next("response.done");
    const response = done.response as { status: string; status_details: { reason: string } };
    assert.equal(response.status, "cancelled");
    assert.equal(response.status_details.reason, "turn_detected");
    const before = c.events.length;
    c.send({
      type: "conversation.item.create",
      item: { type: "function_call_output", call_id: "call_missing", output: "{}" },
    });
    const err = await c.next("error", 2000, before);
    assert.match(String((err.error as Record<string, unknown>).message), /call_missing/);
    await c.close();
  } finally {
    await fake.close();
  }
});

Deno.test("fake closes a cancelled response like the real server: audio, transcript, part, item", async () => {
  const fake = await startFakeRealtime({
    responder: () => ({ audioMs: 5000, transcript: "A long answer with many words in it." }),
    chunkIntervalMs: 20,
  });
  try {
    const c = await configuredClient(fake);
    c.send(responseCreate());
    await c.next("response.output_audio_transcript.delta");
    c.send(responseCancel());
    const done = await c.next("response.done");
    assert.equal((done.response as { status: string }).status, "cancelled");
    const created = c.events.findIndex((e) => e.type === "response.created");
    const tail = c.events.slice(created).filter((e) =>
      !e.type.endsWith(".delta") && e.type !== "response.created"
    );
    assert.deepEqual(tail.map((e) => e.type), [
      "response.output_item.added",
      "conversation.item.added",
      "response.content_part.added",
      "response.output_audio.done",
      "response.output_audio_transcript.done",
      "response.content_part.done",
      "response.output_item.done",
      "conversation.item.done",
      "response.done",
    ]);
    // The transcript and item hold what was sent before the cancel, not the whole answer.
    const said = c.events.filter((e) => e.type === "response.output_audio_transcript.delta")
      .map((e) => e.delta).join("");
    const transcriptDone = c.events.find((e) =>
      e.type === "response.output_audio_transcript.done"
    )!;
    assert.equal(transcriptDone.transcript, said);
    assert.notEqual(said, "A long answer with many words in it.");
    const item = (c.events.find((e) => e.type === "response.output_item.done")!.item) as {
      status: string;
      content: { type: string; transcript: string }[];
    };
    assert.equal(item.status, "incomplete");
    assert.deepEqual(item.content, [{ type: "output_audio", transcript: said }]);
    await c.close();
  } finally {
    await fake.close();
  }
});

Deno.test("fake types assistant audio content output_audio and transcribes after the response started", async () => {
  const fake = await startFakeRealtime({ transcripts: ["Are you open on Sunday?"] });
  try {
    const c = await configuredClient(fake);
    for (const f of turnFrames("pcmu")) c.send(appendAudio(f));
    await c.next("response.done");
    await c.next("conversation.item.input_audio_transcription.completed");
    const types = c.events.map((e) => e.type);
    assert.ok(
      types.indexOf("conversation.item.input_audio_transcription.completed") >
        types.indexOf("response.created"),
      types.join(", "),
    );
    const item = c.events.find((e) => e.type === "response.output_item.done")!.item as {
      content: { type: string }[];
    };
    assert.deepEqual(item.content.map((p) => p.type), ["output_audio"]);
    const completed = c.events.find((e) =>
      e.type === "conversation.item.input_audio_transcription.completed"
    )!;
    assert.equal((completed.usage as { type: string }).type, "tokens");
    await c.close();
  } finally {
    await fake.close();
  }
});

Deno.test("fake refuses a truncate beyond the audio and a second response with the client's event_id", async () => {
  const fake = await startFakeRealtime({
    responder: () => ({ audioMs: 600, transcript: "Hello there." }),
    chunkIntervalMs: 20,
  });
  try {
    const c = await configuredClient(fake);
    c.send(responseCreate(undefined, "first"));
    const created = await c.next("response.created");
    c.send(responseCreate(undefined, "second"));
    const busy = (await c.next("error")).error as Record<string, unknown>;
    assert.deepEqual(busy, {
      type: "invalid_request_error",
      code: "conversation_already_has_active_response",
      message: `Conversation already has an active response in progress: ${
        (created.response as { id: string }).id
      }. Wait until the response is finished before creating a new one.`,
      param: null,
      event_id: "second",
    });
    await c.next("response.done");
    const itemId = c.events.find((e) => e.type === "response.output_audio.delta")!.item_id;
    const before = c.events.length;
    c.send(truncate(itemId as string, 601, "cut"));
    const tooFar = (await c.next("error", 2000, before)).error as Record<string, unknown>;
    assert.deepEqual(tooFar, {
      type: "invalid_request_error",
      code: "invalid_value",
      message: "Audio content of 600ms is already shorter than 601ms",
      param: "audio_end_ms",
      event_id: "cut",
    });
    // Nothing changed: the whole item can still be truncated to its length.
    c.send(truncate(itemId as string, 600));
    assert.equal((await c.next("conversation.item.truncated", 2000, before)).audio_end_ms, 600);
    await c.close();
  } finally {
    await fake.close();
  }
});
