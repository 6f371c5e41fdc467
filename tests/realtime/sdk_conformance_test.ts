/**
 * Our wire events against the official `openai` package's Realtime types (a test-only,
 * type-only dependency), with excess-property checks:
 *
 * - every client event the builders in src/realtime (and the after-call summary) produce,
 *   in every variant, and every client event a RealtimeConnection sent to the strict fake
 *   during a session with tool calls, a truncation and a reconnect, satisfies
 *   `RealtimeClientEvent`;
 * - every server event the strict fake emitted to a raw client over loopback (a session
 *   with speech turns, audio and tool responses, a barge-in, errors, a truncation, an
 *   out-of-band response) satisfies `RealtimeServerEvent`;
 * - and the check can fail: a fixture with a misspelled field is rejected.
 *
 * The static part at the top holds our declared wire types to the SDK's at `deno check`.
 */
import assert from "node:assert/strict";
import type {
  ConversationItem,
  RealtimeFunctionTool,
  RealtimeResponseCreateParams,
  RealtimeServerEvent,
  RealtimeSessionCreateRequest,
} from "openai/resources/realtime/realtime";
import { type FakeRealtime, startFakeRealtime } from "../../scripts/sim/fake_realtime.ts";
import { bookingTools } from "../../src/agent/booking_tools.ts";
import { callControlTools } from "../../src/agent/call_control_tools.ts";
import { ToolRegistry } from "../../src/agent/tools.ts";
import { summaryRequestEvent } from "../../src/after_call/summary_request.ts";
import type { BookingStore } from "../../src/booking/types.ts";
import { RealtimeConnection } from "../../src/realtime/connection.ts";
import { REASONING_EFFORTS } from "../../src/realtime/models.ts";
import {
  appendAudio,
  clearAudio,
  commitAudio,
  type ConversationItemInput,
  createItem,
  functionCallOutput,
  parseServerEvent,
  responseCancel,
  responseCreate,
  type ResponseCreateOptions,
  ServerEventSchema,
  sessionUpdate,
  systemText,
  truncate,
  userText,
} from "../../src/realtime/protocol.ts";
import {
  buildSessionConfig,
  type SessionConfig,
  type SessionConfigOptions,
  type ToolDefinition,
  type VadOptions,
} from "../../src/realtime/session_config.ts";
import { testProfile } from "../booking/fixtures.ts";
import { frames, rawClient, type Rec, turnFrames } from "./helpers.ts";
import {
  checkAgainstSdk,
  distinctShapes,
  type SdkCheckResult,
  type SdkFixture,
} from "./sdk_check.ts";

// ---------------------------------------------------------------------------------------
// Static: our declared wire types are assignable to the SDK's (checked by `deno check`).
// ---------------------------------------------------------------------------------------

type Assignable<T, U> = [T] extends [U] ? true : false;
function staticCheck<_T extends true>(): void {}
staticCheck<Assignable<SessionConfig, RealtimeSessionCreateRequest>>();
staticCheck<Assignable<ToolDefinition, RealtimeFunctionTool>>();
staticCheck<Assignable<ConversationItemInput, ConversationItem>>();
staticCheck<Assignable<ResponseCreateOptions, RealtimeResponseCreateParams>>();

// ---------------------------------------------------------------------------------------

const TOOLS = new ToolRegistry([
  ...bookingTools({ profile: testProfile(), store: {} as BookingStore }),
  ...callControlTools({ requestHangUp() {}, requestTransfer() {} }),
]).definitions();

const VADS: VadOptions[] = [
  { type: "server_vad", threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500 },
  { type: "semantic_vad", eagerness: "auto" },
  { type: "semantic_vad", eagerness: "low" },
];

