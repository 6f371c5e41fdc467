/**
 * RealtimeConnection against the fake server: configuration, events, reconnect with
 * context re-injection and audio buffering, give-up and fatal paths, expiry rollover.
 */
import assert from "node:assert/strict";
import { type FakeRealtime, startFakeRealtime } from "../../scripts/sim/fake_realtime.ts";
import {
  backoffDelay,
  type ConnectionState,
  RealtimeConnectError,
  RealtimeConnection,
  type RealtimeConnectionOptions,
} from "../../src/realtime/connection.ts";
import type { ServerEvent } from "../../src/realtime/protocol.ts";
import { buildSessionConfig } from "../../src/realtime/session_config.ts";
import { summaryRequestEvent } from "../../src/after_call/summary_request.ts";
import { delay, frames, turnFrames } from "./helpers.ts";

const sessionConfig = buildSessionConfig({
  model: "gpt-realtime",
  voice: "marin",
  audioFormat: "pcmu",
  instructions: "You are the receptionist.",
  tools: [{
    type: "function",
    name: "get_slots",
    description: "Free slots on a day",
    parameters: { type: "object", properties: { day: { type: "string" } }, required: ["day"] },
  }],
  vad: { type: "server_vad", threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500 },
});

function makeConn(fake: FakeRealtime, extra: Partial<RealtimeConnectionOptions> = {}) {
  return new RealtimeConnection({
    url: fake.url,
    model: "gpt-realtime",
    apiKey: "test-key",
    sessionConfig,
    backoff: { initialMs: 20, maxMs: 200, maxAttempts: 5, maxTotalMs: 3000 },
    ...extra,
  });
}

/** Waits until the fake saw every session closed (so no socket outlives the test). */
async function closeAll(fake: FakeRealtime, ...conns: RealtimeConnection[]) {
  for (const c of conns) c.close();
  await fake.waitFor(() => fake.sessions.every((s) => s.closed), 2000, "sessions closed");
  await fake.close();
}

function sendTurn(conn: RealtimeConnection, speechMs = 600) {
  for (const f of turnFrames("pcmu", speechMs)) conn.appendAudio(f);
}

const clientTypes = (fake: FakeRealtime, i: number) =>
  fake.sessions[i].clientEvents.map((e) => e.type as string);

Deno.test("connect: GA URL, auth, session.update; states observable; events parsed", async () => {
  const fake = await startFakeRealtime({
    transcripts: ["Do you have time on Friday?"],
    responder: () => ({ audioMs: 300, transcript: "Yes, at ten." }),
  });
  const conn = makeConn(fake);
  const states: ConnectionState[] = [];
  conn.on("state", (s) => states.push(s));
  const events: ServerEvent[] = [];
  conn.on("event", (e) => events.push(e));
  try {
    await conn.connect();
    assert.equal(conn.state, "open");
    const s = fake.sessions[0];
    assert.equal(new URL(s.url).searchParams.get("model"), "gpt-realtime");
    assert.equal(s.headers.get("authorization"), "Bearer test-key");
    assert.equal(s.headers.has("openai-beta"), false);
    assert.deepEqual(s.clientEvents[0], { type: "session.update", session: sessionConfig });
    assert.equal(s.errors.length, 0);

    sendTurn(conn);
    await fake.waitFor(() => events.some((e) => e.type === "response.done"), 3000, "response");
    const types: string[] = events.map((e) => e.type);
    for (
      const t of [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "conversation.item.added",
        "conversation.item.input_audio_transcription.completed",
        "response.output_audio.delta",
        "response.output_audio_transcript.done",
      ]
    ) assert.ok(types.includes(t), `missing ${t}`);
    const context = conn.conversation.toContextItems();
    assert.equal(context.length, 1, "one system message: no assistant output_text items");
    assert.equal(context[0].type, "message");
    assert.equal(context[0].type === "message" && context[0].role, "system");
    const text = context[0].type === "message" ? context[0].content[0].text : "";
    assert.match(text, /Caller: Do you have time on Friday\?\nYou: Yes, at ten\.$/);
    assert.equal(conn.stats.unknownEvents, 0);
    assert.equal(conn.stats.malformedEvents, 0);
  } finally {
    await closeAll(fake, conn);
  }
  assert.deepEqual(states, ["connecting", "open", "closed"]);
  assert.equal(conn.closeReason?.kind, "client");
  assert.equal(fake.sessions[0].closeCode, 1000);
});

