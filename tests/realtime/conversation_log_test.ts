/**
 * The conversation record kept for re-injection: what a truncation does to it, and the
 * shape of the re-injected context.
 */
import assert from "node:assert/strict";
import { ConversationLog } from "../../src/realtime/conversation_log.ts";
import { parseServerEvent, type ServerEvent } from "../../src/realtime/protocol.ts";

function ev(e: Record<string, unknown>): ServerEvent {
  const parsed = parseServerEvent(JSON.stringify({ event_id: "ev", ...e }));
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.event;
}

/** An assistant item with 1000 ms of mu-law audio (8 bytes/ms) and its transcript. */
function spokenItem(log: ConversationLog, text: string): void {
  const ids = { response_id: "r1", output_index: 0 };
  log.observe(
    ev({
      type: "response.output_item.added",
      ...ids,
      item: { id: "item_a", type: "message", role: "assistant", content: [] },
    }),
    8,
  );
  const delta = new Uint8Array(8000).toBase64();
  log.observe(
    ev({ type: "response.output_audio.delta", ...ids, item_id: "item_a", delta }),
    8,
  );
  log.observe(
    ev({
      type: "response.output_audio_transcript.done",
      ...ids,
      item_id: "item_a",
      transcript: text,
    }),
    8,
  );
}

Deno.test("conversation log: a truncation counts only once the server confirms it", () => {
  const log = new ConversationLog();
  spokenItem(log, "We are open from nine until five every weekday.");
  // Sent but not confirmed (the server may refuse it): the whole item stands.
  const before = log.toContextItems();
  assert.equal(before.length, 1);
  assert.match(JSON.stringify(before), /nine until five every weekday\./);
  assert.doesNotMatch(JSON.stringify(before), /interrupted/);
  log.observe(
    ev({
      type: "conversation.item.truncated",
      item_id: "item_a",
      content_index: 0,
      audio_end_ms: 400,
    }),
    8,
  );
  const after = JSON.stringify(log.toContextItems());
  assert.match(after, /You: We are open from \(interrupted\)/);
  assert.doesNotMatch(after, /weekday/);
});

Deno.test("conversation log: history is re-injected as one system message, never assistant text", () => {
  const log = new ConversationLog();
  spokenItem(log, "Thanks for calling.");
  log.userText("I'd like a haircut.");
  const items = log.toContextItems();
  assert.deepEqual(items.map((i) => i.type === "message" ? i.role : i.type), ["system", "user"]);
  assert.ok(items.every((i) => !(i.type === "message" && i.role === "assistant")));
  assert.match(JSON.stringify(items[0]), /You: Thanks for calling\./);
});