/** Every `session.update` variant: both formats, each VAD, with and without reasoning. */
function sessionUpdates(): SdkFixture[] {
  const out: SdkFixture[] = [];
  for (const audioFormat of ["pcmu", "pcm16"] as const) {
    for (const vad of VADS) {
      for (const reasoningEffort of [undefined, ...REASONING_EFFORTS]) {
        for (const transcriptionModel of [undefined, "gpt-4o-transcribe"]) {
          for (const tools of [TOOLS, []]) {
            const opts: SessionConfigOptions = {
              model: "gpt-realtime-2.1",
              voice: "marin",
              audioFormat,
              instructions: "You are the receptionist of Maple and Main.",
              tools,
              vad,
              transcriptionModel,
              reasoningEffort,
            };
            out.push({
              label: `sessionUpdate ${audioFormat} ${vad.type} effort=${reasoningEffort} ` +
                `transcription=${transcriptionModel} tools=${tools.length}`,
              sdkType: "RealtimeClientEvent",
              event: JSON.parse(sessionUpdate(buildSessionConfig(opts), "e1")),
            });
          }
        }
      }
    }
  }
  return out;
}

const ITEMS: [string, ConversationItemInput][] = [
  ["user text", { type: "message", role: "user", content: [{ type: "input_text", text: "Hi" }] }],
  ["system text", {
    type: "message",
    role: "system",
    content: [{ type: "input_text", text: "The caller is silent." }],
  }],
  ["assistant text", {
    type: "message",
    role: "assistant",
    content: [{ type: "output_text", text: "Hello" }],
    id: "item_x",
  }],
  ["function call", { type: "function_call", call_id: "c1", name: "get_slots", arguments: "{}" }],
  ["function output", { type: "function_call_output", call_id: "c1", output: '{"ok":true}' }],
];

const RESPONSES: [string, ResponseCreateOptions | undefined][] = [
  ["plain", undefined],
  ["empty", {}],
  ["greeting", {
    instructions: 'Session rules.\n\nFor this reply only: Greet the caller by saying exactly: "Hi"',
    tool_choice: "none",
    metadata: { request: "e7" },
  }],
  ["tool follow-up", { metadata: { request: "e9" } }],
  ["wrap-up", { tool_choice: "none", metadata: { request: "e11" } }],
  ["required tool", { tool_choice: "required" }],
  ["instructions only", { instructions: "Say it again, aloud." }],
];

/** Every other builder, in each of its variants. */
function builderEvents(): SdkFixture[] {
  const c = (label: string, text: string): SdkFixture => ({
    label,
    sdkType: "RealtimeClientEvent",
    event: JSON.parse(text),
  });
  const out: SdkFixture[] = [
    c("appendAudio", appendAudio("//////////8=")),
    c("appendAudio with id", appendAudio("//////////8=", "a1")),
    c("commitAudio", commitAudio()),
    c("commitAudio with id", commitAudio("e2")),
    c("clearAudio", clearAudio("e3")),
    c("functionCallOutput", functionCallOutput("call_1", '{"status":"confirmed"}', "e4")),
    c("userText", userText("Hello", "e5")),
    c("systemText", systemText("The caller is silent.", "e6")),
    c("truncate", truncate("item_1", 1234.7, "e7")),
    c("truncate negative", truncate("item_1", -5)),
    c("responseCancel", responseCancel()),
    c("responseCancel with id", responseCancel("resp_1", "e8")),
  ];
  for (const [label, item] of ITEMS) {
    out.push(c(`createItem ${label}`, createItem(item)));
    out.push(c(`createItem ${label} after`, createItem(item, "item_prev", "e9")));
  }
  for (const [label, opts] of RESPONSES) {
    out.push(c(`responseCreate ${label}`, responseCreate(opts, "e10")));
  }
  out.push({
    label: "summaryRequestEvent (out of band, item references)",
    sdkType: "ResponseCreateEventWithReferencesParam",
    event: JSON.parse(
      summaryRequestEvent("evt_summary_1", ["item_a", "item_b"], "Summarise.", "What happened?"),
    ),
  });
  return out;
}

const SESSION = buildSessionConfig({
  model: "gpt-realtime-2.1",
  voice: "marin",
  audioFormat: "pcmu",
  instructions: "You are the receptionist.",
  tools: TOOLS,
  vad: VADS[0],
  reasoningEffort: "low",
});

/**
 * What a RealtimeConnection actually sends over a session: configuration, response
 * requests (greeting, tool follow-up, plain), texts, a tool result, a truncation, and the
 * re-injected conversation after a dropped connection.
 */
