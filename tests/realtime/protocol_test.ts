/** Protocol builders (checked against the fake's strict GA schemas) and server event parsing. */
import assert from "node:assert/strict";
import { ClientEventSchema } from "../../scripts/sim/fake_realtime.ts";
import {
  appendAudio,
  clearAudio,
  commitAudio,
  createItem,
  functionCallOutput,
  parseServerEvent,
  responseCancel,
  responseCreate,
  sessionUpdate,
  systemText,
  systemTextItem,
  truncate,
  userText,
} from "../../src/realtime/protocol.ts";
import { buildSessionConfig } from "../../src/realtime/session_config.ts";

Deno.test("every client event builder produces a valid GA event", () => {
  const session = buildSessionConfig({
    model: "gpt-realtime",
    voice: "marin",
    audioFormat: "pcm16",
    instructions: "x",
    tools: [{
      type: "function",
      name: "book",
      description: "Book",
      parameters: { type: "object" },
    }],
    vad: { type: "semantic_vad", eagerness: "low" },
  });
  const texts = [
    sessionUpdate(session),
    appendAudio(new Uint8Array([1, 2, 3, 4]).toBase64()),
    commitAudio(),
    clearAudio(),
    createItem(systemTextItem("Hi"), "item_1"),
    functionCallOutput("call_1", '{"ok":true}'),
    userText('He said "hi"\n'),
    systemText("Be brief."),
    truncate("item_2", 1234.9),
    responseCreate(),
    responseCreate({ instructions: "Greet the caller", tool_choice: "none" }),
    responseCancel(),
    responseCancel("resp_1"),
  ];
  for (const t of texts) {
    const r = ClientEventSchema.safeParse(JSON.parse(t));
    assert.ok(r.success, `${t}: ${r.success ? "" : r.error.message}`);
  }
  assert.deepEqual(JSON.parse(texts[1]), { type: "input_audio_buffer.append", audio: "AQIDBA==" });
  assert.equal(JSON.parse(texts[8]).audio_end_ms, 1234);
  assert.equal(JSON.parse(truncate("i", -5)).audio_end_ms, 0);
});

Deno.test("parseServerEvent: fast-path deltas, .created as .added, unknown vs malformed", () => {
  const delta = parseServerEvent(
    '{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"AAAA"}',
  );
  assert.ok(delta.ok && delta.event.type === "response.output_audio.delta");
  assert.equal(delta.event.delta, "AAAA");
  const badDelta = parseServerEvent('{"type":"response.output_audio.delta","delta":5}');
  assert.equal(!badDelta.ok && badDelta.reason, "malformed");

  const created = parseServerEvent(JSON.stringify({
    type: "conversation.item.created",
    previous_item_id: null,
    item: {
      id: "item_1",
      type: "message",
      role: "user",
      content: [{ type: "input_audio", transcript: null }],
    },
  }));
  assert.ok(created.ok);
  assert.equal(created.event.type, "conversation.item.added");

  const unknown = parseServerEvent('{"type":"output_audio_buffer.started"}');
  assert.deepEqual(unknown.ok ? null : [unknown.reason, unknown.type], [
    "unknown_type",
    "output_audio_buffer.started",
  ]);
  const malformed = parseServerEvent(
    '{"type":"input_audio_buffer.speech_started","audio_start_ms":"12"}',
  );
  assert.equal(malformed.ok ? null : malformed.reason, "malformed");
  assert.equal((parseServerEvent("[1]") as { reason: string }).reason, "malformed");
  assert.equal((parseServerEvent("{") as { reason: string }).reason, "invalid_json");

  const err = parseServerEvent(JSON.stringify({
    type: "error",
    event_id: "e",
    error: {
      type: "invalid_request_error",
      code: "invalid_value",
      message: "m",
      param: null,
      event_id: "c1",
    },
  }));
  assert.ok(err.ok && err.event.type === "error");
  assert.equal(err.event.error.event_id, "c1");
});

Deno.test("client builders carry the event id they are given (appends too, by concatenation)", () => {
  assert.deepEqual(JSON.parse(appendAudio("AAAA", "a7")), {
    type: "input_audio_buffer.append",
    event_id: "a7",
    audio: "AAAA",
  });
  assert.equal(JSON.parse(responseCreate(undefined, "e3")).event_id, "e3");
  assert.equal(JSON.parse(truncate("item_1", 120, "e4")).event_id, "e4");
  assert.equal(JSON.parse(systemText("x", "e5")).event_id, "e5");
});