Deno.test("reconnect: drop mid-call -> new session gets config, context, buffered audio", async () => {
  const fake = await startFakeRealtime({
    transcripts: ["I'd like a haircut", "Friday please"],
    responder: () => ({ audioMs: 400, transcript: "Sure, which day?" }),
  });
  const conn = makeConn(fake, {
    backoff: { initialMs: 150, maxMs: 300, maxAttempts: 5, maxTotalMs: 3000 },
    random: () => 1, // the first retry waits exactly 150 ms
  });
  const states: ConnectionState[] = [];
  conn.on("state", (s) => states.push(s));
  const sessionsSeen: string[] = [];
  conn.on("session", (i) => sessionsSeen.push(i.reason));
  try {
    await conn.connect();
    sendTurn(conn);
    await fake.waitFor(
      () => conn.conversation.entries.some((e) => e.kind === "assistant" && e.done),
      3000,
      "first answer",
    );
    fake.dropConnection();
    await fake.waitFor(() => conn.state === "reconnecting", 2000, "reconnecting");
    // Caller keeps talking while the model is away: 500 ms (25 frames) buffered.
    const gap = frames("pcmu", [[500, false]]);
    for (const f of gap) conn.appendAudio(f);
    await fake.waitFor(() => conn.state === "open", 3000, "reopened");
    assert.equal(fake.sessions.length, 2);
    assert.equal(conn.stats.reconnects, 1);
    assert.equal(conn.stats.droppedAudioChunks, 0);
    const second = fake.sessions[1].clientEvents;
    await fake.waitFor(() => second.length >= 2 + gap.length, 2000, "context + audio");
    assert.equal(second[0].type, "session.update");
    // The context is one system message (a transcript), never assistant output_text items
    // (those can make the model answer in text only).
    const context = second[1].item as { type: string; role: string; content: { text: string }[] };
    assert.equal(second[1].type, "conversation.item.create");
    assert.equal(context.role, "system");
    assert.match(context.content[0].text, /Caller: I'd like a haircut\nYou: Sure, which day\?$/);
    // Buffered audio follows the context, in order.
    assert.deepEqual(clientTypes(fake, 1).slice(2), gap.map(() => "input_audio_buffer.append"));
    // Last item is the assistant's: the model waits for the caller (no response.create).
    assert.ok(!clientTypes(fake, 1).includes("response.create"));
    assert.equal(fake.sessions[1].errors.length, 0);

    // The conversation continues in the new session.
    sendTurn(conn);
    await fake.waitFor(
      () => fake.sessions[1].serverEvents.includes("response.done"),
      3000,
      "second answer",
    );
    assert.equal(
      fake.sessions[1].items.filter((i) => i.role === "user").at(-1)?.text,
      "Friday please",
    );
  } finally {
    await closeAll(fake, conn);
  }
  assert.deepEqual(states, ["connecting", "open", "reconnecting", "open", "closed"]);
  assert.deepEqual(sessionsSeen, ["initial", "reconnect"]);
});

Deno.test("reconnect: tool output sent while away is re-injected after its call, then answered", async () => {
  const fake = await startFakeRealtime({
    transcripts: ["What's free on Friday?"],
    responder: (ctx) =>
      ctx.lastItem?.type === "function_call_output"
        ? {
          audioMs: 300,
          transcript: `Friday has ${JSON.parse(ctx.lastItem.output!).slots} slots.`,
        }
        : { functionCalls: [{ name: "get_slots", arguments: '{"day":"friday"}' }] },
  });
  const conn = makeConn(fake, {
    backoff: { initialMs: 100, maxMs: 100, maxAttempts: 5, maxTotalMs: 3000 },
  });
  const calls: { callId: string; args: string }[] = [];
  conn.on("event", (e) => {
    if (e.type === "response.function_call_arguments.done") {
      calls.push({ callId: e.call_id, args: e.arguments });
    }
  });
  try {
    await conn.connect();
    sendTurn(conn);
    await fake.waitFor(() => calls.length === 1 && !conn.responseActive, 3000, "function call");
    fake.dropConnection();
    await fake.waitFor(() => conn.state === "reconnecting", 2000, "reconnecting");
    // The tool finished while the socket was down.
    assert.equal(conn.sendFunctionOutput(calls[0].callId, '{"slots":3}'), false);
    await fake.waitFor(() => conn.state === "open", 3000, "reopened");
    await fake.waitFor(
      () => fake.sessions[1].serverEvents.includes("response.done"),
      3000,
      "answer after reconnect",
    );
    const items = fake.sessions[1].clientEvents.filter((e) => e.type === "conversation.item.create")
      .map((e) => (e.item as { type: string }).type);
    assert.deepEqual(items, ["message", "function_call", "function_call_output"]);
    assert.ok(clientTypes(fake, 1).includes("response.create"));
    assert.equal(fake.sessions[1].errors.length, 0);
    const said = fake.sessions[1].items.find((i) => i.role === "assistant");
    assert.equal(said?.text, "Friday has 3 slots.");
  } finally {
    await closeAll(fake, conn);
  }
});

Deno.test("reconnect: audio beyond the buffer bound is dropped and counted, never thrown", async () => {
  const fake = await startFakeRealtime();
  const conn = makeConn(fake, {
    maxBufferedAudioMs: 300,
    backoff: { initialMs: 200, maxMs: 200, maxAttempts: 3, maxTotalMs: 3000 },
  });
  try {
    await conn.connect();
    fake.dropConnection();
    await fake.waitFor(() => conn.state === "reconnecting", 2000, "reconnecting");
    for (const f of frames("pcmu", [[1000, false]])) conn.appendAudio(f); // 50 frames
    assert.equal(conn.stats.droppedAudioChunks, 35);
    assert.equal(conn.stats.droppedAudioMs, 700);
    assert.equal(conn.send('{"type":"response.cancel"}'), false);
    assert.equal(conn.stats.droppedEvents, 1);
    await fake.waitFor(() => conn.state === "open", 3000, "reopened");
    await fake.waitFor(() => fake.sessions[1].inputMs === 300, 2000, "buffer flushed");
  } finally {
    await closeAll(fake, conn);
  }
});

Deno.test("connect gives up after bounded attempts when nothing listens", async () => {
  const fake = await startFakeRealtime();
  const url = fake.url;
  await fake.close();
  const conn = new RealtimeConnection({
    url,
    model: "gpt-realtime",
    apiKey: "k",
    sessionConfig,
    backoff: { initialMs: 10, maxMs: 40, maxAttempts: 4, maxTotalMs: 5000 },
  });
  const err = await conn.connect().then(() => undefined, (e) => e);
  assert.ok(err instanceof RealtimeConnectError);
  assert.equal(err.fatal, false);
  assert.equal(conn.state, "closed");
  assert.equal(conn.closeReason?.kind, "gave_up");
  assert.match(conn.closeReason!.message, /4 attempts/);
});

Deno.test("fatal: wrong key / unknown model fail at once without retrying", async () => {
  const fake = await startFakeRealtime();
  try {
    for (
      const [apiKey, model, code] of [
        ["wrong", "gpt-realtime", "invalid_api_key"],
        ["test-key", "gpt-nope", "model_not_found"],
      ]
    ) {
      const conn = new RealtimeConnection({
        url: fake.url,
        model,
        apiKey,
        sessionConfig,
        backoff: { initialMs: 10, maxMs: 10, maxAttempts: 5, maxTotalMs: 5000 },
      });
      const err = await conn.connect().then(() => undefined, (e) => e);
      assert.ok(err instanceof RealtimeConnectError);
      assert.equal(err.fatal, true);
      assert.equal(err.code, code);
      assert.equal(conn.closeReason?.kind, "fatal");
    }
    assert.equal(fake.rejected.length, 2); // one attempt each
  } finally {
    await fake.close();
  }
});

Deno.test("fatal error mid-call ends the session; unknown and malformed events are counted", async () => {
  const fake = await startFakeRealtime();
  const conn = makeConn(fake);
  const errors: string[] = [];
  conn.on("event", (e) => {
    if (e.type === "error") errors.push(e.error.code ?? "");
  });
  try {
    await conn.connect();
    fake.inject(0, JSON.stringify({ type: "output_audio_buffer.started", event_id: "e1" }));
    fake.inject(0, JSON.stringify({ type: "response.done", event_id: "e2" })); // no response
    fake.inject(
      0,
      JSON.stringify({
        type: "conversation.item.created",
        item: { id: "item_x", type: "message", role: "user", content: [{ type: "input_audio" }] },
      }),
    );
    fake.inject(
      0,
      JSON.stringify({
        type: "error",
        error: { type: "server_error", code: null, message: "transient", event_id: null },
      }),
    );
    await fake.waitFor(() => conn.stats.errorEvents === 1, 2000, "first error");
    assert.equal(conn.state, "open"); // most errors leave the session open
    assert.equal(conn.stats.unknownEvents, 1);
    assert.equal(conn.stats.malformedEvents, 1);
    assert.equal(conn.conversation.entries[0]?.kind, "user"); // .created accepted as .added
    fake.inject(
      0,
      JSON.stringify({
        type: "error",
        error: { type: "invalid_request_error", code: "insufficient_quota", message: "quota" },
      }),
    );
    await fake.waitFor(() => conn.state === "closed", 2000, "closed");
    assert.equal(conn.closeReason?.kind, "fatal");
    assert.equal(conn.closeReason?.code, "insufficient_quota");
    assert.deepEqual(errors, ["", "insufficient_quota"]);
    assert.equal(fake.sessions.length, 1); // no reconnect after a fatal error
  } finally {
    await closeAll(fake, conn);
  }
});

Deno.test("expiry: a fresh session takes over before expires_at, after the active response", async () => {
  const fake = await startFakeRealtime({
    sessionTtlMs: 60 * 60 * 1000,
    chunkIntervalMs: 60,
    responder: () => ({ audioMs: 3000, transcript: "Let me tell you about our opening hours." }),
  });
  // Rollover is due 0.2..1.2 s after connect (expires_at has 1 s granularity) while the
  // first response streams for 30 chunks x 60 ms = 1.8 s: the swap always has to wait.
  const conn = makeConn(fake, { expiryMarginMs: 60 * 60 * 1000 - 1200 });
  const log: string[] = [];
  conn.on("event", (e) => {
    if (e.type === "response.done") log.push("response.done");
  });
  conn.on("session", (i) => log.push(`session:${i.reason}`));
  try {
    await conn.connect();
    assert.equal(conn.createResponse(), "sent");
    // Every fresh session is due for rollover as soon as the first was (same TTL, same
    // margin), so more may follow before this wait looks: the first one is checked below.
    await fake.waitFor(() => conn.stats.rollovers >= 1, 8000, "rollover");
    assert.equal(conn.state, "open");
    // The response finished on the old session and was seen by the client before the swap
    // (a swap mid-response would cut it off: its response.done would never arrive).
    const done = log.indexOf("response.done");
    assert.ok(done >= 0, `the response finished before the swap: ${log.join(",")}`);
    assert.ok(done < log.indexOf("session:rollover"), log.join(","));
    assert.ok(fake.sessions[0].serverEvents.includes("response.done"), "old session completed");
    assert.equal(fake.sessions[0].items.find((i) => i.role === "assistant")?.audioMs, 3000);
    await fake.waitFor(() => fake.sessions[0].closed, 2000, "old session closed");
    assert.equal(fake.sessions[0].closeCode, 1000);
    const s1 = fake.sessions[1].clientEvents;
    await fake.waitFor(() => s1.length >= 2, 2000, "context");
    assert.equal(s1[0].type, "session.update");
    assert.equal(s1[1].type, "conversation.item.create");
    assert.equal(conn.stats.reconnects, 0);
    assert.equal(fake.sessions.every((s) => s.errors.length === 0), true);
  } finally {
    await closeAll(fake, conn);
  }
});

Deno.test("truncate is clamped to the audio received for the item", async () => {
  const fake = await startFakeRealtime({
    responder: () => ({ audioMs: 500, transcript: "one two three four five" }),
  });
  const conn = makeConn(fake);
  try {
    await conn.connect();
    conn.createResponse();
    await fake.waitFor(
      () => !conn.responseActive && fake.sessions[0].serverEvents.includes("response.done"),
      3000,
      "done",
    );
    const item = conn.conversation.entries.find((e) => e.kind === "assistant");
    assert.ok(item && item.kind === "assistant");
    assert.equal(item.audioMs, 500);
    assert.equal(conn.truncate(item.itemId, 900), 500); // never more than received
    assert.equal(conn.truncate(item.itemId, 200.7), 200);
    await fake.waitFor(
      () =>
        fake.sessions[0].serverEvents.filter((t) => t === "conversation.item.truncated").length ===
          2 && item.heardMs === 200, // the client has read the server's confirmations too
      2000,
      "truncated",
    );
    assert.equal(fake.sessions[0].errors.length, 0);
    // Recorded as the server confirmed it (the last truncate: 200 ms of 500).
    const [context] = conn.conversation.toContextItems();
    assert.ok(context.type === "message");
    assert.match(context.content[0].text, /You: one two \(interrupted\)$/);
  } finally {
    await closeAll(fake, conn);
  }
});

Deno.test("backoffDelay grows exponentially, is capped, and jitters within [exp/2, exp]", () => {
  const b = { initialMs: 100, maxMs: 1000, maxAttempts: 10, maxTotalMs: 10000 };
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelay(n, b, () => 1)), [
    100,
    200,
    400,
    800,
    1000,
  ]);
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelay(n, b, () => 0)), [
    50,
    100,
    200,
    400,
    500,
  ]);
});