async function connectionEvents(fake: FakeRealtime): Promise<SdkFixture[]> {
  fake.setResponder((ctx) =>
    ctx.lastUserText === "book" && ctx.lastItem?.type !== "function_call_output"
      ? { functionCalls: [{ name: "get_slots", arguments: '{"date":"tomorrow"}' }] }
      : { audioMs: 600, transcript: "Okay then." }
  );
  const conn = new RealtimeConnection({
    url: fake.url,
    model: "gpt-realtime-2.1",
    apiKey: "test-key",
    sessionConfig: SESSION,
    backoff: { initialMs: 20, maxMs: 200, maxAttempts: 5, maxTotalMs: 3000 },
  });
  const events: Rec[] = [];
  conn.on("event", (e) => events.push(e as Rec));
  const done = (n: number) =>
    fake.waitFor(
      () => events.filter((e) => e.type === "response.done").length >= n,
      5000,
      `${n} responses`,
    );
  try {
    await conn.connect();
    conn.createResponse({ instructions: 'Greet the caller by saying exactly: "Hi"' });
    await done(1);
    conn.sendSystemText("The caller has been silent.");
    conn.createResponse({ tool_choice: "none" });
    await done(2);
    conn.sendUserText("book");
    conn.createResponse();
    await done(3);
    const call = events.find((e) => e.type === "response.function_call_arguments.done")!;
    conn.sendFunctionOutput(call.call_id as string, '{"slots":[]}');
    conn.createResponse({ metadata: { purpose: "follow-up" } });
    await done(4);
    const audio = events.findLast((e) => e.type === "response.output_audio.delta")!;
    conn.truncate(audio.item_id as string, 200);
    await fake.waitFor(
      () => events.some((e) => e.type === "conversation.item.truncated"),
      3000,
      "truncated",
    );
    fake.dropConnection(0);
    await fake.waitFor(() => fake.sessions.length === 2 && conn.state === "open", 5000, "back");
    conn.sendUserText("book");
    conn.createResponse();
    await fake.waitFor(() => fake.sessions[1].responses.length >= 1, 3000, "response");
  } finally {
    conn.close();
    await fake.waitFor(() => fake.sessions.every((s) => s.closed), 3000, "closed");
  }
  assert.deepEqual(fake.sessions.flatMap((s) => s.errors), []);
  return fake.sessions.flatMap((s) =>
    s.clientEvents
      // The fake keeps appends as `{type, bytes}`; the builder variant is checked instead.
      .filter((e) => e.type !== "input_audio_buffer.append")
      .map((event, i) => ({
        label: `connection session ${s.index} client event ${i} (${event.type})`,
        sdkType: "RealtimeClientEvent" as const,
        event,
      }))
  );
}

/**
 * Every server event the strict fake sends in a session driven by a raw client: speech
 * turns with transcription, audio and tool responses, a barge-in (cancelled response), a
 * truncation, refused events, item deletion, a cleared buffer, an out-of-band answer.
 */