Deno.test("close() during a pending connect settles connect() and leaves nothing running", async () => {
  const fake = await startFakeRealtime();
  const conn = makeConn(fake);
  const p = conn.connect().then(() => "open", (e) => (e as Error).message);
  conn.close();
  assert.equal(await p, "closed by client");
  await delay(50);
  await closeAll(fake);
});

Deno.test("createResponse defers a second request until the active response is done", async () => {
  const fake = await startFakeRealtime({
    responder: () => ({ audioMs: 300, transcript: "Hello." }),
  });
  const conn = makeConn(fake);
  try {
    await conn.connect();
    assert.equal(conn.createResponse(), "sent");
    assert.equal(conn.createResponse({ instructions: "Ask for the name" }), "deferred");
    await fake.waitFor(
      () => fake.sessions[0].serverEvents.filter((t) => t === "response.done").length === 2,
      3000,
      "two responses",
    );
    assert.equal(clientTypes(fake, 0).filter((t) => t === "response.create").length, 2);
    assert.equal(fake.sessions[0].errors.length, 0); // never two active at once
  } finally {
    await closeAll(fake, conn);
  }
});

Deno.test("client events carry event ids; per-response instructions follow the session's", async () => {
  const fake = await startFakeRealtime({
    responder: () => ({ audioMs: 100, transcript: "Hi." }),
  });
  const conn = makeConn(fake);
  try {
    await conn.connect();
    conn.sendSystemText("A note.");
    conn.createResponse({ instructions: "Greet the caller." });
    for (const f of frames("pcmu", [[40, false]])) conn.appendAudio(f);
    await fake.waitFor(() => !conn.responseActive, 3000, "the response");
    // (The fake keeps appends as {type, bytes}; the append builder's id is checked in
    // protocol_test.)
    const events = fake.sessions[0].clientEvents.filter((e) =>
      e.type !== "session.update" && e.type !== "input_audio_buffer.append"
    );
    assert.ok(events.length >= 2);
    const ids = events.map((e) => e.event_id);
    assert.ok(ids.every((id) => typeof id === "string" && id.length > 0), JSON.stringify(ids));
    assert.equal(new Set(ids).size, ids.length, "unique");
    const create = events.find((e) => e.type === "response.create")!;
    const response = create.response as { instructions: string; metadata: { request: string } };
    assert.ok(response.instructions.startsWith("You are the receptionist."), "the persona stays");
    assert.match(response.instructions, /For this reply only: Greet the caller\.$/);
    assert.equal(response.metadata.request, create.event_id, "the request is tagged");
  } finally {
    await closeAll(fake, conn);
  }
});