async function fakeServerEvents(fake: FakeRealtime): Promise<SdkFixture[]> {
  fake.setResponder((ctx) => {
    if (ctx.lastItem?.type === "function_call_output") {
      return { audioMs: 400, transcript: "You're booked." };
    }
    if (ctx.trigger === "response.create" && ctx.instructions === "long") {
      return { audioMs: 5000, transcript: "A long answer that the caller interrupts." };
    }
    if (ctx.lastItem?.text === "book it") {
      return { functionCalls: [{ name: "book_slot", arguments: '{"start":"x"}' }] };
    }
    return {
      audioMs: 400,
      transcript: "Goodbye.",
      thenCall: [{ name: "end_call", arguments: '{"reason":"done"}' }],
    };
  });
  const c = await rawClient(`${fake.url}?model=gpt-realtime-2.1`, {
    Authorization: "Bearer test-key",
  });
  try {
    await c.next("session.created");
    c.send(sessionUpdate(SESSION));
    await c.next("session.updated");
    const responses = (n: number) =>
      fake.waitFor(
        () => c.events.filter((e) => e.type === "response.done").length >= n,
        5000,
        `${n} responses`,
      );
    // A spoken turn: VAD, commit, transcription, a response with audio and a call.
    for (const f of turnFrames("pcmu")) c.send(appendAudio(f));
    await responses(1);
    // A tool call and its follow-up.
    c.send(userText("book it"));
    c.send(responseCreate());
    await responses(2);
    const call = c.events.findLast((e) => e.type === "response.function_call_arguments.done")!;
    c.send(functionCallOutput(call.call_id as string, '{"status":"confirmed"}'));
    c.send(responseCreate({ metadata: { request: "e1" } }));
    await responses(3);
    // Refusals: a truncate beyond the audio, a second active response, nothing to cancel.
    const audio = c.events.findLast((e) => e.type === "response.output_audio.delta")!;
    c.send(truncate(audio.item_id as string, 99_999, "t1"));
    c.send(responseCancel(undefined, "x1"));
    c.send(truncate(audio.item_id as string, 100, "t2"));
    await c.next("conversation.item.truncated");
    c.send(responseCreate({ instructions: "long" }, "r1"));
    await c.next("response.output_audio.delta", 3000, c.events.length);
    c.send(responseCreate(undefined, "r2"));
    // Barge-in: the long response is cancelled by speech.
    for (const f of frames("pcmu", [[400, false], [600, true]])) c.send(appendAudio(f));
    await responses(4);
    for (const f of frames("pcmu", [[1000, false]])) c.send(appendAudio(f));
    await responses(5);
    // A cancel by the client.
    c.send(responseCreate({ instructions: "long" }, "r3"));
    await c.next("response.output_audio.delta", 3000, c.events.length);
    c.send(responseCancel());
    await responses(6);
    c.send(clearAudio());
    await c.next("input_audio_buffer.cleared");
    c.send({ type: "conversation.item.delete", item_id: audio.item_id });
    await c.next("conversation.item.deleted");
    // Out of band (the after-call summary).
    const items = c.events.filter((e) => e.type === "conversation.item.added")
      .map((e) => (e.item as { id: string }).id);
    c.send(summaryRequestEvent("evt_summary_x", items.slice(0, 3), "Summarise.", "Summary?"));
    await fake.waitFor(
      () => fake.sessions[0].outOfBand.some((r) => r.status === "completed"),
      3000,
      "out-of-band answer",
    );
    await responses(7);
  } finally {
    await c.close();
  }
  assert.deepEqual(fake.sessions[0].errors.map((e) => e.code), [
    "invalid_value",
    "response_cancel_not_active",
    "conversation_already_has_active_response",
  ]);
  const used = new Set<string>();
  const fixtures = c.events.map((event, i) => ({
    label: `fake server event ${i} (${event.type})`,
    sdkType: "RealtimeServerEvent" as const,
    event: withoutSdkGaps(event, used),
  }));
  // Every listed difference is still real (or the list would hide a new one).
  assert.deepEqual([...used].sort(), [...SDK_GAPS].sort());
  return fixtures;
}

/**
 * Where the real server sends more than the SDK's event types say, the documented
 * difference is taken out before the check, at exactly that place (nowhere else):
 *
 * - `session.created`/`session.updated`: the server's session object carries `id`,
 *   `object` and `expires_at` (the SDK's `RealtimeSession` has them; the event types reuse
 *   the request type), and reports a disabled transcription or noise reduction as `null`;
 * - `response.conversation_id` is `null` for an out-of-band response (the SDK's own doc
 *   comment on `RealtimeResponse.conversation_id` says so; its type says `string`);
 * - a user audio item's content has `transcript: null` until transcribed.
 */
const SDK_GAPS = [
  "session object fields",
  "null session audio settings",
  "out-of-band conversation_id",
  "untranscribed audio",
] as const;

function withoutSdkGaps(event: Rec, used: Set<string>): Rec {
  const e = structuredClone(event);
  if (e.type === "session.created" || e.type === "session.updated") {
    const session = e.session as Record<string, unknown>;
    for (const k of ["id", "object", "expires_at"]) {
      if (k in session) used.add(SDK_GAPS[0]), delete session[k];
    }
    const input = (session.audio as { input?: Record<string, unknown> } | undefined)?.input;
    for (const k of ["transcription", "noise_reduction"]) {
      if (input && input[k] === null) used.add(SDK_GAPS[1]), delete input[k];
    }
  }
  const response = e.response as Record<string, unknown> | undefined;
  if (response?.conversation_id === null) used.add(SDK_GAPS[2]), delete response.conversation_id;
  const item = e.item as { role?: string; content?: Record<string, unknown>[] } | undefined;
  for (const part of item?.role === "user" ? item.content ?? [] : []) {
    if (part.type === "input_audio" && part.transcript === null) {
      used.add(SDK_GAPS[3]), delete part.transcript;
    }
  }
  return e;
}

function explain(result: SdkCheckResult): string {
  const numbered = result.source.split("\n").map((l, i) => `${i + 1}: ${l}`).join("\n");
  return `${result.output}\n--- generated module ---\n${numbered}`;
}

Deno.test("sdk types: every client event our builders and connection send type-checks", async () => {
  const fake = await startFakeRealtime();
  try {
    const fixtures = [
      ...sessionUpdates(),
      ...builderEvents(),
      ...distinctShapes(await connectionEvents(fake)),
    ];
    const types = new Set(fixtures.map((f) => (f.event as { type: string }).type));
    for (
      const t of [
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.truncate",
        "response.create",
        "response.cancel",
      ]
    ) assert.ok(types.has(t), `no ${t} checked`);
    const result = await checkAgainstSdk(fixtures);
    assert.ok(result.ok, explain(result));
  } finally {
    await fake.close();
  }
});

Deno.test("sdk types: every server event the strict fake sends type-checks", async () => {
  const fake = await startFakeRealtime({ chunkIntervalMs: 10 });
  try {
    const fixtures = distinctShapes(await fakeServerEvents(fake));
    const types = new Set(fixtures.map((f) => (f.event as { type: string }).type));
    for (
      const t of [
        "error",
        "session.created",
        "session.updated",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.truncated",
        "conversation.item.deleted",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.done",
      ]
    ) assert.ok(types.has(t), `no ${t} checked`);
    const result = await checkAgainstSdk(fixtures);
    assert.ok(result.ok, explain(result));
  } finally {
    await fake.close();
  }
});

Deno.test("sdk types: a misspelled or unknown field fails the check", async () => {
  const good = JSON.parse(truncate("item_1", 500, "e1"));
  const { audio_end_ms, ...rest } = good;
  const result = await checkAgainstSdk([
    { label: "fine", sdkType: "RealtimeClientEvent", event: good },
    {
      label: "misspelled",
      sdkType: "RealtimeClientEvent",
      event: { ...rest, audio_end_msec: audio_end_ms },
    },
    {
      label: "unknown field on a server event",
      sdkType: "RealtimeServerEvent",
      event: { type: "input_audio_buffer.cleared", event_id: "ev_1", cleared_ms: 3 },
    },
    {
      label: "wrong content type",
      sdkType: "RealtimeClientEvent",
      event: {
        type: "conversation.item.create",
        item: { type: "message", role: "user", content: [{ type: "output_text", text: "x" }] },
      },
    },
  ]);
  assert.equal(result.ok, false);
  assert.match(result.output, /TS2561|TS2353/);
  assert.match(
    result.output,
    /audio_end_msec\W+ does not exist in type 'ConversationItemTruncateEvent'/,
  );
  assert.match(
    result.output,
    /cleared_ms\W+ does not exist in type 'InputAudioBufferClearedEvent'/,
  );
  assert.match(result.output, /"output_text"/);
  // Each bad fixture is reported, the good one is not.
  assert.equal(result.output.match(/ERROR/g)?.length, 3, result.output);
});

/**
 * Each server event this service consumes, with only the fields the SDK requires (checked
 * by `satisfies` at `deno check`): the parser must take every one (optional where the SDK
 * says optional), and ignore fields it does not know.
 */