Deno.test("a response.create the server never answers is forgotten and reported as a stall", async () => {
  const fake = await startFakeRealtime();
  const conn = makeConn(fake, { responseStartTimeoutMs: 300 });
  const stalls: string[] = [];
  conn.on("stall", (s) => stalls.push(s.reason));
  try {
    await conn.connect();
    // The request goes out; the server's answer is lost (the fake sees nothing).
    const sent = conn.send.bind(conn);
    conn.send = (text: string) => text.includes('"response.create"') ? true : sent(text);
    assert.equal(conn.createResponse(), "sent");
    assert.equal(conn.responseActive, true);
    await delay(500);
    assert.equal(conn.responseActive, false, "not busy forever");
    assert.deepEqual(stalls, ["no_response_created"]);
    assert.equal(conn.stats.responsesExpired, 1);
  } finally {
    await closeAll(fake, conn);
  }
});

Deno.test("a response.create refused by a server error is asked again once (the turn is not lost)", async () => {
  const fake = await startFakeRealtime({
    rejectResponseCreate: true,
    responder: (ctx) => ({ audioMs: 200, transcript: ctx.instructions ?? "Hello." }),
  });
  const conn = makeConn(fake);
  try {
    await conn.connect();
    assert.equal(conn.createResponse({ instructions: "Greet the caller." }, "drop"), "sent");
    await fake.waitFor(() => fake.sessions[0].responses.length === 1, 3000, "the response");
    const creates = fake.sessions[0].clientEvents.filter((e) => e.type === "response.create");
    assert.equal(creates.length, 2);
    assert.notEqual(creates[0].event_id, creates[1].event_id, "a fresh event id");
    // The same request: the session's instructions, then this reply's.
    assert.deepEqual(creates[1].response, {
      ...(creates[0].response as Record<string, unknown>),
      metadata: { request: creates[1].event_id },
    });
    assert.equal(fake.sessions[0].errors[0].code, "server_error");
    assert.equal(conn.stats.responsesRejected, 1);
    await fake.waitFor(() => !conn.responseActive, 3000, "the response done");
  } finally {
    await closeAll(fake, conn);
  }
});