const MINIMAL_SERVER_EVENTS = [
  {
    type: "error",
    event_id: "e",
    error: { type: "server_error", message: "Sorry" },
  },
  { type: "session.created", event_id: "e", session: { type: "realtime" } },
  { type: "session.updated", event_id: "e", session: { type: "realtime" } },
  {
    type: "input_audio_buffer.speech_started",
    event_id: "e",
    audio_start_ms: 0,
    item_id: "i",
  },
  { type: "input_audio_buffer.speech_stopped", event_id: "e", audio_end_ms: 9, item_id: "i" },
  { type: "input_audio_buffer.committed", event_id: "e", item_id: "i" },
  { type: "input_audio_buffer.cleared", event_id: "e" },
  {
    type: "input_audio_buffer.timeout_triggered",
    event_id: "e",
    audio_start_ms: 0,
    audio_end_ms: 9,
    item_id: "i",
  },
  {
    type: "conversation.item.added",
    event_id: "e",
    item: { type: "message", role: "user", content: [{}] },
  },
  {
    type: "conversation.item.done",
    event_id: "e",
    item: { type: "message", role: "assistant", content: [{}] },
  },
  {
    type: "conversation.item.truncated",
    event_id: "e",
    item_id: "i",
    content_index: 0,
    audio_end_ms: 5,
  },
  { type: "conversation.item.deleted", event_id: "e", item_id: "i" },
  {
    type: "conversation.item.input_audio_transcription.delta",
    event_id: "e",
    item_id: "i",
  },
  {
    type: "conversation.item.input_audio_transcription.completed",
    event_id: "e",
    item_id: "i",
    content_index: 0,
    transcript: "hi",
    usage: { type: "duration", seconds: 1 },
  },
  {
    type: "conversation.item.input_audio_transcription.failed",
    event_id: "e",
    item_id: "i",
    content_index: 0,
    error: {},
  },
  { type: "response.created", event_id: "e", response: {} },
  { type: "response.done", event_id: "e", response: {} },
  {
    type: "response.output_item.added",
    event_id: "e",
    response_id: "r",
    output_index: 0,
    item: { type: "function_call", arguments: "{}", name: "get_slots" },
  },
  {
    type: "response.output_item.done",
    event_id: "e",
    response_id: "r",
    output_index: 0,
    item: { type: "function_call_output", call_id: "c", output: "{}" },
  },
  {
    type: "response.content_part.added",
    event_id: "e",
    response_id: "r",
    item_id: "i",
    output_index: 0,
    content_index: 0,
    part: {},
  },
  {
    type: "response.content_part.done",
    event_id: "e",
    response_id: "r",
    item_id: "i",
    output_index: 0,
    content_index: 0,
    part: {},
  },
  {
    type: "response.output_audio.delta",
    event_id: "e",
    response_id: "r",
    item_id: "i",
    output_index: 0,
    content_index: 0,
    delta: "AAAA",
  },
  {
    type: "response.output_audio.done",
    event_id: "e",
    response_id: "r",
    item_id: "i",
    output_index: 0,
    content_index: 0,
  },
  {
    type: "response.output_audio_transcript.delta",
    event_id: "e",
    response_id: "r",
    item_id: "i",
    output_index: 0,
    content_index: 0,
    delta: "Hi",
  },
  {
    type: "response.output_audio_transcript.done",
    event_id: "e",
    response_id: "r",
    item_id: "i",
    output_index: 0,
    content_index: 0,
    transcript: "Hi",
  },
  {
    type: "response.function_call_arguments.delta",
    event_id: "e",
    response_id: "r",
    item_id: "i",
    output_index: 0,
    call_id: "c",
    delta: "{",
  },
  {
    type: "response.function_call_arguments.done",
    event_id: "e",
    response_id: "r",
    item_id: "i",
    output_index: 0,
    call_id: "c",
    name: "get_slots",
    arguments: "{}",
  },
  { type: "rate_limits.updated", event_id: "e", rate_limits: [{}] },
] satisfies RealtimeServerEvent[];

Deno.test("sdk types: every consumed server event parses with only the SDK's required fields, and with unknown ones", () => {
  const consumed = new Set(ServerEventSchema.options.map((o) => o.shape.type.value));
  assert.deepEqual(new Set(MINIMAL_SERVER_EVENTS.map((e) => e.type)), consumed, "all covered");
  for (const event of MINIMAL_SERVER_EVENTS) {
    const parsed = parseServerEvent(JSON.stringify(event));
    assert.ok(parsed.ok, `${event.type}: ${parsed.ok ? "" : parsed.message}`);
    const extra = parseServerEvent(JSON.stringify({ ...event, x_new: { a: 1 } }));
    assert.ok(extra.ok, `${event.type} with an unknown field`);
  }
});