Deno.test("an out-of-band response beside the conversation's neither frees the gate nor joins the record", async () => {
  const fake = await startFakeRealtime({
    // 3 s of audio, a 100 ms chunk every 50 ms: the response talks for 1.5 s.
    responder: () => ({ audioMs: 3000, transcript: "Let me check the diary for you." }),
    chunkIntervalMs: 50,
    outOfBand: () => ({ text: "A summary." }),
  });
  const conn = makeConn(fake);
  const oob: ServerEvent[] = [];
  conn.on("event", (e) => {
    if (e.type === "response.done" && e.response.conversation_id === null) oob.push(e);
  });
  try {
    await conn.connect();
    assert.equal(conn.createResponse(), "sent");
    await fake.waitFor(
      () => fake.sessions[0].serverEvents.includes("response.output_audio.delta"),
      3000,
      "the conversation's response under way",
    );
    // Out of band while the conversation's response talks: the server allows both.
    conn.send(summaryRequestEvent("oob_1", [], "Summarise.", "What happened?"));
    await fake.waitFor(() => oob.length === 1, 3000, "the out-of-band answer");
    // Its response.done ended only itself: the conversation's response is still active, so
    // a new request waits instead of being refused by the server.
    assert.equal(conn.responseActive, true);
    assert.equal(conn.createResponse({ instructions: "Ask for the name" }), "deferred");
    await fake.waitFor(
      () => fake.sessions[0].serverEvents.filter((t) => t === "response.done").length === 3,
      5000,
      "the deferred response done",
    );
    assert.deepEqual(fake.sessions[0].errors, [], "no request refused");
    // The record holds the conversation only: two assistant turns, no summary text.
    const assistant = conn.conversation.entries.filter((e) => e.kind === "assistant");
    assert.equal(assistant.length, 2, JSON.stringify(conn.conversation.entries));
  } finally {
    await closeAll(fake, conn);
  }
});
